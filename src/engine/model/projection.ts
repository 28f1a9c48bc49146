/**
 * A frozen projection with an optional LoRA pair, as the model uses it:
 *   forward   y = x·Wᵀ + b + s·(x·Aᵀ)·Bᵀ      saves u = x·Aᵀ [N, R]
 *   backward  dB += s·dyᵀ·u, du = s·dy·B, dA += duᵀ·x, dx (+)= dy·W + du·A
 * built from the tiled matmul (bias added as ones[N,1]·b[1,OUT]).
 * NOTE: this path has no LoRA dropout; the model refuses dropout > 0 until the fused LoRA kernel
 * (src/engine/kernels/lora) with its Philox masks replaces it.
 */
import type { Binding, Recorder } from '../gpu/recorder';
import { matmul } from '../kernels/matmul/matmul';

export interface FrozenLinear {
  /** [OUT, IN] */
  w: GPUBuffer;
  /** [OUT] or null */
  bias: GPUBuffer | null;
  IN: number;
  OUT: number;
  f16: boolean;
  label: string;
}

export interface LoraBinding {
  /** Flat adapter parameters and gradients (f32); A [R, IN] at offsetA, B [OUT, R] at offsetB. */
  params: GPUBuffer;
  grads: GPUBuffer;
  offsetA: number;
  offsetB: number;
  R: number;
  scale: number;
  /** u = x·Aᵀ [N, R] saved for backward. */
  u: GPUBuffer;
}

export interface ProjectionForwardArgs {
  x: Binding;
  y: Binding;
  N: number;
  lin: FrozenLinear;
  lora: LoraBinding | null;
  /** A [N] (or longer) buffer of ones, for the bias. */
  ones: GPUBuffer;
}

export function projectionForward(rec: Recorder, a: ProjectionForwardArgs): void {
  const { lin, N } = a;
  matmul(rec, { a: a.x, b: lin.w, c: a.y, M: N, N: lin.OUT, K: lin.IN, transB: true, bF16: lin.f16, label: `${lin.label} forward` });
  if (lin.bias) {
    matmul(rec, { a: a.ones, b: lin.bias, c: a.y, M: N, N: lin.OUT, K: 1, accumulate: true, beta: 1, label: `${lin.label} bias` });
  }
  const l = a.lora;
  if (!l) return;
  matmul(rec, { a: a.x, b: l.params, c: l.u, M: N, N: l.R, K: lin.IN, transB: true, offsetB: l.offsetA, label: `${lin.label} lora u` });
  matmul(rec, {
    a: l.u, b: l.params, c: a.y, M: N, N: lin.OUT, K: l.R, transB: true, offsetB: l.offsetB,
    alpha: l.scale, accumulate: true, beta: 1, label: `${lin.label} lora y`,
  });
}

export interface ProjectionBackwardArgs {
  dy: Binding;
  x: Binding;
  dx: Binding;
  /** dx += … instead of dx = … */
  accumulate: boolean;
  N: number;
  lin: FrozenLinear;
  lora: LoraBinding | null;
  /** [N, R] scratch */
  du: GPUBuffer;
}

export function projectionBackward(rec: Recorder, a: ProjectionBackwardArgs): void {
  const { lin, N } = a;
  // dx (+)= dy·W   (backward of y = x·Wᵀ)
  matmul(rec, { a: a.dy, b: lin.w, c: a.dx, M: N, N: lin.IN, K: lin.OUT, bF16: lin.f16, accumulate: a.accumulate, beta: 1, label: `${lin.label} backward dx` });
  const l = a.lora;
  if (!l) return;
  // dB += s·dyᵀ·u   (backward of y += s·u·Bᵀ)
  matmul(rec, {
    a: a.dy, b: l.u, c: l.grads, M: lin.OUT, N: l.R, K: N, transA: true, offsetC: l.offsetB,
    alpha: l.scale, accumulate: true, beta: 1, label: `${lin.label} lora dB`,
  });
  // du = s·dy·B
  matmul(rec, { a: a.dy, b: l.params, c: a.du, M: N, N: l.R, K: lin.OUT, offsetB: l.offsetB, alpha: l.scale, label: `${lin.label} lora du` });
  // dA += duᵀ·x   (backward of u = x·Aᵀ)
  matmul(rec, { a: a.du, b: a.x, c: l.grads, M: l.R, N: lin.IN, K: N, transA: true, offsetC: l.offsetA, accumulate: true, beta: 1, label: `${lin.label} lora dA` });
  // dx += du·A
  matmul(rec, { a: a.du, b: l.params, c: a.dx, M: N, N: lin.IN, K: l.R, offsetB: l.offsetA, accumulate: true, beta: 1, label: `${lin.label} lora dx` });
}
