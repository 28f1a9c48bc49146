// Text generation for the playground: the engine's KV-cache generator (prefill once, then one row
// per new token), greedy or temperature sampling, with the adapter on or off. The answer streams
// through onToken as the text decoded so far; the AbortSignal stops it between tokens.
import type { Gpu } from '../engine/gpu/device';
import { generateTokens, type SamplingOptions } from '../engine/model/generate';
import type { GpuAdapter } from '../engine/model/llama';
import type { SessionModel, TextSide } from './model';
import type { GenerateOptions } from './protocol';
import { CancelledError, throwIfAborted } from './cancel';

export function promptIds(model: Pick<TextSide, 'tokenizer'>, prompt: string): number[] {
  const tok = model.tokenizer as unknown as { chat_template?: unknown; apply_chat_template: Function; encode: Function };
  if (tok.chat_template) {
    const text = tok.apply_chat_template([{ role: 'user', content: prompt }], { tokenize: false, add_generation_prompt: true }) as string;
    return tok.encode(text, { add_special_tokens: false }) as number[];
  }
  return tok.encode(prompt, { add_special_tokens: true }) as number[];
}

/** The worker's options as the engine's: no top-k/top-p cut unless given, EOS from the model. */
export function samplingFor(model: Pick<TextSide, 'eosIds'>, opts: GenerateOptions & { topK?: number; topP?: number }, maxNewTokens: number): SamplingOptions {
  return {
    maxNewTokens,
    temperature: opts.temperature,
    topK: opts.topK ?? 0,
    topP: opts.topP ?? 1,
    seed: opts.seed,
    eosTokenIds: model.eosIds,
  };
}

/**
 * The answer's text. An answer can be empty: the model may pick its end-of-sequence token first (a
 * freshly trained adapter often does at temperature 0), and the tokenizer refuses to decode no tokens
 * ("token_ids must be a non-empty array of integers"), so no tokens decode to "".
 */
export function decodeAnswer(model: Pick<TextSide, 'tokenizer'>, ids: readonly number[], skipSpecial = true): string {
  if (ids.length === 0) return '';
  const tok = model.tokenizer as unknown as { decode: (ids: number[], o: object) => string };
  return tok.decode([...ids], { skip_special_tokens: skipSpecial });
}

/**
 * An example split where training starts: the tokens before its first trained token (the prompt
 * the model sees) and that first run of trained tokens (the answer the data teaches). Null when
 * nothing is trained or nothing comes before it.
 */
export function promptAndReference(ex: { ids: ArrayLike<number>; lossMask: ArrayLike<number> }): { prompt: number[]; reference: number[] } | null {
  const n = ex.ids.length;
  let start = 0;
  while (start < n && !ex.lossMask[start]) start++;
  if (start === 0 || start === n) return null;
  let end = start;
  while (end < n && ex.lossMask[end]) end++;
  return { prompt: Array.from({ length: start }, (_, i) => ex.ids[i]), reference: Array.from({ length: end - start }, (_, i) => ex.ids[start + i]) };
}

export async function generate(
  gpu: Gpu,
  model: SessionModel,
  adapter: GpuAdapter | null,
  /** A prompt as the user typed it (the chat template is applied), or token ids as they are. */
  prompt: string | readonly number[],
  opts: GenerateOptions,
  signal: AbortSignal,
  onToken?: (text: string) => void,
): Promise<string> {
  void gpu; // the model carries its device
  if (model.family !== 'llama') throw new Error(`the ${model.spec.family} encoder classifies text; it does not generate (use the playground's classification mode)`);
  const text = await model.text();
  const maxPositions = model.spec.maxPositionEmbeddings;
  const ids = (typeof prompt === 'string' ? promptIds(text, prompt) : [...prompt]).slice(-Math.max(8, maxPositions - opts.maxNewTokens));
  // A prompt cut to 8 tokens on a model with few positions leaves room for fewer new tokens.
  const maxNewTokens = Math.max(0, Math.min(opts.maxNewTokens, maxPositions - ids.length));
  const generated: number[] = [];
  const decode = () => decodeAnswer(text, generated);
  throwIfAborted(signal, 'generation');
  if (maxNewTokens === 0 || ids.length === 0) return '';
  try {
    await generateTokens(model.gpuModel, adapter, ids, samplingFor(text, opts, maxNewTokens), {
      signal,
      onToken: (id) => {
        generated.push(id);
        onToken?.(decode());
      },
    });
  } catch (error) {
    if (signal.aborted) throw new CancelledError('generation');
    throw error;
  }
  return decode();
}
