import type { GenerateEncoderOptions } from './generateEncoder';

/**
 * The studio's demo encoder (public/models/demo-bert/, served at ./models/demo-bert/) and its
 * sample dataset (public/samples/reviews-sentiment.jsonl): a small randomly initialized BERT with a
 * WordPiece vocabulary built from the dataset's sentences, and short reviews labelled positive,
 * negative or neutral by their adjective — a task LoRA on query/value plus the trained head learns
 * in a minute on a software GPU. Changing anything here changes the committed files: run
 * `npm run gen:demo`.
 */

const SUBJECTS = [
  'movie', 'film', 'book', 'food', 'hotel', 'service', 'show', 'song', 'game', 'trip',
  'phone', 'class', 'park', 'coffee', 'concert', 'app', 'museum', 'pizza', 'lecture', 'bike',
];
const ADJECTIVES: Record<'positive' | 'negative' | 'neutral', string[]> = {
  positive: ['great', 'wonderful', 'excellent', 'lovely', 'amazing', 'fantastic', 'delightful', 'superb'],
  negative: ['terrible', 'awful', 'boring', 'horrible', 'dreadful', 'disappointing', 'poor', 'bad'],
  neutral: ['average', 'okay', 'fine', 'ordinary', 'standard', 'plain'],
};
/** Review snippets: an adjective and what it is about, sometimes an intensifier or punctuation. */
const TEMPLATES = ['{a} {s}', '{a} {s}!', '{i}{a} {s}.', 'a {i}{a} {s}'];
const INTENSIFIERS = ['', '', 'really ', 'quite ', 'very ', 'truly '];

export const DEMO_SENTIMENT_LABELS = ['negative', 'neutral', 'positive'] as const;

/** The sample dataset's rows, deterministic: {text, label}, classes interleaved. */
export function demoSentimentRows(count = 420, seed = 7): { text: string; label: string }[] {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)];
  const rows: { text: string; label: string }[] = [];
  for (let i = 0; i < count; i++) {
    const label = (['positive', 'negative', 'neutral'] as const)[i % 3];
    const text = pick(TEMPLATES).replace('{s}', pick(SUBJECTS)).replace('{a}', pick(ADJECTIVES[label])).replace('{i}', pick(INTENSIFIERS));
    rows.push({ text, label });
  }
  return rows;
}

/** Every word the dataset can hold (the tokenizer's corpus), in a fixed order. */
export function demoSentimentCorpus(): string {
  const words = [...SUBJECTS, ...Object.values(ADJECTIVES).flat(), ...TEMPLATES.map((t) => t.replace(/\{[sai]\}/g, ' ')), ...INTENSIFIERS];
  return [words.join(' '), ...demoSentimentRows().map((r) => r.text)].join('\n');
}

/** The dataset's words that carry no sentiment (subjects, templates, intensifiers). */
function otherWords(): string[] {
  const adjectives = new Set(Object.values(ADJECTIVES).flat());
  const words = [...SUBJECTS, ...TEMPLATES.map((t) => t.replace(/\{[sai]\}/g, ' ')), ...INTENSIFIERS].join(' ').toLowerCase().match(/[a-z]+|[!.,?]/g) ?? [];
  return [...new Set(words)].filter((w) => !adjectives.has(w)).sort();
}

export const DEMO_ENCODER_OPTIONS: GenerateEncoderOptions = {
  family: 'bert',
  seed: 20251202,
  hiddenSize: 64,
  numLayers: 2,
  numHeads: 4,
  intermediateSize: 128,
  maxPositionEmbeddings: 64,
  corpus: demoSentimentCorpus(),
  tokenizerVocabSize: 400,
  // Stand-ins for pre-training (see generateEncoder.ts): weights in a calm regime (0.07: not chaotic),
  // words of one sentiment, and the words that carry none, lying near each other as in a real
  // model's embeddings, and a pooler with a strong gain whose bias scripts/gen-demo-model.ts centres
  // on the corpus. initializer_range 0.0005 makes the new head start near zero.
  weightStd: 0.07,
  initializerRange: 0.0005,
  wordGroups: [ADJECTIVES.positive, ADJECTIVES.negative, ADJECTIVES.neutral, otherWords()],
  groupStrength: 10,
  poolerStd: 3,
};

/** Path of the demo encoder relative to the studio's base URL, and of its sample dataset. */
export const DEMO_ENCODER_PATH = 'models/demo-bert/';
export const DEMO_ENCODER_NAME = 'adapter-studio/demo-bert';
export const DEMO_SENTIMENT_SAMPLE = 'samples/reviews-sentiment.jsonl';
