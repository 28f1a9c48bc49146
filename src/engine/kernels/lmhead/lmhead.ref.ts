/**
 * Float64 reference of the LM head fused with softmax cross-entropy:
 *
 *   h [N, C] final normed hidden, W [V, C] (lm_head or tied embedding), labels i32 [N] (-100 = ignore)
 *   logits = h·Wᵀ [N, V]  (never whole on the GPU: chunked over tokens)
 *   lossSum = Σ_{n: label ≠ ignore} (logsumexp(logits_n) − logits_n[label_n]),  targetCount = #targets
 *   correct = #targets whose label is the argmax of their logits (token accuracy)
 *   dh = gradScale · d(lossSum)/dh = gradScale · (softmax(logits) − onehot(label))·W, 0 for ignored rows
 */
export const IGNORE_INDEX = -100;

export interface LmHeadShape {
  /** Tokens. */
  N: number;
  /** Hidden size. */
  C: number;
  /** Vocabulary size. */
  V: number;
}

export interface LmHeadLogitsRefArgs extends LmHeadShape {
  h: ArrayLike<number>;
  w: ArrayLike<number>;
}

export function lmheadLogitsRef(a: LmHeadLogitsRefArgs): Float64Array {
  const { N, C, V } = a;
  const logits = new Float64Array(N * V);
  for (let n = 0; n < N; n++)
    for (let v = 0; v < V; v++) {
      let sum = 0;
      for (let c = 0; c < C; c++) sum += a.h[n * C + c] * a.w[v * C + c];
      logits[n * V + v] = sum;
    }
  return logits;
}

export interface LmHeadLossRefArgs extends LmHeadLogitsRefArgs {
  labels: ArrayLike<number>;
  /** Multiplies dh (e.g. 1 / targets of the whole effective batch, times a loss scale). */
  gradScale: number;
}

/** A label the kernel treats as a target: in [0, V). Anything else (the ignore index -100) is skipped. */
export function isTarget(label: number, V: number): boolean {
  return label >= 0 && label < V;
}

/**
 * Forward and backward side by side.
 *   forward   loss_n = lse_n − logits_n[label_n],  lse_n = log Σ_v exp(logits_n[v])
 *   backward  (of loss_n)  dlogits_n = softmax(logits_n) − onehot(label_n);  dh_n = gradScale · dlogits_n · W
 */
export function lmheadLossRef(a: LmHeadLossRefArgs): { lossSum: number; targetCount: number; correct: number; dh: Float64Array; rowLoss: Float64Array } {
  const { N, C, V } = a;
  const logits = lmheadLogitsRef(a);
  const dh = new Float64Array(N * C);
  const rowLoss = new Float64Array(N);
  let lossSum = 0;
  let targetCount = 0;
  let correct = 0;
  for (let n = 0; n < N; n++) {
    const label = a.labels[n];
    if (!isTarget(label, V)) continue;
    const row = logits.subarray(n * V, (n + 1) * V);
    let max = -Infinity;
    for (let v = 0; v < V; v++) max = Math.max(max, row[v]);
    let sum = 0;
    for (let v = 0; v < V; v++) sum += Math.exp(row[v] - max);
    const lse = max + Math.log(sum);
    rowLoss[n] = lse - row[label];
    lossSum += rowLoss[n];
    targetCount++;
    if (row[label] >= max) correct++; // the label is the argmax (token accuracy)
    for (let v = 0; v < V; v++) {
      const g = a.gradScale * (Math.exp(row[v] - lse) - (v === label ? 1 : 0));
      if (g === 0) continue;
      for (let c = 0; c < C; c++) dh[n * C + c] += g * a.w[v * C + c];
    }
  }
  return { lossSum, targetCount, correct, dh, rowLoss };
}
