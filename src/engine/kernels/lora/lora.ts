/**
 * Launchers of the LoRA linear fused with its frozen base projection (lora.ref.ts has the math):
 *
 *   forward   y = x·Wᵀ (+ b) + s·(drop(x)·Aᵀ)·Bᵀ                 saves u = drop(x)·Aᵀ [N, R]
 *   backward  dB += s·dyᵀ·u,  du = s·dy·B,  dA += duᵀ·drop(x),
 *             dx (=|+=) dy·W + (du·A) ⊙ mask/(1−p)
 *
 * One API for every projection: leave `lora` out for a plain linear (forward, and dx in backward).
 * The big products run on the tiled matmul; dropout masks come from Philox on the GPU (no mask
 * buffer), and a W beyond the binding limit is split by output rows (see weightParts.ts).
 * W is f32, f16, or quantized q8 / nf4 (quant/): the matmul then dequantizes it tile by tile, and
 * the products are those of the dequantized W.
 */
import type { Gpu } from '../../gpu/device';
import { GpuError } from '../../gpu/errors';
import type { Kernel } from '../../gpu/pipelines';
import type { Binding, Recorder } from '../../gpu/recorder';
import { Uniforms } from '../../gpu/uniforms';
import { matmul } from '../matmul/matmul';
import { dropoutThreshold, PHILOX_WGSL, type DropoutKey } from '../philox/philox';
import { resolveWeightFormat, weightOperands, type FrozenWeight } from '../quant/weights';
import type { WeightFormat } from '../quant/layout';
import { rowGroups, rowWindow } from './windows';
import dropoutSource from './lora_dropout.wgsl?raw';
import dxSource from './lora_dx.wgsl?raw';
import biasSource from './lora_bias.wgsl?raw';

export type { DropoutKey } from '../philox/philox';
export { weightParts, type SplitWeight, type WeightPart } from './weightParts';
export type { FrozenWeight } from '../quant/weights';
export type { WeightFormat } from '../quant/layout';

export const loraDropoutKernel: Kernel = { name: 'lora_dropout', source: PHILOX_WGSL + dropoutSource };
export const loraDxKernel: Kernel = { name: 'lora_dx', source: PHILOX_WGSL + dxSource };
export const loraBiasKernel: Kernel = { name: 'lora_bias', source: biasSource };

/** A shape, option or buffer the LoRA launchers cannot use; the message names it. */
export class LoraArgumentError extends GpuError {}

/** The frozen base projection. */
export interface LinearWeights {
  /**
   * [OUT, IN]: f32 or f16 (wF16) as one Binding or parts split by output rows (SplitWeight), or a
   * QuantizedWeight (q8 / nf4, quant/quant.ts), which carries its format.
   */
  w: FrozenWeight;
  wF16?: boolean;
  /** The storage format of w, beside wF16 ('f16' is the same as wF16); q8 / nf4 need a QuantizedWeight. Default: from w and wF16. */
  wFormat?: WeightFormat;
  /** [OUT] or absent; f16 when W is f16, f32 otherwise (q8 and nf4 included). */
  bias?: Binding | null;
  IN: number;
  OUT: number;
  /** Overrides the device's binding limit when splitting w (tests force a split with it). */
  maxBindingBytes?: number;
  label?: string;
}

/** The trainable adapter of a projection (f32). Offsets are in elements, for flat parameter buffers. */
export interface LoraAdapter {
  /** A [R, IN] */
  a: Binding;
  offsetA?: number;
  /** B [OUT, R] */
  b: Binding;
  offsetB?: number;
  R: number;
  /** s = alpha/r (alpha/√r for rsLoRA). */
  scale: number;
  /** Dropout probability on x before A, in [0, 1); 0 skips the mask entirely. */
  dropout?: number;
  /** Mask key; forward and backward of one micro-batch must pass the same one. Needed when dropout > 0. */
  dropoutKey?: DropoutKey;
  /** [N, R]: written by the forward, read by the backward. */
  u: Binding;
  /** [N, IN] f32 scratch for drop(x), needed when dropout > 0 (contents not kept between passes). */
  xd?: Binding;
}

export interface LoraGradients {
  /** dA [R, IN] and dB [OUT, R]: ACCUMULATED into (gradient accumulation over micro-batches). */
  dA: Binding;
  offsetDA?: number;
  dB: Binding;
  offsetDB?: number;
  /** [N, R] f32 scratch for du. */
  du: Binding;
}

export interface LoraForwardArgs extends LinearWeights {
  N: number;
  /** [N, IN] */
  x: Binding;
  /** [N, OUT], overwritten. */
  y: Binding;
  lora?: LoraAdapter | null;
}

export interface LoraBackwardArgs extends LinearWeights {
  N: number;
  /** [N, OUT] */
  dy: Binding;
  /** The forward's input [N, IN] (read only when the adapter has one). */
  x: Binding;
  /** [N, IN] */
  dx: Binding;
  /** dx += … (a residual branch) instead of dx = … */
  accumulateDx?: boolean;
  lora?: LoraAdapter | null;
  /** Where dA, dB accumulate; required with `lora`. */
  grads?: LoraGradients | null;
}

function check(a: LinearWeights & { N: number }, lora: LoraAdapter | null | undefined): void {
  const where = a.label ?? 'lora linear';
  for (const name of ['N', 'IN', 'OUT'] as const) {
    if (!Number.isInteger(a[name]) || a[name] < 1) throw new LoraArgumentError(`${where}: ${name} must be a positive integer, got ${a[name]}`);
  }
  if (!lora) return;
  if (!Number.isInteger(lora.R) || lora.R < 1) throw new LoraArgumentError(`${where}: rank R must be a positive integer, got ${lora.R}`);
  const p = lora.dropout ?? 0;
  if (!(p >= 0 && p < 1)) throw new LoraArgumentError(`${where}: dropout must be in [0, 1), got ${p}`);
  if (p > 0 && (!lora.dropoutKey || !lora.xd)) throw new LoraArgumentError(`${where}: dropout ${p} needs dropoutKey and an xd scratch buffer [N, IN]`);
}

function flatGrid(gpu: Gpu, count: number, size: number): [number, number] {
  const groups = Math.ceil(count / size);
  const x = Math.min(groups, gpu.limits.maxComputeWorkgroupsPerDimension);
  return [x, Math.ceil(groups / x)];
}

function dropoutUniforms(key: DropoutKey, p: number): number[] {
  return [key.seed >>> 0, key.site >>> 0, key.step >>> 0, dropoutThreshold(p)];
}

/** Records xd = x ⊙ mask/(1−p) for the adapter's key. */
function recordDropout(rec: Recorder, N: number, IN: number, x: Binding, lora: LoraAdapter, label: string, token0: number): void {
  const p = lora.dropout ?? 0;
  const count4 = N * Math.ceil(IN / 4);
  const [seed, site, step, threshold] = dropoutUniforms(lora.dropoutKey!, p);
  rec.dispatch({
    kernel: loraDropoutKernel,
    label: `${label} dropout`,
    uniforms: new Uniforms().u32(count4).u32(IN).u32(seed).u32(site).u32(step).u32(threshold).f32(1 / (1 - p)).u32(token0),
    bindings: [x, lora.xd!],
    workgroups: flatGrid(rec.gpu, count4, 256),
  });
}

/** Records y = x·Wᵀ (+ b) (+ s·(drop(x)·Aᵀ)·Bᵀ, saving u). */
export function loraForward(rec: Recorder, a: LoraForwardArgs): void {
  check(a, a.lora);
  const label = a.label ?? 'lora linear';
  const R = a.lora?.R ?? 0;
  const groups = rowGroups(rec.gpu, a.N, [a.IN, a.OUT, R], label, a.maxBindingBytes);
  if (groups.length === 1) return forwardWindow(rec, a, 0);
  // Activations beyond the binding limit: token windows (the mask stays keyed by the global token).
  for (const [n0, N] of groups) {
    const l = a.lora;
    forwardWindow(rec, {
      ...a, N, x: rowWindow(a.x, n0, N, a.IN), y: rowWindow(a.y, n0, N, a.OUT),
      lora: l ? { ...l, u: rowWindow(l.u, n0, N, R), xd: l.xd && rowWindow(l.xd, n0, N, a.IN) } : l,
    }, n0);
  }
}

function forwardWindow(rec: Recorder, a: LoraForwardArgs, token0: number): void {
  const label = a.label ?? 'lora linear';
  const { N, IN, OUT } = a;
  const format = resolveWeightFormat(a.w, a.wFormat, a.wF16, label);
  let row0 = 0;
  for (const part of weightOperands(rec.gpu, a.w, format, OUT, IN, label, a.maxBindingBytes)) {
    // y[:, row0 : row0+rows] = x · W_partᵀ   (a column block of y: row stride OUT)
    matmul(rec, {
      ...part.operand, a: a.x, c: a.y, M: N, N: part.rows, K: IN, transB: true,
      offsetC: row0, ldc: OUT, label: `${label} forward`,
    });
    row0 += part.rows;
  }
  if (a.bias) {
    const f16 = format === 'f16';
    rec.dispatch({
      kernel: loraBiasKernel,
      label: `${label} bias`,
      constants: { W_TYPE: f16 ? 'f16' : 'f32', ENABLE_F16: f16 ? 'enable f16;' : '' },
      uniforms: new Uniforms().u32(N * OUT).u32(OUT).u32(0).u32(0),
      bindings: [a.bias, a.y],
      workgroups: flatGrid(rec.gpu, N * OUT, 256),
    });
  }
  const l = a.lora;
  if (!l) return;
  const p = l.dropout ?? 0;
  let xd = a.x;
  if (p > 0) {
    recordDropout(rec, N, IN, a.x, l, label, token0);
    xd = l.xd!;
  }
  // u = xd · Aᵀ
  matmul(rec, { a: xd, b: l.a, c: l.u, M: N, N: l.R, K: IN, transB: true, offsetB: l.offsetA ?? 0, label: `${label} lora u` });
  // y += s · u · Bᵀ
  matmul(rec, {
    a: l.u, b: l.b, c: a.y, M: N, N: OUT, K: l.R, transB: true, offsetB: l.offsetB ?? 0,
    alpha: l.scale, accumulate: true, beta: 1, label: `${label} lora y`,
  });
}

/** Records dx (=|+=) dy·W (+ LoRA's part) and, with an adapter, dA += …, dB += … */
export function loraBackward(rec: Recorder, a: LoraBackwardArgs): void {
  check(a, a.lora);
  const label = a.label ?? 'lora linear';
  if (a.lora && !a.grads) throw new LoraArgumentError(`${label}: backward with an adapter needs grads (dA, dB, du)`);
  const R = a.lora?.R ?? 0;
  const groups = rowGroups(rec.gpu, a.N, [a.IN, a.OUT, R], label, a.maxBindingBytes);
  if (groups.length === 1) return backwardWindow(rec, a, 0);
  // dA and dB accumulate over the token windows as they do over micro-batches.
  for (const [n0, N] of groups) {
    const l = a.lora;
    const g = a.grads;
    backwardWindow(rec, {
      ...a, N, dy: rowWindow(a.dy, n0, N, a.OUT), x: rowWindow(a.x, n0, N, a.IN), dx: rowWindow(a.dx, n0, N, a.IN),
      lora: l ? { ...l, u: rowWindow(l.u, n0, N, R), xd: l.xd && rowWindow(l.xd, n0, N, a.IN) } : l,
      grads: g ? { ...g, du: rowWindow(g.du, n0, N, R) } : g,
    }, n0);
  }
}

function backwardWindow(rec: Recorder, a: LoraBackwardArgs, token0: number): void {
  const label = a.label ?? 'lora linear';
  const { N, IN, OUT } = a;
  const l = a.lora;
  const g = a.grads;
  // dx (=|+=) dy · W, one output-row block of W at a time   (backward of y = x·Wᵀ)
  const format = resolveWeightFormat(a.w, a.wFormat, a.wF16, label);
  let row0 = 0;
  weightOperands(rec.gpu, a.w, format, OUT, IN, label, a.maxBindingBytes).forEach((part, i) => {
    matmul(rec, {
      ...part.operand, a: a.dy, c: a.dx, M: N, N: IN, K: part.rows,
      offsetA: row0, lda: OUT,
      accumulate: Boolean(a.accumulateDx) || i > 0, beta: 1, label: `${label} backward dx`,
    });
    row0 += part.rows;
  });
  if (!l || !g) return;
  // dB += s · dyᵀ · u   (backward of y += s·u·Bᵀ)
  matmul(rec, {
    a: a.dy, b: l.u, c: g.dB, M: OUT, N: l.R, K: N, transA: true,
    offsetC: g.offsetDB ?? 0, alpha: l.scale, accumulate: true, beta: 1, label: `${label} lora dB`,
  });
  // du = s · dy · B
  matmul(rec, { a: a.dy, b: l.b, c: g.du, M: N, N: l.R, K: OUT, offsetB: l.offsetB ?? 0, alpha: l.scale, label: `${label} lora du` });
  // dA += duᵀ · xd   (backward of u = xd·Aᵀ), with the forward's mask regenerated
  const p = l.dropout ?? 0;
  let xd = a.x;
  if (p > 0) {
    recordDropout(rec, N, IN, a.x, l, label, token0);
    xd = l.xd!;
  }
  matmul(rec, {
    a: g.du, b: xd, c: g.dA, M: l.R, N: IN, K: N, transA: true,
    offsetC: g.offsetDA ?? 0, accumulate: true, beta: 1, label: `${label} lora dA`,
  });
  // dx += (du · A) ⊙ mask/(1−p)   (backward of xd = x ⊙ mask/(1−p))
  if (p === 0) {
    matmul(rec, { a: g.du, b: l.a, c: a.dx, M: N, N: IN, K: l.R, offsetB: l.offsetA ?? 0, accumulate: true, beta: 1, label: `${label} lora dx` });
    return;
  }
  const count4 = N * Math.ceil(IN / 4);
  const [seed, site, step, threshold] = dropoutUniforms(l.dropoutKey!, p);
  rec.dispatch({
    kernel: loraDxKernel,
    label: `${label} lora dx`,
    uniforms: new Uniforms().u32(count4).u32(IN).u32(l.R).u32(l.offsetA ?? 0)
      .u32(seed).u32(site).u32(step).u32(threshold).f32(1 / (1 - p)).u32(token0).u32(0).u32(0),
    bindings: [g.du, l.a, a.dx],
    workgroups: flatGrid(rec.gpu, count4, 256),
  });
}
