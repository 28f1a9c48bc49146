/**
 * Launchers of a dense layer y = x·Wᵀ + b with weight and bias gradients (dense.ref.ts has the math):
 * the classification heads that PEFT trains in full (modules_to_save), and frozen dense layers
 * (the BERT pooler) that only pass dx. The products run on the tiled matmul; the bias add and the
 * bias gradient (column sums of dy) are dense_bias.wgsl.
 *
 * For the encoder's LoRA projections use lora.ts (same y = x·Wᵀ + b, plus the adapter, and weights
 * split past the binding limit); these launchers bind W whole, which the heads' [≤ 1024, 1024] fit.
 */
import type { Binding, Recorder } from '../../gpu/recorder';
import type { Kernel } from '../../gpu/pipelines';
import { Uniforms } from '../../gpu/uniforms';
import { GpuError } from '../../gpu/errors';
import { matmul } from '../matmul/matmul';
import { assertBindable, elementwiseWorkgroupSize, grid1d } from '../elementwise/grid';
import { wgslSections } from '../elementwise/sections';
import source from './dense_bias.wgsl?raw';

export const denseBiasAddKernel: Kernel = { name: 'dense_bias_add', source: wgslSections(source, ['ADD'], 'dense_bias.wgsl') };
export const denseBiasGradKernel: Kernel = { name: 'dense_bias_grad', source: wgslSections(source, ['GRAD'], 'dense_bias.wgsl') };

/** A shape or buffer the dense launchers cannot use; the message names it. */
export class DenseArgumentError extends GpuError {}

export interface DenseWeights {
  /** W [OUT, IN]: f32 (trained), or f16 with wF16 (frozen layers on shader-f16 devices). */
  w: Binding;
  /** Element offset of W in its buffer (a flat parameter buffer). */
  offsetW?: number;
  wF16?: boolean;
  /** b [OUT] (same type as W), or null for a layer without bias. */
  bias?: Binding | null;
  offsetB?: number;
  IN: number;
  OUT: number;
  label?: string;
}

export interface DenseForwardArgs extends DenseWeights {
  N: number;
  /** [N, IN] f32 */
  x: Binding;
  /** [N, OUT] f32, overwritten */
  y: Binding;
}

export interface DenseGradients {
  /** dW [OUT, IN] f32: ADDED to (gradient accumulation over micro-batches). */
  dW: Binding;
  offsetDW?: number;
  /** db [OUT] f32: ADDED to; needed when the layer has a bias. */
  db?: Binding | null;
  offsetDB?: number;
}

export interface DenseBackwardArgs extends DenseWeights {
  N: number;
  /** [N, OUT] f32 */
  dy: Binding;
  /** The forward's input [N, IN] f32 (read for dW). */
  x?: Binding;
  /** [N, IN] f32: written (or added to with accumulateDx); absent when nothing upstream needs it. */
  dx?: Binding | null;
  accumulateDx?: boolean;
  /** Where dW and db accumulate; absent for a frozen layer. */
  grads?: DenseGradients | null;
}

function check(rec: Recorder, a: DenseWeights & { N: number }, label: string): void {
  for (const name of ['N', 'IN', 'OUT'] as const) {
    if (!Number.isInteger(a[name]) || a[name] < 1) throw new DenseArgumentError(`${label}: ${name} must be a positive integer, got ${a[name]}`);
  }
  if (a.wF16 && !rec.gpu.features.f16) throw new DenseArgumentError(`${label}: wF16 needs the shader-f16 feature, which this device lacks`);
  assertBindable(rec.gpu, `${label} weight`, a.OUT * a.IN, a.wF16 ? 2 : 4);
}

function f16Constants(f16: boolean) {
  return { W_TYPE: f16 ? 'f16' : 'f32', ENABLE_F16: f16 ? 'enable f16;' : '' };
}

/** y = x·Wᵀ + b */
export function denseForward(rec: Recorder, a: DenseForwardArgs): void {
  const label = a.label ?? 'dense';
  check(rec, a, label);
  matmul(rec, {
    a: a.x, b: a.w, c: a.y, M: a.N, N: a.OUT, K: a.IN, transB: true, bF16: a.wF16,
    offsetB: a.offsetW ?? 0, label: `${label} forward`,
  });
  if (!a.bias) return;
  const count = a.N * a.OUT;
  const wg = elementwiseWorkgroupSize(rec.gpu);
  rec.dispatch({
    kernel: denseBiasAddKernel,
    label: `${label} bias`,
    constants: { WG: wg, ...f16Constants(Boolean(a.wF16)) },
    uniforms: new Uniforms().u32(a.N).u32(a.OUT).u32(a.offsetB ?? 0).u32(0),
    bindings: [a.bias, a.y],
    workgroups: grid1d(rec.gpu, count, wg, `${label} bias`),
  });
}

/** dx (=|+=) dy·W;  dW += dyᵀ·x;  db += Σ_n dy  (backward of y = x·Wᵀ + b) */
export function denseBackward(rec: Recorder, a: DenseBackwardArgs): void {
  const label = a.label ?? 'dense';
  check(rec, a, label);
  if (a.dx) {
    matmul(rec, {
      a: a.dy, b: a.w, c: a.dx, M: a.N, N: a.IN, K: a.OUT, bF16: a.wF16, offsetB: a.offsetW ?? 0,
      accumulate: Boolean(a.accumulateDx), beta: 1, label: `${label} backward dx`,
    });
  }
  const g = a.grads;
  if (!g) return;
  if (a.wF16) throw new DenseArgumentError(`${label}: an f16 weight is frozen; trained weights are f32`);
  if (!a.x) throw new DenseArgumentError(`${label}: dW needs the forward's input x`);
  if (a.bias && !g.db) throw new DenseArgumentError(`${label}: the layer has a bias, so grads need db`);
  matmul(rec, {
    a: a.dy, b: a.x, c: g.dW, M: a.OUT, N: a.IN, K: a.N, transA: true,
    offsetC: g.offsetDW ?? 0, accumulate: true, beta: 1, label: `${label} backward dW`,
  });
  if (!a.bias || !g.db) return;
  rec.dispatch({
    kernel: denseBiasGradKernel,
    label: `${label} backward db`,
    constants: { WG: 64, ...f16Constants(false) },
    uniforms: new Uniforms().u32(a.N).u32(a.OUT).u32(g.offsetDB ?? 0).u32(0),
    bindings: [a.dy, g.db],
    workgroups: [Math.ceil(a.OUT / 64)],
  });
}
