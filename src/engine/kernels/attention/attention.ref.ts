/**
 * Float64 reference of self-attention with grouped-query heads: causal and packing-aware (decoders)
 * or bidirectional with a key padding mask (encoders), with optional dropout on the probabilities.
 *
 *   q [N, NH*HS], k/v [N, KVH*HS] token-major (N = B*T)
 *   query head h reads kv head h / (NH/KVH)
 *   causal (segmentIds u32 [N]): token i of batch row b attends to token j iff j is in row b, j ≤ i
 *     and segmentIds equal
 *   bidirectional (keyMask u32 [N], Transformers' attention_mask): token i of row b attends to every
 *     j of row b with keyMask[j] ≠ 0 (padded queries too); a row without any real key gives out = 0,
 *     lse = 0 (the GPU kernels do the same)
 *   P = softmax(scale · q·kᵀ + mask),  out [N, NH*HS] = (P ⊙ drop) · v,  lse [N, NH] = log Σ_j exp(scale · q_i·k_j)
 *   drop[i, h, j] = [dropoutKeep(key, i, h·T + j, p)] / (1 − p)  (1 without dropout)
 */
import { dropoutKeep, type DropoutKey } from '../philox/philox';
export interface AttentionShape {
  /** Batch rows. */
  B: number;
  /** Tokens per batch row. */
  T: number;
  /** Query heads (a multiple of KVH). */
  NH: number;
  /** Key/value heads. */
  KVH: number;
  /** Head size. */
  HS: number;
  /** Softmax scale; 1/√HS when left out. */
  scale?: number;
}

/** Dropout on the attention probabilities: inverted, mask from Philox (philox.ts dropoutKeep). */
export interface AttentionDropout {
  /** attention_probs_dropout_prob, in [0, 1). */
  p: number;
  /** seed, a site id of its own (not shared with a LoRA module or a hidden dropout), the micro-batch step. */
  key: DropoutKey;
}

/**
 * drop[(i·NH + h)·T + j] = mask/(1 − p) for query token i (of all N), head h, key j of i's row:
 * the mask the GPU kernels redraw, counter (i, (h·T + j)/4, step, 0), lane (h·T + j) mod 4.
 */
export function attentionDropoutScale(d: AttentionDropout, B: number, T: number, NH: number): Float64Array {
  const out = new Float64Array(B * T * NH * T);
  const scale = 1 / (1 - d.p);
  for (let i = 0; i < B * T; i++)
    for (let h = 0; h < NH; h++)
      for (let j = 0; j < T; j++) out[(i * NH + h) * T + j] = d.p > 0 ? (dropoutKeep(d.key, i, h * T + j, d.p) ? scale : 0) : 1;
  return out;
}

export function attentionScale(s: AttentionShape): number {
  return s.scale ?? 1 / Math.sqrt(s.HS);
}

/** Whether query token i may attend to key token j (both global token indices). */
export function attends(s: AttentionShape, segmentIds: ArrayLike<number>, i: number, j: number): boolean {
  return Math.floor(i / s.T) === Math.floor(j / s.T) && j <= i && segmentIds[i] === segmentIds[j];
}

/** Bidirectional attention: query i attends key j iff both are in one batch row and keyMask[j] ≠ 0. */
export function attendsBidirectional(s: AttentionShape, keyMask: ArrayLike<number>, i: number, j: number): boolean {
  return Math.floor(i / s.T) === Math.floor(j / s.T) && keyMask[j] !== 0;
}

export interface AttentionForwardRefArgs extends AttentionShape {
  q: ArrayLike<number>;
  k: ArrayLike<number>;
  v: ArrayLike<number>;
  /** Causal attention within packed segments (decoders). */
  segmentIds?: ArrayLike<number>;
  /** Bidirectional attention with this key padding mask instead (encoders); segmentIds is then unused. */
  keyMask?: ArrayLike<number>;
  dropout?: AttentionDropout | null;
}

/** The mask rule of a call, and the last key a query may attend (for loop bounds). */
function maskOf(a: AttentionForwardRefArgs): { allowed: (i: number, j: number) => boolean; lastKey: (i: number) => number } {
  if (a.keyMask) {
    const keyMask = a.keyMask;
    return { allowed: (i, j) => attendsBidirectional(a, keyMask, i, j), lastKey: (i) => Math.floor(i / a.T) * a.T + a.T - 1 };
  }
  if (!a.segmentIds) throw new RangeError('attention reference: give segmentIds (causal) or keyMask (bidirectional)');
  const segmentIds = a.segmentIds;
  return { allowed: (i, j) => attends(a, segmentIds, i, j), lastKey: (i) => i };
}

function dropScales(a: AttentionForwardRefArgs): ((i: number, h: number, j: number) => number) {
  if (!a.dropout || a.dropout.p === 0) return () => 1;
  const d = attentionDropoutScale(a.dropout, a.B, a.T, a.NH);
  return (i, h, j) => d[(i * a.NH + h) * a.T + (j % a.T)];
}

export function attentionForwardRef(a: AttentionForwardRefArgs): { out: Float64Array; lse: Float64Array } {
  const { B, T, NH, KVH, HS } = a;
  const N = B * T;
  const group = NH / KVH;
  const scale = attentionScale(a);
  const out = new Float64Array(N * NH * HS);
  const lse = new Float64Array(N * NH);
  const scores = new Float64Array(T);
  const { allowed, lastKey } = maskOf(a);
  const drop = dropScales(a);
  for (let i = 0; i < N; i++) {
    const rowStart = Math.floor(i / T) * T;
    const last = lastKey(i);
    for (let h = 0; h < NH; h++) {
      const g = Math.floor(h / group);
      let max = -Infinity;
      for (let j = rowStart; j <= last; j++) {
        if (!allowed(i, j)) continue;
        let dot = 0;
        for (let d = 0; d < HS; d++) dot += a.q[i * NH * HS + h * HS + d] * a.k[j * KVH * HS + g * HS + d];
        scores[j - rowStart] = scale * dot;
        max = Math.max(max, scale * dot);
      }
      let sum = 0;
      for (let j = rowStart; j <= last; j++) if (allowed(i, j)) sum += Math.exp(scores[j - rowStart] - max);
      if (sum === 0) continue; // no key at all: out 0, lse 0
      lse[i * NH + h] = max + Math.log(sum);
      for (let j = rowStart; j <= last; j++) {
        if (!allowed(i, j)) continue;
        const p = (Math.exp(scores[j - rowStart] - max) / sum) * drop(i, h, j);
        for (let d = 0; d < HS; d++) out[i * NH * HS + h * HS + d] += p * a.v[j * KVH * HS + g * HS + d];
      }
    }
  }
  return { out, lse };
}

export interface AttentionBackwardRefArgs extends AttentionForwardRefArgs {
  /** The forward's output [N, NH*HS] and log-sum-exp [N, NH]. */
  out: ArrayLike<number>;
  lse: ArrayLike<number>;
  /** Gradient of the loss with respect to out [N, NH*HS]. */
  dout: ArrayLike<number>;
}

/**
 * Backward of `out_i = Σ_j softmax_j(scale · q_i·k_j) · drop_ij · v_j`, recomputing P from q, k and lse:
 *   P_ij = exp(scale · q_i·k_j − lse_i)
 *   dv_j += P_ij · drop_ij · dout_i           (summed over the query heads of the kv group)
 *   dP_ij = drop_ij · dout_i · v_j,  D_i = dout_i · out_i (= Σ_j P_ij dP_ij),  dS_ij = P_ij (dP_ij − D_i)
 *   dq_i += scale · dS_ij · k_j,   dk_j += scale · dS_ij · q_i
 */
export function attentionBackwardRef(a: AttentionBackwardRefArgs): { dq: Float64Array; dk: Float64Array; dv: Float64Array } {
  const { B, T, NH, KVH, HS } = a;
  const N = B * T;
  const group = NH / KVH;
  const scale = attentionScale(a);
  const dq = new Float64Array(N * NH * HS);
  const dk = new Float64Array(N * KVH * HS);
  const dv = new Float64Array(N * KVH * HS);
  const { allowed, lastKey } = maskOf(a);
  const drop = dropScales(a);
  for (let i = 0; i < N; i++) {
    const rowStart = Math.floor(i / T) * T;
    const last = lastKey(i);
    for (let h = 0; h < NH; h++) {
      const g = Math.floor(h / group);
      const qi = i * NH * HS + h * HS;
      let D = 0;
      for (let d = 0; d < HS; d++) D += a.dout[qi + d] * a.out[qi + d];
      for (let j = rowStart; j <= last; j++) {
        if (!allowed(i, j)) continue;
        const kj = j * KVH * HS + g * HS;
        let dot = 0;
        let dP = 0;
        for (let d = 0; d < HS; d++) {
          dot += a.q[qi + d] * a.k[kj + d];
          dP += a.dout[qi + d] * a.v[kj + d];
        }
        const P = Math.exp(scale * dot - a.lse[i * NH + h]);
        const m = drop(i, h, j);
        const dS = P * (m * dP - D);
        for (let d = 0; d < HS; d++) {
          dv[kj + d] += P * m * a.dout[qi + d];
          dq[qi + d] += scale * dS * a.k[kj + d];
          dk[kj + d] += scale * dS * a.q[qi + d];
        }
      }
    }
  }
  return { dq, dk, dv };
}
