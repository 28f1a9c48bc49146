// Text generation for the playground: greedy or temperature sampling on the GPU model, with the
// adapter on or off. No KV cache here: each new token re-runs the prompt (playground answers are
// short); the engine's cached generator replaces this when it lands.
import type { Gpu } from '../engine/gpu/device';
import { createBuffer, readF32 } from '../engine/gpu/buffers';
import { Recorder } from '../engine/gpu/recorder';
import { batchFromIds } from '../engine/model/types';
import type { GpuAdapter } from '../engine/model/llama';
import { SeededRng } from '../engine/train/rng';
import type { LoadedModel } from './model';
import type { GenerateOptions } from './protocol';
import { throwIfAborted, yieldToEvents } from './cancel';

export function promptIds(model: LoadedModel, prompt: string): number[] {
  const tok = model.tokenizer as unknown as { chat_template?: unknown; apply_chat_template: Function; encode: Function };
  if (tok.chat_template) {
    const text = tok.apply_chat_template([{ role: 'user', content: prompt }], { tokenize: false, add_generation_prompt: true }) as string;
    return tok.encode(text, { add_special_tokens: false }) as number[];
  }
  return tok.encode(prompt, { add_special_tokens: true }) as number[];
}

export async function generate(
  gpu: Gpu,
  model: LoadedModel,
  adapter: GpuAdapter | null,
  prompt: string,
  opts: GenerateOptions,
  signal: AbortSignal,
  onToken?: (text: string) => void,
): Promise<string> {
  const ids = promptIds(model, prompt).slice(-Math.max(8, model.spec.maxPositionEmbeddings - opts.maxNewTokens));
  const promptLength = ids.length;
  const maxTokens = ids.length + opts.maxNewTokens;
  const ws = model.gpuModel.createWorkspace(maxTokens, adapter?.layout ?? null, false);
  const V = model.spec.vocabSize;
  const out = createBuffer(gpu, 'playground logits', V * 4);
  const rng = new SeededRng(opts.seed);
  const decode = () => (model.tokenizer as unknown as { decode: (ids: number[], o: object) => string }).decode(ids.slice(promptLength), { skip_special_tokens: true });
  try {
    for (let i = 0; i < opts.maxNewTokens; i++) {
      throwIfAborted(signal, 'generation');
      const batch = batchFromIds([ids], ids.length, model.padId);
      model.gpuModel.uploadBatch(ws, batch);
      const rec = new Recorder(gpu, 'playground');
      model.gpuModel.forward(rec, ws, batch, adapter);
      model.gpuModel.logits(rec, ws, out, ids.length - 1, 1);
      rec.submit();
      const logits = await readF32(gpu, out, V);
      let next = 0;
      if (opts.temperature <= 0) {
        for (let v = 1; v < V; v++) if (logits[v] > logits[next]) next = v;
      } else {
        let max = -Infinity;
        for (let v = 0; v < V; v++) max = Math.max(max, logits[v]);
        let sum = 0;
        const p = new Float64Array(V);
        for (let v = 0; v < V; v++) sum += p[v] = Math.exp((logits[v] - max) / opts.temperature);
        let u = rng.uniform(0, sum);
        for (next = 0; next < V - 1 && u > p[next]; next++) u -= p[next];
      }
      if (model.eosIds.includes(next)) break;
      ids.push(next);
      onToken?.(decode());
      await yieldToEvents();
    }
    return decode();
  } finally {
    out.destroy();
    model.gpuModel.destroyWorkspace(ws);
  }
}
