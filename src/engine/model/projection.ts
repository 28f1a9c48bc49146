/**
 * A frozen projection with an optional LoRA pair, as the model uses it — a thin layer over the
 * fused LoRA linear (kernels/lora):
 *   forward   y = x·Wᵀ + b + s·(drop(x)·Aᵀ)·Bᵀ      saves u = drop(x)·Aᵀ [N, R]
 *   backward  dB += s·dyᵀ·u, du = s·dy·B, dA += duᵀ·drop(x), dx (+)= dy·W + (du·A)⊙mask/(1−p)
 * Dropout masks come from Philox keyed by (run seed, site = layer·8 + module, micro-batch step),
 * so the forward, the backward, a recomputed forward and a resumed run all draw the same mask.
 */
import type { Binding, Recorder } from '../gpu/recorder';
import { loraBackward, loraForward, type FrozenWeight, type LoraAdapter, type WeightFormat } from '../kernels/lora/lora';

export interface FrozenLinear {
  /** [OUT, IN]: a buffer (f32 / f16) or a QuantizedWeight (q8 / nf4). */
  w: FrozenWeight;
  /** [OUT] or null: f16 beside an f16 W, f32 otherwise. */
  bias: GPUBuffer | null;
  IN: number;
  OUT: number;
  format: WeightFormat;
  label: string;
}

export interface LoraBinding {
  /** Flat adapter parameters and gradients (f32); A [R, IN] at offsetA, B [OUT, R] at offsetB. */
  params: GPUBuffer;
  /** Null for inference-only adapters (no backward). */
  grads: GPUBuffer | null;
  offsetA: number;
  offsetB: number;
  R: number;
  scale: number;
  /** u = drop(x)·Aᵀ [N, R] saved for backward. */
  u: GPUBuffer;
  /** Dropout probability and mask key (training only); p = 0 or no key: no dropout. */
  dropout: number;
  dropoutKey: { seed: number; site: number; step: number } | null;
  /** [N, IN] scratch for drop(x) when dropout applies. */
  xd: GPUBuffer | null;
}

function adapterArgs(l: LoraBinding): LoraAdapter {
  const p = l.dropoutKey && l.xd ? l.dropout : 0;
  return {
    a: l.params, offsetA: l.offsetA, b: l.params, offsetB: l.offsetB, R: l.R, scale: l.scale, u: l.u,
    dropout: p, dropoutKey: p > 0 ? l.dropoutKey! : undefined, xd: p > 0 ? l.xd! : undefined,
  };
}

export interface ProjectionForwardArgs {
  x: Binding;
  y: Binding;
  N: number;
  lin: FrozenLinear;
  lora: LoraBinding | null;
}

export function projectionForward(rec: Recorder, a: ProjectionForwardArgs): void {
  const { lin } = a;
  loraForward(rec, {
    N: a.N, x: a.x, y: a.y, w: lin.w, wFormat: lin.format, bias: lin.bias, IN: lin.IN, OUT: lin.OUT, label: lin.label,
    lora: a.lora ? adapterArgs(a.lora) : null,
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
  const { lin, lora } = a;
  if (lora && !lora.grads) throw new Error(`${lin.label}: backward through an adapter without gradient buffers`);
  loraBackward(rec, {
    N: a.N, dy: a.dy, x: a.x, dx: a.dx, accumulateDx: a.accumulate, w: lin.w, wFormat: lin.format, bias: lin.bias, IN: lin.IN, OUT: lin.OUT, label: lin.label,
    lora: lora ? adapterArgs(lora) : null,
    grads: lora ? { dA: lora.grads!, offsetDA: lora.offsetA, dB: lora.grads!, offsetDB: lora.offsetB, du: a.du } : null,
  });
}
