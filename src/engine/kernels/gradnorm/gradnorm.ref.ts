/**
 * Float64 reference of the global gradient norm, clipping coefficient and finite check (same
 * names as gradnorm.ts). Forward only: nothing is differentiated through the optimizer.
 */
export interface StepControlRef {
  gradNorm: number;
  clipScale: number;
  gradScale: number;
  finite: boolean;
  loss: number;
  tokenCount: number;
  flags: number;
  sumSq: number;
}

/**
 * grads are sums over `tokenCount` target tokens: the mean gradient is grads / tokenCount, its
 * norm is clipped to maxNorm with PyTorch's coefficient min(1, maxNorm / (norm + 1e-6)).
 */
export function stepControlRef(grads: ArrayLike<number>, lossSum: number, tokenCount: number, maxNorm: number): StepControlRef {
  let sumSq = 0;
  for (let i = 0; i < grads.length; i++) sumSq += grads[i] * grads[i];
  const gradNorm = Math.sqrt(sumSq) / tokenCount;
  let flags = 0;
  if (!Number.isFinite(lossSum)) flags |= 1;
  if (!Number.isFinite(sumSq) || !Number.isFinite(gradNorm)) flags |= 2;
  if (!(tokenCount > 0) || !Number.isFinite(tokenCount)) flags |= 4;
  const clipScale = maxNorm > 0 && Number.isFinite(maxNorm) && flags === 0 ? Math.min(1, maxNorm / (gradNorm + 1e-6)) : 1;
  return { gradNorm, clipScale, gradScale: clipScale / tokenCount, finite: flags === 0, loss: lossSum / tokenCount, tokenCount, flags, sumSq };
}
