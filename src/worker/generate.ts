// Text generation for the playground: the engine's KV-cache generator (prefill once, then one row
// per new token), greedy or temperature sampling, with the adapter on or off. The answer streams
// through onToken as the text decoded so far; the AbortSignal stops it between tokens.
import type { Gpu } from '../engine/gpu/device';
import { generateTokens, type SamplingOptions } from '../engine/model/generate';
import type { GpuAdapter } from '../engine/model/llama';
import type { DecoderSession, SessionModel } from './model';
import type { GenerateOptions } from './protocol';
import { CancelledError, throwIfAborted } from './cancel';

export function promptIds(model: SessionModel, prompt: string): number[] {
  const tok = model.tokenizer as unknown as { chat_template?: unknown; apply_chat_template: Function; encode: Function };
  if (tok.chat_template) {
    const text = tok.apply_chat_template([{ role: 'user', content: prompt }], { tokenize: false, add_generation_prompt: true }) as string;
    return tok.encode(text, { add_special_tokens: false }) as number[];
  }
  return tok.encode(prompt, { add_special_tokens: true }) as number[];
}

/** The worker's options as the engine's: no top-k/top-p cut unless given, EOS from the model. */
export function samplingFor(model: DecoderSession, opts: GenerateOptions & { topK?: number; topP?: number }, maxNewTokens: number): SamplingOptions {
  return {
    maxNewTokens,
    temperature: opts.temperature,
    topK: opts.topK ?? 0,
    topP: opts.topP ?? 1,
    seed: opts.seed,
    eosTokenIds: model.eosIds,
  };
}

export async function generate(
  gpu: Gpu,
  model: SessionModel,
  adapter: GpuAdapter | null,
  prompt: string,
  opts: GenerateOptions,
  signal: AbortSignal,
  onToken?: (text: string) => void,
): Promise<string> {
  void gpu; // the model carries its device
  if (model.family !== 'llama') throw new Error(`the ${model.spec.family} encoder classifies text; it does not generate (use the playground's classification mode)`);
  const maxPositions = model.spec.maxPositionEmbeddings;
  const ids = promptIds(model, prompt).slice(-Math.max(8, maxPositions - opts.maxNewTokens));
  // A prompt cut to 8 tokens on a model with few positions leaves room for fewer new tokens.
  const maxNewTokens = Math.max(0, Math.min(opts.maxNewTokens, maxPositions - ids.length));
  const generated: number[] = [];
  const tok = model.tokenizer as unknown as { decode: (ids: number[], o: object) => string };
  const decode = () => tok.decode(generated, { skip_special_tokens: true });
  throwIfAborted(signal, 'generation');
  if (maxNewTokens === 0 || ids.length === 0) return '';
  try {
    await generateTokens(model.gpuModel, adapter, ids, samplingFor(model, opts, maxNewTokens), {
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
