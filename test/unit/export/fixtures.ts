/**
 * Models, adapters and float64 references shared by the export tests: the demo model and small
 * generated Qwen2-/Qwen3-style models, a seeded LoRA adapter that visibly changes their output,
 * and greedy decoding / logits from llama.ref.ts on the merged weights.
 */
import { DEMO_MODEL_OPTIONS } from '../../../src/formats/demoModel';
import { generateModelWithTensors, type GenerateOptions } from '../../../src/formats/generate';
import type { ModelSpec } from '../../../src/formats/hfConfig';
import { expectedAdapterTensors, type LoraConfig } from '../../../src/formats/peft';
import { mergedWeights, type LoraAdapter } from '../../../src/formats/export/merge';
import type { SourceModel } from '../../../src/formats/export/types';
import { referenceLogits } from '../../../src/engine/model/llama.ref';
import { batchFromIds } from '../../../src/engine/model/types';

export interface TestModel {
  label: string;
  spec: ModelSpec;
  config: Record<string, unknown>;
  textFiles: Map<string, string>;
  base: Map<string, Float32Array>;
  adapter: LoraAdapter;
  merged: Map<string, Float32Array>;
}

export const MODEL_OPTIONS: Record<string, GenerateOptions> = {
  demo: DEMO_MODEL_OPTIONS,
  qwen2: { architecture: 'qwen2', seed: 7, hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, intermediateSize: 96, tieWordEmbeddings: true, initializerRange: 0.08 },
  // Llama 3 rope scaling that matters at short positions (original context 64), one kv head, untied head
  llama3: {
    architecture: 'llama', seed: 13, hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 1, intermediateSize: 96, tieWordEmbeddings: false,
    ropeTheta: 10000, ropeScaling: { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 64 }, initializerRange: 0.08,
  },
  // untied head, head_dim ≠ hidden/heads, q/k norms
  qwen3: { architecture: 'qwen3', seed: 11, hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 32, intermediateSize: 96, tieWordEmbeddings: false, initializerRange: 0.08 },
};

function mulberry32(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seeded adapter on every projection with B ≠ 0, large enough to change greedy decoding. */
export function testAdapter(spec: ModelSpec, seed = 3, config: Partial<LoraConfig> = {}): LoraAdapter {
  const full: LoraConfig = {
    taskType: 'CAUSAL_LM', modulesToSave: null, r: 4, alpha: 8, dropout: 0, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
    useRslora: false, layers: null, baseModelNameOrPath: 'base', revision: null, rankPattern: {}, alphaPattern: {}, ...config,
  };
  const rand = mulberry32(seed);
  const tensors = new Map<string, Float32Array>();
  for (const e of expectedAdapterTensors(spec, full)) {
    const n = e.shape[0] * e.shape[1];
    const bound = e.which === 'A' ? 1 / Math.sqrt(e.shape[1]) : 0.15;
    tensors.set(e.key, Float32Array.from({ length: n }, () => (rand() * 2 - 1) * bound));
  }
  return { config: full, tensors };
}

export async function testModel(label: keyof typeof MODEL_OPTIONS): Promise<TestModel> {
  const g = generateModelWithTensors(MODEL_OPTIONS[label]);
  const textFiles = new Map<string, string>();
  for (const [k, v] of g.files) if (typeof v === 'string' && k !== 'config.json') textFiles.set(k, v);
  const base = new Map([...g.tensors].map(([k, t]) => [k, t.data]));
  const adapter = testAdapter(g.spec);
  const read = mergedWeights(g.spec, (n) => base.get(n)!, adapter);
  const merged = new Map<string, Float32Array>();
  for (const k of base.keys()) merged.set(k, await read(k));
  return { label, spec: g.spec, config: JSON.parse(g.files.get('config.json') as string), textFiles, base, adapter, merged };
}

export function source(m: TestModel, weights: Map<string, Float32Array>): SourceModel {
  return { spec: m.spec, config: m.config, textFiles: m.textFiles, weights: (n) => weights.get(n)! };
}

/** Float64 logits of the last position for a token sequence. */
export function lastLogits(spec: ModelSpec, weights: Map<string, Float32Array>, ids: number[]): Float64Array {
  const all = referenceLogits(spec, weights, batchFromIds([ids]));
  return all.slice((ids.length - 1) * spec.vocabSize, ids.length * spec.vocabSize);
}

/** Float64 logits of every position [T, V]. */
export function allLogits(spec: ModelSpec, weights: Map<string, Float32Array>, ids: number[]): Float64Array {
  return referenceLogits(spec, weights, batchFromIds([ids]));
}

export function argmax(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

/** Greedy continuation of `prompt` by the float64 reference; also the top-2 margin at each step. */
export function referenceGreedy(spec: ModelSpec, weights: Map<string, Float32Array>, prompt: number[], steps: number): { tokens: number[]; margins: number[] } {
  const ids = [...prompt];
  const tokens: number[] = [];
  const margins: number[] = [];
  for (let s = 0; s < steps; s++) {
    const l = lastLogits(spec, weights, ids);
    const best = argmax(l);
    let second = -Infinity;
    for (let i = 0; i < l.length; i++) if (i !== best) second = Math.max(second, l[i]);
    margins.push(l[best] - second);
    tokens.push(best);
    ids.push(best);
  }
  return { tokens, margins };
}

export function softmax(x: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < x.length; i++) max = Math.max(max, x[i]);
  const out = new Float64Array(x.length);
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += out[i] = Math.exp(x[i] - max);
  for (let i = 0; i < x.length; i++) out[i] /= sum;
  return out;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** max |a − ref| / max |ref|: the error relative to the logits' scale. */
export function relError(a: ArrayLike<number>, ref: ArrayLike<number>): number {
  let scale = 0;
  for (let i = 0; i < ref.length; i++) scale = Math.max(scale, Math.abs(ref[i]));
  return maxAbsDiff(a, ref) / scale;
}

export function maxAbs(x: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]));
  return m;
}
