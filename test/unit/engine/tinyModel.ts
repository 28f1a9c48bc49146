/**
 * Tiny random Llama-family models built in memory for engine tests (the formats work's
 * generateModel writes real checkpoints; these skip files to keep unit tests fast).
 */
import type { ModelSpec } from '../../../src/formats/hfConfig';
import { TARGET_MODULES } from '../../../src/settings/settings';
import { moduleShape } from '../../../src/formats/hfConfig';
import { moduleWeightName } from '../../../src/formats/hfConfig';
import type { MicroBatch } from '../../../src/engine/model/types';
import { SeededRng } from '../../../src/engine/train/rng';

export function tinySpec(kind: 'llama' | 'qwen2' | 'qwen3', over: Partial<ModelSpec> = {}): ModelSpec {
  const base: ModelSpec = {
    architecture: kind,
    hiddenSize: 16,
    numLayers: 2,
    numHeads: 4,
    numKvHeads: 2,
    headDim: 4,
    intermediateSize: 24,
    vocabSize: 29,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    ropeScaling: null,
    maxPositionEmbeddings: 128,
    tieWordEmbeddings: false,
    attentionBias: false,
    qkNorm: false,
    bosTokenId: 1,
    eosTokenIds: [2],
    padTokenId: 0,
    torchDtype: 'float32',
  };
  if (kind === 'qwen2') Object.assign(base, { numKvHeads: 1, attentionBias: true, tieWordEmbeddings: true, rmsNormEps: 1e-6, ropeTheta: 1e6 });
  if (kind === 'qwen3') Object.assign(base, { qkNorm: true, tieWordEmbeddings: true, headDim: 8 });
  return { ...base, ...over };
}

/** Weights as a checkpoint would hold them (f32), deterministic per seed. */
export function tinyWeights(spec: ModelSpec, seed: number, scale = 0.3): Map<string, Float32Array> {
  const rng = new SeededRng(seed);
  const rand = (n: number, s = scale) => Float32Array.from({ length: n }, () => rng.uniform(-s, s));
  const norm = (n: number) => Float32Array.from({ length: n }, () => 1 + rng.uniform(-0.2, 0.2));
  const C = spec.hiddenSize;
  const w = new Map<string, Float32Array>();
  w.set('model.embed_tokens.weight', rand(spec.vocabSize * C, 1));
  for (let l = 0; l < spec.numLayers; l++) {
    w.set(`model.layers.${l}.input_layernorm.weight`, norm(C));
    w.set(`model.layers.${l}.post_attention_layernorm.weight`, norm(C));
    for (const m of TARGET_MODULES) {
      const s = moduleShape(spec, m);
      w.set(moduleWeightName(l, m), rand(s.in * s.out, 1 / Math.sqrt(s.in)));
    }
    if (spec.attentionBias) {
      for (const m of ['q_proj', 'k_proj', 'v_proj'] as const) w.set(`model.layers.${l}.self_attn.${m}.bias`, rand(moduleShape(spec, m).out, 0.2));
    }
    if (spec.qkNorm) {
      w.set(`model.layers.${l}.self_attn.q_norm.weight`, norm(spec.headDim));
      w.set(`model.layers.${l}.self_attn.k_norm.weight`, norm(spec.headDim));
    }
  }
  w.set('model.norm.weight', norm(C));
  if (!spec.tieWordEmbeddings) w.set('lm_head.weight', rand(spec.vocabSize * C, 1 / Math.sqrt(C)));
  return w;
}

/**
 * A packed batch: row 0 holds two documents (segments 0 and 1), row 1 one document and padding
 * (its own segment), with labels shifted inside each document.
 */
export function packedBatch(V: number, T: number, seed: number): MicroBatch {
  const rng = new SeededRng(seed);
  const B = 2;
  const N = B * T;
  const inputIds = new Int32Array(N);
  const labels = new Int32Array(N).fill(-100);
  const positionIds = new Uint32Array(N);
  const segmentIds = new Uint32Array(N);
  const docs: [number, number, number][] = [
    [0, 0, Math.floor(T / 2)],
    [0, Math.floor(T / 2), T],
    [1, 0, T - 2],
  ];
  docs.forEach(([row, start, end], seg) => {
    for (let t = start; t < end; t++) {
      const i = row * T + t;
      inputIds[i] = 1 + (rng.nextU32() % (V - 1));
      positionIds[i] = t - start;
      segmentIds[i] = seg;
    }
    for (let t = start; t < end - 1; t++) labels[row * T + t] = inputIds[row * T + t + 1];
  });
  for (let t = T - 2; t < T; t++) {
    positionIds[T + t] = t - (T - 2);
    segmentIds[T + t] = 7; // padding
  }
  let targetTokens = 0;
  for (const l of labels) if (l !== -100) targetTokens++;
  return { B, T, inputIds, labels, positionIds, segmentIds, targetTokens };
}

/** Random A and B (B nonzero, so every gradient is exercised). */
export function randomAdapter(size: number, seed: number, scale = 0.3): Float64Array {
  const rng = new SeededRng(seed);
  return Float64Array.from({ length: size }, () => rng.uniform(-scale, scale));
}
