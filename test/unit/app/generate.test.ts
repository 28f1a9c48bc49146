// The playground's answer when the model ends it at once: the engine's generator returns no tokens
// when the first token sampled is end-of-sequence (a just-trained adapter often does this at
// temperature 0), and the tokenizer refuses to decode an empty list ("token_ids must be a non-empty
// array of integers"). The worker must answer "" instead of failing.
import { describe, expect, it, vi } from 'vitest';
import { demoTokenizer } from '../data/tokenizer';
import type { SessionModel } from '../../../src/worker/model';

// The GPU generator, replaced by one that answers with the tokens a test chooses.
const answer = vi.hoisted(() => ({ tokens: [] as number[] }));
vi.mock('../../../src/engine/model/generate', () => ({
  generateTokens: async (_model: unknown, _adapter: unknown, _prompt: ArrayLike<number>, _opts: unknown, cb: { onToken?: (id: number) => void }) => {
    for (const t of answer.tokens) cb.onToken?.(t);
    return answer.tokens;
  },
}));

const { decodeAnswer, generate } = await import('../../../src/worker/generate');

async function demoSession(): Promise<SessionModel> {
  const tokenizer = await demoTokenizer();
  const text = { tokenizer, eosIds: [2], padId: 0 };
  return { family: 'llama', tokenizer, text: async () => text, spec: { maxPositionEmbeddings: 2048 }, gpuModel: {} } as unknown as SessionModel;
}

describe('playground generation', () => {
  it('the tokenizer itself refuses an empty token list (the cause of the playground failure)', async () => {
    const tok = await demoTokenizer();
    expect(() => tok.decode([], { skip_special_tokens: true })).toThrow(/non-empty array/);
  });

  it('an answer that ends at once (end-of-sequence first, greedy) is the empty string, not an error', async () => {
    const model = await demoSession();
    answer.tokens = [];
    const streamed: string[] = [];
    const text = await generate(null as never, model, null, 'What color is the sky?', { maxNewTokens: 48, temperature: 0, seed: 1 }, new AbortController().signal, (t) => streamed.push(t));
    expect(text).toBe('');
    expect(streamed).toEqual([]);
    expect(decodeAnswer(await model.text(), [])).toBe('');
  });

  it('an ordinary answer streams and decodes as before', async () => {
    const model = await demoSession();
    const tok = await demoTokenizer();
    answer.tokens = tok.encode('The sky is blue.', { add_special_tokens: false });
    const streamed: string[] = [];
    const text = await generate(null as never, model, null, 'What color is the sky?', { maxNewTokens: 48, temperature: 0, seed: 1 }, new AbortController().signal, (t) => streamed.push(t));
    expect(text).toBe('The sky is blue.');
    expect(streamed.at(-1)).toBe('The sky is blue.');
    expect(streamed).toHaveLength(answer.tokens.length);
  });
});
