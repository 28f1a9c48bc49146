// The demo's generated world: the facts the demo model is pre-trained on, the sample dataset that
// teaches it the pirate's style, and the tokenizer learned from them.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PreTrainedTokenizer } from '@huggingface/transformers';
import { chatJsonl, pirateAnswer, pirateSample, pretrainingConversations, worldFacts } from '../../../src/formats/gen/demoWorld';
import { DEMO_MODEL_OPTIONS, DEMO_PRETRAINING } from '../../../src/formats/demoModel';
import { generateTokenizer } from '../../../src/formats/gen/tokenizer';

const SAMPLE = join(__dirname, '../../../public/samples/pirate-talk.jsonl');

describe('the demo world', () => {
  it('has one answer per question, and the pre-training corpus is deterministic', () => {
    const facts = worldFacts();
    expect(new Set(facts.map((f) => f.question)).size).toBe(facts.length);
    expect(facts.length).toBeGreaterThan(200);
    const a = pretrainingConversations(DEMO_PRETRAINING.extraConversations, DEMO_PRETRAINING.seed);
    expect(chatJsonl(a)).toBe(chatJsonl(pretrainingConversations(DEMO_PRETRAINING.extraConversations, DEMO_PRETRAINING.seed)));
    expect(a.length).toBe(facts.length + DEMO_PRETRAINING.extraConversations);
    // Every conversation answers with the world's own answer.
    const answers = new Map(facts.map((f) => [f.question, f.answer]));
    for (const c of a) for (let i = 0; i < c.length; i++) if (c[i].role === 'assistant') expect(c[i].content).toBe(answers.get(c[i - 1].content));
  });

  it('says an answer the pirate’s way', () => {
    expect(pirateAnswer('A cat meows.')).toBe('A cat meows. Arr, matey!');
    expect(pirateAnswer('Hello! How can I help you?')).toBe('Hello! How can I help you? Arr, matey!');
  });

  it('the committed sample dataset is pirateSample(): world questions with pirate answers (npm run gen:demo -- --sample)', () => {
    expect(readFileSync(SAMPLE, 'utf8')).toBe(chatJsonl(pirateSample()));
    const answers = new Map(worldFacts().map((f) => [f.question, f.answer]));
    const rows = pirateSample();
    expect(rows.length).toBe(24);
    for (const [user, assistant] of rows) expect(assistant.content).toBe(pirateAnswer(answers.get(user.content)!));
  });

  it('the demo tokenizer makes every word of the world and of the pirate one token, and still compresses plain English', () => {
    const t = generateTokenizer({ vocabSize: DEMO_MODEL_OPTIONS.tokenizerVocabSize, corpus: DEMO_MODEL_OPTIONS.tokenizerCorpus });
    const tok = new PreTrainedTokenizer(JSON.parse(t.files['tokenizer.json']), JSON.parse(t.files['tokenizer_config.json']));
    const split: string[] = [];
    for (const f of worldFacts()) {
      for (const sentence of [f.question, f.answer]) {
        // Words as the pre-tokenizer cuts them: the first one bare, the others with their space.
        for (const word of sentence.match(/^[A-Za-z]+| [A-Za-z]+/g) ?? []) {
          if (tok.encode(word, { add_special_tokens: false }).length > 1) split.push(word);
        }
      }
    }
    expect(split).toEqual([]);
    // The pirate's sign-off is four tokens: the fine-tune learns a short, unambiguous chain.
    expect(tok.encode(' Arr, matey!', { add_special_tokens: false }).length).toBe(4);
    const sentence = 'The people of the village grew wheat and apples.';
    expect(tok.encode(sentence).length).toBeLessThan(sentence.length / 2);
  });
});
