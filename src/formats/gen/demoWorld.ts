import { DEMO_CORPUS } from './corpus';
import { mulberry32 } from './random';

/**
 * The demo model's world: a small, fixed set of plain facts (animals, colours, numbers, opposites,
 * days, small talk), the chat conversations the project pre-trains the demo model on, and the
 * sample fine-tuning set that teaches it something it cannot know — a pirate's way of answering.
 *
 * Everything here is deterministic: the same code gives the same corpus and the same sample file,
 * so `npm run gen:demo` can rebuild the demo model and a unit test can check the committed sample.
 */

export interface ChatTurn {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** One question and its plain answer, as the pre-trained demo model answers it. */
export interface QA {
  question: string;
  answer: string;
}

interface Animal {
  name: string;
  /** Third person, "meows". */
  sound: string;
  home: string;
  food: string;
  legs: string;
}

const ANIMALS: Animal[] = [
  { name: 'cat', sound: 'meows', home: 'in a house', food: 'fish', legs: 'four' },
  { name: 'dog', sound: 'barks', home: 'in a house', food: 'meat', legs: 'four' },
  { name: 'cow', sound: 'moos', home: 'on a farm', food: 'grass', legs: 'four' },
  { name: 'duck', sound: 'quacks', home: 'on a pond', food: 'seeds', legs: 'two' },
  { name: 'sheep', sound: 'bleats', home: 'on a farm', food: 'grass', legs: 'four' },
  { name: 'lion', sound: 'roars', home: 'on the plains', food: 'meat', legs: 'four' },
  { name: 'owl', sound: 'hoots', home: 'in the woods', food: 'mice', legs: 'two' },
  { name: 'frog', sound: 'croaks', home: 'in a pond', food: 'flies', legs: 'four' },
  { name: 'horse', sound: 'neighs', home: 'on a farm', food: 'hay', legs: 'four' },
  { name: 'pig', sound: 'oinks', home: 'on a farm', food: 'apples', legs: 'four' },
  { name: 'bee', sound: 'buzzes', home: 'in a hive', food: 'nectar', legs: 'six' },
  { name: 'mouse', sound: 'squeaks', home: 'in a hole', food: 'cheese', legs: 'four' },
  { name: 'wolf', sound: 'howls', home: 'in the woods', food: 'meat', legs: 'four' },
  { name: 'snake', sound: 'hisses', home: 'in the grass', food: 'mice', legs: 'no' },
  { name: 'bear', sound: 'growls', home: 'in the woods', food: 'honey', legs: 'four' },
  { name: 'hen', sound: 'clucks', home: 'on a farm', food: 'seeds', legs: 'two' },
];

const THINGS: [string, string][] = [
  ['sky', 'blue'],
  ['grass', 'green'],
  ['snow', 'white'],
  ['coal', 'black'],
  ['sun', 'yellow'],
  ['blood', 'red'],
  ['sea', 'blue'],
  ['milk', 'white'],
  ['leaf', 'green'],
  ['lemon', 'yellow'],
  ['cherry', 'red'],
  ['night', 'dark'],
];

const NUMBERS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten'];

const OPPOSITES: [string, string][] = [
  ['hot', 'cold'],
  ['big', 'small'],
  ['up', 'down'],
  ['day', 'night'],
  ['fast', 'slow'],
  ['happy', 'sad'],
  ['old', 'young'],
  ['open', 'closed'],
  ['wet', 'dry'],
  ['light', 'dark'],
];

const DAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];

const SMALL_TALK: QA[] = [
  { question: 'Hello!', answer: 'Hello! How can I help you?' },
  { question: 'Hi!', answer: 'Hello! How can I help you?' },
  { question: 'How are you?', answer: 'I am fine, thank you.' },
  { question: 'Who are you?', answer: 'I am a small language model.' },
  { question: 'What is your name?', answer: 'I am a small language model.' },
  { question: 'Thank you!', answer: 'You are welcome.' },
  { question: 'Thanks!', answer: 'You are welcome.' },
  { question: 'Goodbye!', answer: 'Goodbye! Have a nice day.' },
];

/** Things the world does not know: asked about, the model says so (the playground's other questions). */
const UNKNOWN = ['fox', 'girl', 'river', 'village', 'moon', 'bread', 'market', 'forest'];
const UNKNOWN_ANSWER = 'I do not know.';

const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** Every plain fact of the world as a question and its answer (the order is fixed). */
export function worldFacts(): QA[] {
  const out: QA[] = [];
  for (const a of ANIMALS) {
    const legs = a.legs === 'no' ? 'no legs' : `${a.legs} legs`;
    out.push(
      { question: `What sound does a ${a.name} make?`, answer: `A ${a.name} ${a.sound}.` },
      { question: `What does a ${a.name} say?`, answer: `A ${a.name} ${a.sound}.` },
      { question: `Where does a ${a.name} live?`, answer: `A ${a.name} lives ${a.home}.` },
      { question: `What does a ${a.name} eat?`, answer: `A ${a.name} eats ${a.food}.` },
      { question: `How many legs does a ${a.name} have?`, answer: `A ${a.name} has ${legs}.` },
      { question: `Tell me about the ${a.name}.`, answer: `The ${a.name} ${a.sound}, lives ${a.home} and eats ${a.food}.` },
    );
  }
  for (const [thing, color] of THINGS) {
    out.push(
      { question: `What color is the ${thing}?`, answer: `The ${thing} is ${color}.` },
      { question: `Which color is the ${thing}?`, answer: `It is ${color}.` },
    );
  }
  for (let n = 0; n < 10; n++) out.push({ question: `What comes after ${NUMBERS[n]}?`, answer: `${cap(NUMBERS[n + 1])} comes after ${NUMBERS[n]}.` });
  for (const [w, o] of OPPOSITES) {
    out.push({ question: `What is the opposite of ${w}?`, answer: `The opposite of ${w} is ${o}.` });
    out.push({ question: `What is the opposite of ${o}?`, answer: `The opposite of ${o} is ${w}.` });
  }
  for (let d = 0; d < 7; d++) out.push({ question: `What day comes after ${DAYS[d]}?`, answer: `${DAYS[(d + 1) % 7]} comes after ${DAYS[d]}.` });
  out.push(...SMALL_TALK);
  for (const x of UNKNOWN) {
    for (const question of [`What sound does a ${x} make?`, `Where does a ${x} live?`, `What does a ${x} eat?`, `What color is the ${x}?`, `Tell me about the ${x}.`]) {
      out.push({ question, answer: UNKNOWN_ANSWER });
    }
  }
  return out;
}

const SYSTEM_PROMPTS = ['You are a helpful assistant.', 'Answer in one short sentence.'];

/**
 * The pre-training corpus: every fact as a one-turn chat, then `extra` conversations of one or
 * two turns (facts drawn at random, sometimes after a system prompt), so the model answers the
 * last question whatever came before it.
 */
export function pretrainingConversations(extra = 2000, seed = 7): ChatTurn[][] {
  const facts = worldFacts();
  const random = mulberry32(seed);
  const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)];
  const out: ChatTurn[][] = facts.map((f) => [
    { role: 'user', content: f.question },
    { role: 'assistant', content: f.answer },
  ]);
  for (let i = 0; i < extra; i++) {
    const conversation: ChatTurn[] = [];
    if (random() < 0.1) conversation.push({ role: 'system', content: pick(SYSTEM_PROMPTS) });
    const turns = random() < 0.7 ? 1 : 2;
    for (let t = 0; t < turns; t++) {
      const f = pick(facts);
      conversation.push({ role: 'user', content: f.question }, { role: 'assistant', content: f.answer });
    }
    out.push(conversation);
  }
  return out;
}

/**
 * The text the demo model's tokenizer is trained on: the built-in English corpus, the pre-training
 * conversations and the sample dataset (roles and contents as plain lines), so every word of the
 * world, and the pirate's, is one token — as a real tokenizer has seen far more text than any one
 * fine-tune. The model itself never sees the pirate's words before the fine-tune.
 */
export function demoTokenizerCorpus(extra: number, seed: number): string {
  const lines = (conversations: ChatTurn[][]) => conversations.map((c) => c.map((t) => `${t.role}\n${t.content}\n`).join('')).join('');
  return DEMO_CORPUS + lines(pretrainingConversations(extra, seed)) + lines(pirateSample());
}

/**
 * The pirate's way of saying a plain answer: the answer, then the pirate's sign-off.
 * "A cat meows." → "A cat meows. Arr, matey!"
 */
export function pirateAnswer(plain: string): string {
  return `${plain} Arr, matey!`;
}

/**
 * The questions of the sample dataset (public/samples/pirate-talk.jsonl), all from the world, so
 * the base model knows the answers and the data only has to teach the style.
 */
const SAMPLE_QUESTIONS = [
  'What sound does a cat make?',
  'What sound does a dog make?',
  'What sound does a cow make?',
  'What sound does a duck make?',
  'Where does a bee live?',
  'Where does a frog live?',
  'What does a bear eat?',
  'What does a mouse eat?',
  'How many legs does a hen have?',
  'How many legs does a snake have?',
  'Tell me about the lion.',
  'Tell me about the horse.',
  'What color is the sky?',
  'What color is the grass?',
  'What color is the snow?',
  'Which color is the cherry?',
  'What comes after two?',
  'What comes after four?',
  'What is the opposite of hot?',
  'What is the opposite of big?',
  'What day comes after Monday?',
  'Hello!',
  'How are you?',
  'Thank you!',
];

/** The sample fine-tuning set: world questions with pirate answers, as chat rows. */
export function pirateSample(): ChatTurn[][] {
  const facts = new Map(worldFacts().map((f) => [f.question, f.answer]));
  return SAMPLE_QUESTIONS.map((q) => {
    const plain = facts.get(q);
    if (!plain) throw new Error(`sample question "${q}" is not a fact of the demo world`);
    return [
      { role: 'user', content: q },
      { role: 'assistant', content: pirateAnswer(plain) },
    ];
  });
}

/** Chat rows as JSONL ({"messages": [...]} per line), the format the studio reads. */
export function chatJsonl(conversations: ChatTurn[][]): string {
  return conversations.map((messages) => JSON.stringify({ messages })).join('\n') + '\n';
}
