import type { Tolerance } from './compare';

/**
 * Every GPU-vs-float64 tolerance in one table. f32 accumulation over K terms of magnitude ~1
 * errs by about K·2⁻²⁴, so the matmul entries scale with the contraction length where noted.
 */
export const TOLERANCES = {
  matmul: { atol: 1e-4, rtol: 1e-4 },
  matmulLargeK: { atol: 2e-3, rtol: 1e-4 },
  // Element-wise and optimizer kernels (issue 4 part 1). Gathers and copies are exact; norms and
  // SwiGLU lose a few ulps; RoPE (own sin/cos after exact angle reduction) errs ~3e-7 up to 32k.
  embedding: { atol: 0, rtol: 0 },
  elementwise: { atol: 1e-6, rtol: 1e-6 },
  rmsnorm: { atol: 2e-5, rtol: 2e-5 },
  rope: { atol: 1e-6, rtol: 1e-5 },
  swiglu: { atol: 1e-5, rtol: 1e-5 },
  gradNorm: { atol: 1e-9, rtol: 1e-6 },
  adamw: { atol: 5e-7, rtol: 1e-5 },
  // attention, lora, lmhead (flash attention, fused LoRA linear, LM head + cross-entropy)
  attentionForward: { atol: 2e-5, rtol: 2e-4 },
  attentionBackward: { atol: 1e-4, rtol: 5e-4 },
  lora: { atol: 2e-4, rtol: 2e-4 },
  lmhead: { atol: 2e-5, rtol: 2e-4 },
  lmheadLoss: { atol: 1e-3, rtol: 1e-5 },
  // encoder kernels (issue 15): LayerNorm, GELU (own erf), tanh/ReLU, dropout, dense + bias grads,
  // first-token pooling, classification losses, encoder embeddings, bidirectional attention
  layernorm: { atol: 2e-5, rtol: 2e-5 },
  layernormParams: { atol: 5e-5, rtol: 2e-5 },
  // erf.wgsl: Maclaurin series below |z| = 1, Numerical Recipes' erfc fit above (see erf.wgsl)
  erf: { atol: 3e-7, rtol: 0 },
  gelu: { atol: 5e-7, rtol: 5e-7 },
  activation: { atol: 5e-7, rtol: 5e-7 },
  // dropout: x·(1/(1−p)) rounds once in f32; the mask itself must match bit for bit
  dropout: { atol: 1e-6, rtol: 1e-6 },
  // dense heads: f32 matmul sums over K = IN (forward, dx) or K = N (dW, db) terms
  dense: { atol: 1e-4, rtol: 1e-4 },
  pooling: { atol: 0, rtol: 0 },
  // classification losses: f32 exp/log per row; lossSum adds B row losses
  classifyRows: { atol: 2e-6, rtol: 2e-6 },
  classifyLossSum: { atol: 1e-4, rtol: 1e-5 },
  // encoder embeddings: (word + type) + position in Transformers' order, so f32 sums round alike
  encoderEmbedding: { atol: 1e-6, rtol: 1e-6 },
  // end of encoder kernels
  // engine: the whole model on the GPU (f32) against the float64 model (test/gpu/engine)
  engineLogits: { atol: 2e-4, rtol: 2e-4 },
  engineLoss: { atol: 1e-5, rtol: 1e-5 },
  engineLoraGrads: { atol: 2e-5, rtol: 1e-3 },
  engineTrajectory: { atol: 1e-4, rtol: 1e-4 },
  engineLogitsF16: { atol: 3e-2, rtol: 3e-2 },
} satisfies Record<string, Tolerance>;
