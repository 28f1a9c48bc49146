/**
 * Float64 CPU implementation of the whole Llama-family model with LoRA: forward loss and backward
 * for every adapter gradient. It is the ground truth the GPU model is checked against (llm.c's
 * test_gpt2 style), written for clarity, not speed: use it on tiny models only.
 *
 * Letters: B batch rows, T tokens per row, N = B*T, C hidden, NH query heads, KVH kv heads,
 * HS head size, I intermediate, V vocab, R rank. Activations are token-major [N, features].
 */
import { moduleShape, moduleWeightName, type ModelSpec } from '../../formats/hfConfig';
import { TARGET_MODULES } from '../../settings/settings';
import { dequantizeRef, fromF16Bits, quantizeRef, toF16Bits } from '../kernels/quant/quant.ref';
import type { WeightFormat } from '../kernels/quant/layout';
import type { LlamaStorage } from './llamaConfig';
import { type AdapterLayout, type TargetModule, type LoraSlot, findSlot } from './lora';
import { ropeInverseFrequencies } from './rope';
import { IGNORE_INDEX, type MicroBatch, type WeightMap } from './types';

export class ReferenceModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReferenceModelError';
  }
}

export interface RefAdapter {
  layout: AdapterLayout;
  /** Flat parameters (see AdapterLayout). */
  params: ArrayLike<number>;
  /** Dropout multipliers on the LoRA input of a slot, [N * in] of 0 or 1/(1−p); null = no dropout. */
  dropoutMask?: (slot: LoraSlot, N: number) => ArrayLike<number> | null;
}

export interface RefOptions {
  /** The adapter, or null/undefined for the base model. */
  adapter?: RefAdapter | null;
  /** The summed cross-entropy is divided by this (default: the batch's target count). */
  lossNormalizer?: number;
  /** Compute d(loss)/d(adapter params) into `grads` (flat, same layout). */
  grads?: boolean;
  /** Return the logits [N, V]. */
  logits?: boolean;
}

export interface RefResult {
  /** lossSum / lossNormalizer. */
  loss: number;
  /** Σ cross-entropy over target tokens. */
  lossSum: number;
  targetTokens: number;
  logits?: Float64Array;
  grads?: Float64Array;
}

function weight(weights: WeightMap, name: string, size: number): ArrayLike<number> {
  const w = weights.get(name);
  if (!w) throw new ReferenceModelError(`weight "${name}" is missing`);
  if (w.length !== size) throw new ReferenceModelError(`weight "${name}" has ${w.length} values, expected ${size}`);
  return w;
}

// ---------------------------------------------------------------- building blocks, forward and backward side by side

/** out[N, OUT] = inp[N, IN] · weight[OUT, IN]ᵀ (+ bias[OUT]) */
function linearForward(inp: ArrayLike<number>, w: ArrayLike<number>, bias: ArrayLike<number> | null, N: number, IN: number, OUT: number): Float64Array {
  const out = new Float64Array(N * OUT);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < OUT; o++) {
      let s = bias ? bias[o] : 0;
      for (let k = 0; k < IN; k++) s += inp[n * IN + k] * w[o * IN + k];
      out[n * OUT + o] = s;
    }
  }
  return out;
}

/** dinp[N, IN] += dout[N, OUT] · weight[OUT, IN]   (backward of out = inp·weightᵀ, frozen weight) */
function linearBackwardInput(dout: ArrayLike<number>, w: ArrayLike<number>, dinp: Float64Array, N: number, IN: number, OUT: number): void {
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < OUT; o++) {
      const d = dout[n * OUT + o];
      if (d === 0) continue;
      for (let k = 0; k < IN; k++) dinp[n * IN + k] += d * w[o * IN + k];
    }
  }
}

/** What a LoRA projection saves for its backward. */
interface LoraSaved {
  slot: LoraSlot;
  /** drop(x) [N, IN] */
  xd: Float64Array;
  /** mask [N, IN] or null */
  mask: ArrayLike<number> | null;
  /** u = drop(x)·Aᵀ [N, R] */
  u: Float64Array;
}

/** y = x·Wᵀ + b + s·(drop(x)·Aᵀ)·Bᵀ */
function projectionForward(
  x: Float64Array, N: number, w: ArrayLike<number>, bias: ArrayLike<number> | null, IN: number, OUT: number,
  adapter: RefAdapter | null | undefined, slot: LoraSlot | undefined, scale: number,
): { y: Float64Array; saved: LoraSaved | null } {
  const y = linearForward(x, w, bias, N, IN, OUT);
  if (!adapter || !slot) return { y, saved: null };
  const R = slot.r;
  const p = adapter.params;
  const mask = adapter.dropoutMask?.(slot, N) ?? null;
  const xd = new Float64Array(N * IN);
  for (let i = 0; i < N * IN; i++) xd[i] = mask ? x[i] * mask[i] : x[i];
  const u = new Float64Array(N * R);
  for (let n = 0; n < N; n++) {
    for (let r = 0; r < R; r++) {
      let s = 0;
      for (let k = 0; k < IN; k++) s += xd[n * IN + k] * p[slot.offsetA + r * IN + k];
      u[n * R + r] = s;
    }
  }
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < OUT; o++) {
      let s = 0;
      for (let r = 0; r < R; r++) s += u[n * R + r] * p[slot.offsetB + o * R + r];
      y[n * OUT + o] += scale * s;
    }
  }
  return { y, saved: { slot, xd, mask, u } };
}

/**
 * backward of y = x·Wᵀ + b + s·(drop(x)·Aᵀ)·Bᵀ:
 * dB += s·dyᵀ·u, du = s·dy·B, dA += duᵀ·drop(x), dx += dy·W + (du·A)⊙mask
 */
function projectionBackward(
  dy: Float64Array, N: number, w: ArrayLike<number>, IN: number, OUT: number, dx: Float64Array,
  saved: LoraSaved | null, params: ArrayLike<number> | undefined, grads: Float64Array | undefined, scale: number,
): void {
  linearBackwardInput(dy, w, dx, N, IN, OUT);
  if (!saved || !params) return;
  const { slot, xd, mask, u } = saved;
  const R = slot.r;
  const du = new Float64Array(N * R);
  for (let n = 0; n < N; n++) {
    for (let r = 0; r < R; r++) {
      let s = 0;
      for (let o = 0; o < OUT; o++) s += dy[n * OUT + o] * params[slot.offsetB + o * R + r];
      du[n * R + r] = scale * s;
    }
  }
  if (grads) {
    for (let o = 0; o < OUT; o++) {
      for (let r = 0; r < R; r++) {
        let s = 0;
        for (let n = 0; n < N; n++) s += dy[n * OUT + o] * u[n * R + r];
        grads[slot.offsetB + o * R + r] += scale * s;
      }
    }
    for (let r = 0; r < R; r++) {
      for (let k = 0; k < IN; k++) {
        let s = 0;
        for (let n = 0; n < N; n++) s += du[n * R + r] * xd[n * IN + k];
        grads[slot.offsetA + r * IN + k] += s;
      }
    }
  }
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < IN; k++) {
      let s = 0;
      for (let r = 0; r < R; r++) s += du[n * R + r] * params[slot.offsetA + r * IN + k];
      dx[n * IN + k] += mask ? s * mask[n * IN + k] : s;
    }
  }
}

/** out[rows, D] = inp · rrms · weight, rrms = (mean(inp²) + eps)^−½; returns rrms [rows] */
function rmsnormForward(inp: ArrayLike<number>, w: ArrayLike<number>, rows: number, D: number, eps: number): { out: Float64Array; rrms: Float64Array } {
  const out = new Float64Array(rows * D);
  const rrms = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let ss = 0;
    for (let d = 0; d < D; d++) ss += inp[i * D + d] ** 2;
    const r = 1 / Math.sqrt(ss / D + eps);
    rrms[i] = r;
    for (let d = 0; d < D; d++) out[i * D + d] = inp[i * D + d] * r * w[d];
  }
  return { out, rrms };
}

/** backward of out = inp · rrms · weight: dinp += rrms·(dout⊙w) − inp·rrms³/D·Σ(dout⊙w⊙inp) */
function rmsnormBackward(dout: ArrayLike<number>, inp: ArrayLike<number>, w: ArrayLike<number>, rrms: Float64Array, rows: number, D: number, dinp: Float64Array): void {
  for (let i = 0; i < rows; i++) {
    const r = rrms[i];
    let dot = 0;
    for (let d = 0; d < D; d++) dot += dout[i * D + d] * w[d] * inp[i * D + d];
    const c = (r * r * r * dot) / D;
    for (let d = 0; d < D; d++) dinp[i * D + d] += r * dout[i * D + d] * w[d] - inp[i * D + d] * c;
  }
}

/** Rotates each head of x [N, H*HS] in place by position (rotate_half); inverse = the backward. */
function rope(x: Float64Array, N: number, H: number, HS: number, positions: ArrayLike<number>, invFreq: Float64Array, inverse: boolean): void {
  const half = HS / 2;
  for (let n = 0; n < N; n++) {
    for (let h = 0; h < H; h++) {
      const base = n * H * HS + h * HS;
      for (let i = 0; i < half; i++) {
        const angle = positions[n] * invFreq[i];
        const c = Math.cos(angle);
        const s = inverse ? -Math.sin(angle) : Math.sin(angle);
        const a = x[base + i];
        const b = x[base + i + half];
        x[base + i] = a * c - b * s;
        x[base + i + half] = b * c + a * s;
      }
    }
  }
}

function attends(batch: MicroBatch, i: number, j: number): boolean {
  return j <= i && batch.segmentIds[i] === batch.segmentIds[j];
}

/**
 * out[N, NH*HS] = softmax(q·kᵀ/√HS, causal within a row and segment)·v, GQA: head h reads kv head
 * h / (NH/KVH). Saves the probabilities P [B, NH, T, T] (fine for tiny models).
 */
function attentionForward(q: Float64Array, k: Float64Array, v: Float64Array, batch: MicroBatch, NH: number, KVH: number, HS: number): { out: Float64Array; P: Float64Array } {
  const { B, T } = batch;
  const group = NH / KVH;
  const scale = 1 / Math.sqrt(HS);
  const out = new Float64Array(B * T * NH * HS);
  const P = new Float64Array(B * NH * T * T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      const kvh = Math.floor(h / group);
      for (let t = 0; t < T; t++) {
        const i = b * T + t;
        const prow = ((b * NH + h) * T + t) * T;
        let max = -Infinity;
        for (let s = 0; s <= t; s++) {
          const j = b * T + s;
          if (!attends(batch, i, j)) continue;
          let dot = 0;
          for (let d = 0; d < HS; d++) dot += q[i * NH * HS + h * HS + d] * k[j * KVH * HS + kvh * HS + d];
          P[prow + s] = dot * scale;
          max = Math.max(max, dot * scale);
        }
        let sum = 0;
        for (let s = 0; s <= t; s++) {
          if (!attends(batch, i, b * T + s)) continue;
          P[prow + s] = Math.exp(P[prow + s] - max);
          sum += P[prow + s];
        }
        for (let s = 0; s <= t; s++) {
          const j = b * T + s;
          if (!attends(batch, i, j)) continue;
          P[prow + s] /= sum;
          for (let d = 0; d < HS; d++) out[i * NH * HS + h * HS + d] += P[prow + s] * v[j * KVH * HS + kvh * HS + d];
        }
      }
    }
  }
  return { out, P };
}

/** backward of out = P·v, P = softmax(S), S = q·kᵀ·scale: dv += Pᵀ·dout, dS = P⊙(dP − Σ P⊙dP), dq = dS·k·scale, dk = dSᵀ·q·scale */
function attentionBackward(dout: Float64Array, q: Float64Array, k: Float64Array, v: Float64Array, P: Float64Array, batch: MicroBatch, NH: number, KVH: number, HS: number) {
  const { B, T } = batch;
  const group = NH / KVH;
  const scale = 1 / Math.sqrt(HS);
  const dq = new Float64Array(q.length);
  const dk = new Float64Array(k.length);
  const dv = new Float64Array(v.length);
  const dP = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      const kvh = Math.floor(h / group);
      for (let t = 0; t < T; t++) {
        const i = b * T + t;
        const prow = ((b * NH + h) * T + t) * T;
        let dot = 0;
        for (let s = 0; s <= t; s++) {
          const j = b * T + s;
          dP[s] = 0;
          if (!attends(batch, i, j)) continue;
          let acc = 0;
          for (let d = 0; d < HS; d++) {
            const g = dout[i * NH * HS + h * HS + d];
            acc += g * v[j * KVH * HS + kvh * HS + d];
            dv[j * KVH * HS + kvh * HS + d] += P[prow + s] * g;
          }
          dP[s] = acc;
          dot += P[prow + s] * acc;
        }
        for (let s = 0; s <= t; s++) {
          const j = b * T + s;
          if (!attends(batch, i, j)) continue;
          const dS = P[prow + s] * (dP[s] - dot) * scale;
          for (let d = 0; d < HS; d++) {
            dq[i * NH * HS + h * HS + d] += dS * k[j * KVH * HS + kvh * HS + d];
            dk[j * KVH * HS + kvh * HS + d] += dS * q[i * NH * HS + h * HS + d];
          }
        }
      }
    }
  }
  return { dq, dk, dv };
}

const silu = (x: number) => x / (1 + Math.exp(-x));

// ---------------------------------------------------------------- the model

interface LayerSaved {
  x: Float64Array; rrms1: Float64Array; h1: Float64Array;
  q: LoraSaved | null; k: LoraSaved | null; v: LoraSaved | null;
  qRaw: Float64Array; kRaw: Float64Array; qRrms: Float64Array | null; kRrms: Float64Array | null;
  qr: Float64Array; kr: Float64Array; vv: Float64Array; P: Float64Array; att: Float64Array; o: LoraSaved | null;
  x2: Float64Array; rrms2: Float64Array; h2: Float64Array;
  gate: Float64Array; up: Float64Array; act: Float64Array;
  g: LoraSaved | null; u: LoraSaved | null; d: LoraSaved | null;
}

/**
 * Forward (and optionally backward) of the whole model on one micro-batch.
 * loss = Σ_targets CE / lossNormalizer; grads = d loss / d adapter params.
 */
export function llamaReference(spec: ModelSpec, weights: WeightMap, batch: MicroBatch, options: RefOptions = {}): RefResult {
  const { B, T } = batch;
  const N = B * T;
  const C = spec.hiddenSize;
  const NH = spec.numHeads;
  const KVH = spec.numKvHeads;
  const HS = spec.headDim;
  const I = spec.intermediateSize;
  const V = spec.vocabSize;
  const QD = NH * HS;
  const KD = KVH * HS;
  const eps = spec.rmsNormEps;
  if (NH % KVH !== 0) throw new ReferenceModelError(`numHeads ${NH} is not a multiple of numKvHeads ${KVH}`);
  const adapter = options.adapter ?? null;
  const scale = adapter?.layout.scale ?? 0;
  const invFreq = ropeInverseFrequencies(spec);
  const slotOf = (layer: number, m: TargetModule) => (adapter ? findSlot(adapter.layout, layer, m) : undefined);
  const W = (layer: number, m: TargetModule, IN: number, OUT: number) => weight(weights, moduleWeightName(layer, m), IN * OUT);
  const bias = (layer: number, m: 'q_proj' | 'k_proj' | 'v_proj', OUT: number) =>
    spec.attentionBias ? weight(weights, `model.layers.${layer}.self_attn.${m}.bias`, OUT) : null;

  // encoder: x[N, C] = embed[inputIds]
  const embed = weight(weights, 'model.embed_tokens.weight', V * C);
  let x = new Float64Array(N * C);
  for (let n = 0; n < N; n++) {
    const id = batch.inputIds[n];
    if (id < 0 || id >= V) throw new ReferenceModelError(`token id ${id} at position ${n} is outside the vocabulary of ${V}`);
    for (let c = 0; c < C; c++) x[n * C + c] = embed[id * C + c];
  }

  const saved: LayerSaved[] = [];
  for (let l = 0; l < spec.numLayers; l++) {
    const pre = `model.layers.${l}`;
    const { out: h1, rrms: rrms1 } = rmsnormForward(x, weight(weights, `${pre}.input_layernorm.weight`, C), N, C, eps);
    const q = projectionForward(h1, N, W(l, 'q_proj', C, QD), bias(l, 'q_proj', QD), C, QD, adapter, slotOf(l, 'q_proj'), scale);
    const k = projectionForward(h1, N, W(l, 'k_proj', C, KD), bias(l, 'k_proj', KD), C, KD, adapter, slotOf(l, 'k_proj'), scale);
    const v = projectionForward(h1, N, W(l, 'v_proj', C, KD), bias(l, 'v_proj', KD), C, KD, adapter, slotOf(l, 'v_proj'), scale);
    let qr = q.y;
    let kr = k.y;
    let qRrms: Float64Array | null = null;
    let kRrms: Float64Array | null = null;
    if (spec.qkNorm) {
      const qn = rmsnormForward(q.y, weight(weights, `${pre}.self_attn.q_norm.weight`, HS), N * NH, HS, eps);
      const kn = rmsnormForward(k.y, weight(weights, `${pre}.self_attn.k_norm.weight`, HS), N * KVH, HS, eps);
      qr = qn.out;
      kr = kn.out;
      qRrms = qn.rrms;
      kRrms = kn.rrms;
    } else {
      qr = Float64Array.from(q.y);
      kr = Float64Array.from(k.y);
    }
    rope(qr, N, NH, HS, batch.positionIds, invFreq, false);
    rope(kr, N, KVH, HS, batch.positionIds, invFreq, false);
    const { out: att, P } = attentionForward(qr, kr, v.y, batch, NH, KVH, HS);
    const o = projectionForward(att, N, W(l, 'o_proj', QD, C), null, QD, C, adapter, slotOf(l, 'o_proj'), scale);
    const x2 = new Float64Array(N * C);
    for (let i = 0; i < N * C; i++) x2[i] = x[i] + o.y[i];
    const { out: h2, rrms: rrms2 } = rmsnormForward(x2, weight(weights, `${pre}.post_attention_layernorm.weight`, C), N, C, eps);
    const g = projectionForward(h2, N, W(l, 'gate_proj', C, I), null, C, I, adapter, slotOf(l, 'gate_proj'), scale);
    const u = projectionForward(h2, N, W(l, 'up_proj', C, I), null, C, I, adapter, slotOf(l, 'up_proj'), scale);
    const act = new Float64Array(N * I);
    for (let i = 0; i < N * I; i++) act[i] = silu(g.y[i]) * u.y[i];
    const d = projectionForward(act, N, W(l, 'down_proj', I, C), null, I, C, adapter, slotOf(l, 'down_proj'), scale);
    const x3 = new Float64Array(N * C);
    for (let i = 0; i < N * C; i++) x3[i] = x2[i] + d.y[i];
    saved.push({
      x, rrms1, h1, q: q.saved, k: k.saved, v: v.saved, qRaw: q.y, kRaw: k.y, qRrms, kRrms, qr, kr, vv: v.y, P, att, o: o.saved,
      x2, rrms2, h2, gate: g.y, up: u.y, act, g: g.saved, u: u.saved, d: d.saved,
    });
    x = x3;
  }

  // head: hf = rmsnorm(x), logits = hf·Wlmᵀ, loss = Σ CE / normalizer
  const normW = weight(weights, 'model.norm.weight', C);
  const { out: hf, rrms: rrmsF } = rmsnormForward(x, normW, N, C, eps);
  const lmW = spec.tieWordEmbeddings ? embed : weight(weights, 'lm_head.weight', V * C);
  const logits = linearForward(hf, lmW, null, N, C, V);
  let lossSum = 0;
  let targets = 0;
  const probs = new Float64Array(N * V);
  for (let n = 0; n < N; n++) {
    const label = batch.labels[n];
    if (label === IGNORE_INDEX) continue;
    if (label < 0 || label >= V) throw new ReferenceModelError(`label ${label} at position ${n} is outside the vocabulary of ${V}`);
    let max = -Infinity;
    for (let j = 0; j < V; j++) max = Math.max(max, logits[n * V + j]);
    let sum = 0;
    for (let j = 0; j < V; j++) sum += Math.exp(logits[n * V + j] - max);
    const lse = max + Math.log(sum);
    lossSum += lse - logits[n * V + label];
    for (let j = 0; j < V; j++) probs[n * V + j] = Math.exp(logits[n * V + j] - lse);
    targets++;
  }
  const normalizer = options.lossNormalizer ?? batch.targetTokens ?? targets;
  const result: RefResult = { loss: normalizer > 0 ? lossSum / normalizer : 0, lossSum, targetTokens: targets };
  if (options.logits) result.logits = logits;
  if (!options.grads) return result;
  if (!adapter) throw new ReferenceModelError('gradients were asked for without an adapter');

  // ---------------------------------------------------------------- backward: the same list, reversed
  const params = adapter.params;
  const grads = new Float64Array(adapter.layout.size);
  // dlogits = (softmax − onehot) / normalizer on target tokens
  const dlogits = new Float64Array(N * V);
  for (let n = 0; n < N; n++) {
    const label = batch.labels[n];
    if (label === IGNORE_INDEX || normalizer <= 0) continue;
    for (let j = 0; j < V; j++) dlogits[n * V + j] = probs[n * V + j] / normalizer;
    dlogits[n * V + label] -= 1 / normalizer;
  }
  const dhf = new Float64Array(N * C);
  linearBackwardInput(dlogits, lmW, dhf, N, C, V);
  let dx = new Float64Array(N * C);
  rmsnormBackward(dhf, x, normW, rrmsF, N, C, dx);

  for (let l = spec.numLayers - 1; l >= 0; l--) {
    const s = saved[l];
    const pre = `model.layers.${l}`;
    // x3 = x2 + d: the residual passes dx through; down_proj gets dx too
    const dx2 = Float64Array.from(dx);
    const dact = new Float64Array(N * I);
    projectionBackward(dx, N, W(l, 'down_proj', I, C), I, C, dact, s.d, params, grads, scale);
    // act = silu(gate)·up
    const dgate = new Float64Array(N * I);
    const dup = new Float64Array(N * I);
    for (let i = 0; i < N * I; i++) {
      const gv = s.gate[i];
      const sig = 1 / (1 + Math.exp(-gv));
      dup[i] = dact[i] * gv * sig;
      dgate[i] = dact[i] * s.up[i] * sig * (1 + gv * (1 - sig));
    }
    const dh2 = new Float64Array(N * C);
    projectionBackward(dgate, N, W(l, 'gate_proj', C, I), C, I, dh2, s.g, params, grads, scale);
    projectionBackward(dup, N, W(l, 'up_proj', C, I), C, I, dh2, s.u, params, grads, scale);
    rmsnormBackward(dh2, s.x2, weight(weights, `${pre}.post_attention_layernorm.weight`, C), s.rrms2, N, C, dx2);
    // x2 = x + o
    const dxl = Float64Array.from(dx2);
    const datt = new Float64Array(N * QD);
    projectionBackward(dx2, N, W(l, 'o_proj', QD, C), QD, C, datt, s.o, params, grads, scale);
    const { dq, dk, dv } = attentionBackward(datt, s.qr, s.kr, s.vv, s.P, batch, NH, KVH, HS);
    rope(dq, N, NH, HS, batch.positionIds, invFreq, true);
    rope(dk, N, KVH, HS, batch.positionIds, invFreq, true);
    let dqRaw = dq;
    let dkRaw = dk;
    if (spec.qkNorm) {
      dqRaw = new Float64Array(N * QD);
      dkRaw = new Float64Array(N * KD);
      rmsnormBackward(dq, s.qRaw, weight(weights, `${pre}.self_attn.q_norm.weight`, HS), s.qRrms!, N * NH, HS, dqRaw);
      rmsnormBackward(dk, s.kRaw, weight(weights, `${pre}.self_attn.k_norm.weight`, HS), s.kRrms!, N * KVH, HS, dkRaw);
    }
    const dh1 = new Float64Array(N * C);
    projectionBackward(dqRaw, N, W(l, 'q_proj', C, QD), C, QD, dh1, s.q, params, grads, scale);
    projectionBackward(dkRaw, N, W(l, 'k_proj', C, KD), C, KD, dh1, s.k, params, grads, scale);
    projectionBackward(dv, N, W(l, 'v_proj', C, KD), C, KD, dh1, s.v, params, grads, scale);
    rmsnormBackward(dh1, s.x, weight(weights, `${pre}.input_layernorm.weight`, C), s.rrms1, N, C, dxl);
    dx = dxl;
  }
  result.grads = grads;
  return result;
}

/** Logits [N, V] of the model (adapter on or off). */
export function referenceLogits(spec: ModelSpec, weights: WeightMap, batch: MicroBatch, adapter: RefAdapter | null = null): Float64Array {
  return llamaReference(spec, weights, batch, { adapter, logits: true }).logits!;
}

/**
 * The weights as LlamaGpu stores them with `storage` (llamaConfig.ts llamaStorage), for the
 * reference to run on what the GPU computes with: q8 / nf4 tensors quantized and dequantized by
 * quant.ref.ts (the codes the GPU quantizer writes), f16 tensors rounded to f16, f32 ones as given.
 * The reference model itself stays float64 throughout.
 */
export function storedWeights(spec: ModelSpec, weights: WeightMap, storage: LlamaStorage): Map<string, Float64Array> {
  const out = new Map<string, Float64Array>();
  const C = spec.hiddenSize;
  const store = (name: string, rows: number, cols: number, format: WeightFormat) => {
    const w = weights.get(name);
    if (!w) throw new ReferenceModelError(`weight "${name}" is missing`);
    if (format === 'q8' || format === 'nf4') out.set(name, dequantizeRef(quantizeRef({ format, data: w, rows, cols, scaleF16: format === 'nf4' })));
    else if (format === 'f16') out.set(name, Float64Array.from(w, (x) => fromF16Bits(toF16Bits(x))));
    else out.set(name, Float64Array.from(w));
  };
  for (const [name, w] of weights) out.set(name, Float64Array.from(w)); // norms (always f32)
  store('model.embed_tokens.weight', spec.vocabSize, C, storage.table);
  if (!spec.tieWordEmbeddings) store('lm_head.weight', spec.vocabSize, C, storage.table);
  for (let l = 0; l < spec.numLayers; l++) {
    for (const m of TARGET_MODULES) {
      const s = moduleShape(spec, m);
      store(moduleWeightName(l, m), s.out, s.in, storage.projections);
      const bias = `model.layers.${l}.self_attn.${m}.bias`;
      if (spec.attentionBias && weights.has(bias)) store(bias, 1, s.out, storage.bias);
    }
  }
  return out;
}
