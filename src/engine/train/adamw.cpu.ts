/**
 * AdamW with PyTorch semantics on the CPU (float64), plus global-norm clipping as
 * torch.nn.utils.clip_grad_norm_ does it. The trainer's GPU step is checked against this.
 */
export interface AdamWHyper {
  lr: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
}

export const DEFAULT_ADAMW: Omit<AdamWHyper, 'lr'> = { weightDecay: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8 };

export function gradNorm(grads: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < grads.length; i++) s += grads[i] * grads[i];
  return Math.sqrt(s);
}

/** clip_grad_norm_: scale = min(1, maxNorm / (norm + 1e-6)). */
export function clipScale(norm: number, maxNorm: number): number {
  if (!(maxNorm > 0)) return 1;
  return Math.min(1, maxNorm / (norm + 1e-6));
}

/**
 * One step (t is 1-based): p ← p − lr·wd·p; m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
 * p ← p − lr · (m / (1−β1ᵗ)) / (√(v / (1−β2ᵗ)) + eps).  g = grads · gradScale.
 */
export function adamwStepCpu(params: Float64Array | Float32Array, grads: ArrayLike<number>, m: Float64Array | Float32Array, v: Float64Array | Float32Array, t: number, h: AdamWHyper, gradScale = 1): void {
  const bc1 = 1 - Math.pow(h.beta1, t);
  const bc2 = 1 - Math.pow(h.beta2, t);
  for (let i = 0; i < params.length; i++) {
    const g = grads[i] * gradScale;
    let p = params[i];
    p -= h.lr * h.weightDecay * p;
    m[i] = h.beta1 * m[i] + (1 - h.beta1) * g;
    v[i] = h.beta2 * v[i] + (1 - h.beta2) * g * g;
    p -= (h.lr * (m[i] / bc1)) / (Math.sqrt(v[i] / bc2) + h.eps);
    params[i] = p;
  }
}
