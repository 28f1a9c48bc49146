/**
 * Float64 reference of AdamW with PyTorch semantics (same names as adamw.ts). Updates params,
 * m and v in place, or leaves them untouched when the step control says the step is not finite.
 */
export interface AdamwHyper {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** 1-based number of this step among the applied ones (bias correction). */
  step: number;
  /** Weight decay applies to params [0, decayCount) only (default: all): biases and norms come after. */
  decayCount?: number;
}

export function adamwResolve(h: AdamwHyper) {
  const beta1 = h.beta1 ?? 0.9;
  const beta2 = h.beta2 ?? 0.999;
  return {
    lr: h.lr,
    beta1,
    beta2,
    eps: h.eps ?? 1e-8,
    weightDecay: h.weightDecay ?? 0.01,
    bc1: 1 - beta1 ** h.step,
    sqrtBc2: Math.sqrt(1 - beta2 ** h.step),
  };
}

/**
 * The f32 scalars the GPU step uses, each computed in float64 and rounded once (as PyTorch's
 * Python-float scalars are): decay = 1 − lr·wd, stepSize = lr / (1 − β1ᵗ), sqrtBc2 = √(1 − β2ᵗ).
 */
export function adamwScalars(h: AdamwHyper) {
  const r = adamwResolve(h);
  return { ...r, decay: 1 - r.lr * r.weightDecay, stepSize: r.lr / r.bc1 };
}

/** One AdamW step: g = grads·gradScale; p ← p(1 − lr·wd) (i < decayCount); Adam update with bias correction. */
export function adamwRef(
  params: Float64Array,
  grads: ArrayLike<number>,
  m: Float64Array,
  v: Float64Array,
  control: { finite: boolean; gradScale: number },
  hyper: AdamwHyper,
): void {
  if (!control.finite) return;
  const { lr, beta1, beta2, eps, weightDecay, bc1, sqrtBc2 } = adamwResolve(hyper);
  const decayCount = hyper.decayCount ?? params.length;
  for (let i = 0; i < params.length; i++) {
    const g = grads[i] * control.gradScale;
    m[i] = beta1 * m[i] + (1 - beta1) * g;
    v[i] = beta2 * v[i] + (1 - beta2) * g * g;
    params[i] = params[i] * (i < decayCount ? 1 - lr * weightDecay : 1) - ((lr / bc1) * m[i]) / (Math.sqrt(v[i]) / sqrtBc2 + eps);
  }
}
