/**
 * Text generation with a KV cache: the prompt goes through the ordinary forward once (prefill),
 * its keys and values are copied into per-layer caches, then each new token runs the layers on
 * one row with attention against the cache (decodeAttention.wgsl). Sampling happens on the CPU:
 * greedy (temperature 0), temperature, top-k, top-p, seeded; stops at EOS or maxNewTokens.
 * The adapter can be on or off, so base and tuned answers can be compared on the same weights.
 */
import { createBuffer, readF32 } from '../gpu/buffers';
import type { Kernel } from '../gpu/pipelines';
import { Recorder } from '../gpu/recorder';
import { Uniforms } from '../gpu/uniforms';
import { SeededRng } from '../train/rng';
import type { AttendHook, GpuAdapter, LlamaGpu } from './llama';
import { batchFromIds, type MicroBatch } from './types';
import decodeSource from './decodeAttention.wgsl?raw';

const decodeAttentionKernel: Kernel = { name: 'decode_attention', source: decodeSource };

export class GenerationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GenerationError';
  }
}

export interface SamplingOptions {
  maxNewTokens: number;
  /** 0 = greedy. */
  temperature: number;
  /** 0 = no top-k cut. */
  topK: number;
  /** 1 = no nucleus cut. */
  topP: number;
  seed: number;
  /** Stop when one of these is produced (it is not included in the output). */
  eosTokenIds: number[];
}

export const DEFAULT_SAMPLING: SamplingOptions = { maxNewTokens: 128, temperature: 0.7, topK: 50, topP: 0.95, seed: 0, eosTokenIds: [] };

/** Picks a token from logits [V] (float64 math on the CPU). */
export function sampleToken(logits: ArrayLike<number>, opts: Pick<SamplingOptions, 'temperature' | 'topK' | 'topP'>, rng: SeededRng): number {
  const V = logits.length;
  if (!(opts.temperature > 0)) {
    let best = 0;
    for (let i = 1; i < V; i++) if (logits[i] > logits[best]) best = i;
    return best;
  }
  let order = Array.from({ length: V }, (_, i) => i).sort((a, b) => logits[b] - logits[a]);
  if (opts.topK > 0 && opts.topK < V) order = order.slice(0, opts.topK);
  const max = logits[order[0]];
  let probs = order.map((i) => Math.exp((logits[i] - max) / opts.temperature));
  let sum = probs.reduce((a, b) => a + b, 0);
  probs = probs.map((p) => p / sum);
  if (opts.topP < 1) {
    let cumulative = 0;
    let keep = 0;
    while (keep < probs.length && cumulative < opts.topP) cumulative += probs[keep++];
    order = order.slice(0, Math.max(1, keep));
    probs = probs.slice(0, Math.max(1, keep));
    sum = probs.reduce((a, b) => a + b, 0);
    probs = probs.map((p) => p / sum);
  }
  let u = rng.next();
  for (let i = 0; i < probs.length; i++) {
    u -= probs[i];
    if (u < 0) return order[i];
  }
  return order[order.length - 1];
}

export interface GenerateCallbacks {
  /** Called with each new token as it is sampled. */
  onToken?: (token: number) => void;
  signal?: AbortSignal;
}

/** Generates up to maxNewTokens tokens after `prompt`; returns the new tokens (EOS excluded). */
export async function generateTokens(model: LlamaGpu, adapter: GpuAdapter | null, prompt: ArrayLike<number>, opts: SamplingOptions, cb: GenerateCallbacks = {}): Promise<number[]> {
  if (prompt.length === 0) throw new GenerationError('the prompt is empty: generation needs at least one token');
  const gpu = model.gpu;
  const spec = model.spec;
  const maxLen = prompt.length + opts.maxNewTokens;
  if (maxLen > spec.maxPositionEmbeddings) {
    throw new GenerationError(`prompt (${prompt.length}) + max new tokens (${opts.maxNewTokens}) = ${maxLen} exceeds the model's ${spec.maxPositionEmbeddings} positions`);
  }
  const L = spec.numLayers;
  const KD = model.KD;
  const layout = adapter?.layout ?? null;
  const owned: GPUBuffer[] = [];
  const buffer = (label: string, floats: number) => {
    const b = createBuffer(gpu, label, floats * 4);
    owned.push(b);
    return b;
  };
  const kCache = Array.from({ length: L }, (_, l) => buffer(`layer ${l} k cache`, maxLen * KD));
  const vCache = Array.from({ length: L }, (_, l) => buffer(`layer ${l} v cache`, maxLen * KD));
  const scores = buffer('decode scores', model.NH * maxLen);
  const logits = buffer('next-token logits', model.V);
  const prefill = model.createWorkspace(prompt.length, layout, false);
  const decode = model.createWorkspace(1, layout, true);
  const rng = new SeededRng(opts.seed);
  const out: number[] = [];
  try {
    // prefill: the prompt through the ordinary forward, then its k/v rows into the caches
    const batch = batchFromIds([Array.from(prompt)]);
    model.uploadBatch(prefill, batch);
    let rec = new Recorder(gpu, 'generate prefill');
    model.forward(rec, prefill, batch, adapter);
    for (let l = 0; l < L; l++) {
      const a = model.acts(prefill, l);
      rec.copy(a.k, 0, kCache[l], 0, prompt.length * KD * 4);
      rec.copy(a.v, 0, vCache[l], 0, prompt.length * KD * 4);
    }
    model.logits(rec, prefill, logits, prompt.length - 1, 1);
    rec.submit();
    let next = sampleToken(await readF32(gpu, logits, model.V), opts, rng);
    for (let pos = prompt.length; ; pos++) {
      cb.signal?.throwIfAborted();
      if (opts.eosTokenIds.includes(next)) break;
      out.push(next);
      cb.onToken?.(next);
      if (out.length >= opts.maxNewTokens) break;
      // decode: one token at position pos attending to cache rows 0..pos
      const step: MicroBatch = { B: 1, T: 1, inputIds: Int32Array.of(next), labels: Int32Array.of(-100), positionIds: Uint32Array.of(pos), segmentIds: Uint32Array.of(0), targetTokens: 0 };
      model.uploadBatch(decode, step);
      rec = new Recorder(gpu, `generate token ${out.length}`);
      const attend: AttendHook = (r, l, a) => {
        r.copy(a.k, 0, kCache[l], pos * KD * 4, KD * 4);
        r.copy(a.v, 0, vCache[l], pos * KD * 4, KD * 4);
        r.dispatch({
          kernel: decodeAttentionKernel,
          label: `layer ${l} decode attention`,
          constants: { WG: 64 },
          uniforms: new Uniforms().u32(pos + 1).u32(maxLen).u32(model.NH).u32(model.KVH).u32(model.HS).f32(1 / Math.sqrt(model.HS)).u32(0).u32(0),
          bindings: [a.q, kCache[l], vCache[l], scores, a.att],
          workgroups: [model.NH],
        });
      };
      model.forward(rec, decode, step, adapter, attend);
      model.logits(rec, decode, logits, 0, 1);
      rec.submit();
      next = sampleToken(await readF32(gpu, logits, model.V), opts, rng);
    }
  } finally {
    model.destroyWorkspace(prefill);
    model.destroyWorkspace(decode);
    for (const b of owned) b.destroy();
  }
  return out;
}
