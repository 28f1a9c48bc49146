/**
 * Float64 reference of causal, packing-aware self-attention with grouped-query heads.
 *
 *   q [N, NH*HS], k/v [N, KVH*HS] token-major (N = B*T), segmentIds u32 [N]
 *   query head h reads kv head h / (NH/KVH)
 *   token i of batch row b attends to token j iff j is in row b, j ≤ i and segmentIds equal
 *   out [N, NH*HS] = softmax(scale · q·kᵀ + mask) · v,   lse [N, NH] = log Σ_j exp(scale · q_i·k_j)
 */
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

export function attentionScale(s: AttentionShape): number {
  return s.scale ?? 1 / Math.sqrt(s.HS);
}

/** Whether query token i may attend to key token j (both global token indices). */
export function attends(s: AttentionShape, segmentIds: ArrayLike<number>, i: number, j: number): boolean {
  return Math.floor(i / s.T) === Math.floor(j / s.T) && j <= i && segmentIds[i] === segmentIds[j];
}

export interface AttentionForwardRefArgs extends AttentionShape {
  q: ArrayLike<number>;
  k: ArrayLike<number>;
  v: ArrayLike<number>;
  segmentIds: ArrayLike<number>;
}

export function attentionForwardRef(a: AttentionForwardRefArgs): { out: Float64Array; lse: Float64Array } {
  const { B, T, NH, KVH, HS } = a;
  const N = B * T;
  const group = NH / KVH;
  const scale = attentionScale(a);
  const out = new Float64Array(N * NH * HS);
  const lse = new Float64Array(N * NH);
  const scores = new Float64Array(T);
  for (let i = 0; i < N; i++) {
    const rowStart = Math.floor(i / T) * T;
    for (let h = 0; h < NH; h++) {
      const g = Math.floor(h / group);
      let max = -Infinity;
      for (let j = rowStart; j <= i; j++) {
        if (!attends(a, a.segmentIds, i, j)) continue;
        let dot = 0;
        for (let d = 0; d < HS; d++) dot += a.q[i * NH * HS + h * HS + d] * a.k[j * KVH * HS + g * HS + d];
        scores[j - rowStart] = scale * dot;
        max = Math.max(max, scale * dot);
      }
      let sum = 0;
      for (let j = rowStart; j <= i; j++) if (attends(a, a.segmentIds, i, j)) sum += Math.exp(scores[j - rowStart] - max);
      lse[i * NH + h] = max + Math.log(sum);
      for (let j = rowStart; j <= i; j++) {
        if (!attends(a, a.segmentIds, i, j)) continue;
        const p = Math.exp(scores[j - rowStart] - max) / sum;
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
 * Backward of `out_i = Σ_j softmax_j(scale · q_i·k_j) · v_j`, recomputing P from q, k and lse:
 *   P_ij = exp(scale · q_i·k_j − lse_i)
 *   dv_j += P_ij · dout_i                    (summed over the query heads of the kv group)
 *   dP_ij = dout_i · v_j,  D_i = dout_i · out_i,  dS_ij = P_ij (dP_ij − D_i)
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
  for (let i = 0; i < N; i++) {
    const rowStart = Math.floor(i / T) * T;
    for (let h = 0; h < NH; h++) {
      const g = Math.floor(h / group);
      const qi = i * NH * HS + h * HS;
      let D = 0;
      for (let d = 0; d < HS; d++) D += a.dout[qi + d] * a.out[qi + d];
      for (let j = rowStart; j <= i; j++) {
        if (!attends(a, a.segmentIds, i, j)) continue;
        const kj = j * KVH * HS + g * HS;
        let dot = 0;
        let dP = 0;
        for (let d = 0; d < HS; d++) {
          dot += a.q[qi + d] * a.k[kj + d];
          dP += a.dout[qi + d] * a.v[kj + d];
        }
        const P = Math.exp(scale * dot - a.lse[i * NH + h]);
        const dS = P * (dP - D);
        for (let d = 0; d < HS; d++) {
          dv[kj + d] += P * a.dout[qi + d];
          dq[qi + d] += scale * dS * a.k[kj + d];
          dk[kj + d] += scale * dS * a.q[qi + d];
        }
      }
    }
  }
  return { dq, dk, dv };
}
