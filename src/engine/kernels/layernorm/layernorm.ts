/**
 * Launchers of LayerNorm with weight and bias (layernorm.ref.ts has the math, layernorm.wgsl the
 * geometry): the encoders' post-LN blocks (BERT, RoBERTa, DistilBERT) and their embedding norm.
 * The model's LoRA runs need only dx; dweight/dbias are there for runs that train the norms.
 */
import type { Binding, Recorder } from '../../gpu/recorder';
import type { Kernel } from '../../gpu/pipelines';
import { Uniforms } from '../../gpu/uniforms';
import { GpuError } from '../../gpu/errors';
import { gridRows } from '../elementwise/grid';
import { wgslSections } from '../elementwise/sections';
import { rowGroups, rowWindow } from '../lora/windows';
import source from './layernorm.wgsl?raw';

export const layernormForwardKernel: Kernel = { name: 'layernorm_forward', source: wgslSections(source, ['FORWARD'], 'layernorm.wgsl') };
export const layernormBackwardKernel: Kernel = { name: 'layernorm_backward', source: wgslSections(source, ['BACKWARD'], 'layernorm.wgsl') };
export const layernormParamGradsKernel: Kernel = { name: 'layernorm_param_grads', source: wgslSections(source, ['PARAMS'], 'layernorm.wgsl') };

export interface LayernormShapeArgs {
  /** Rows: N tokens. */
  rows: number;
  /** Row length: C hidden. */
  C: number;
  /** config.layer_norm_eps: 1e-12 (BERT, DistilBERT), 1e-5 (roberta-base). */
  eps: number;
  /** weight and bias [C] hold f16 values (frozen norms on shader-f16 devices). */
  weightF16?: boolean;
  /** Element offsets of weight and bias in their buffers (weights packed in one buffer). */
  offsetW?: number;
  offsetB?: number;
  /** Overrides the device's binding limit (tests force row windows with it). */
  maxBindingBytes?: number;
  label?: string;
}

export interface LayernormForwardArgs extends LayernormShapeArgs {
  /** [rows, C] f32 */
  x: Binding;
  /** [C] f32 or f16 */
  weight: Binding;
  /** [C] f32 or f16 */
  bias: Binding;
  /** [rows, C] f32, a different buffer from x */
  out: Binding;
  /** [rows] f32, saved for backward */
  mean: Binding;
  /** [rows] f32, saved for backward */
  rstd: Binding;
}

export interface LayernormBackwardArgs extends LayernormShapeArgs {
  /** [rows, C] f32 */
  dy: Binding;
  /** [rows, C] f32, the forward's input */
  x: Binding;
  /** [C] f32 or f16 */
  weight: Binding;
  /** [rows] f32 from the forward */
  mean: Binding;
  rstd: Binding;
  /** [rows, C] f32, written (or added to with accumulate); a different buffer from dy and x */
  dx: Binding;
  /** dx += the gradient instead of dx = it. */
  accumulate?: boolean;
}

export interface LayernormParamGradsArgs {
  rows: number;
  C: number;
  /** [rows, C] f32 */
  dy: Binding;
  /** [rows, C] f32, the forward's input */
  x: Binding;
  mean: Binding;
  rstd: Binding;
  /** [C] f32, ADDED to (gradient accumulation over micro-batches) */
  dweight: Binding;
  /** [C] f32, ADDED to */
  dbias: Binding;
  /** Element offsets into flat gradient buffers. */
  offsetDW?: number;
  offsetDB?: number;
  label?: string;
}

function workgroupSize(rec: Recorder, C: number): number {
  const max = Math.min(rec.gpu.limits.maxComputeInvocationsPerWorkgroup, rec.gpu.limits.maxComputeWorkgroupSizeX);
  // A power of two (the tree reduction halves it) no larger than the row needs.
  let wg = 32;
  while (wg < 256 && wg < C && wg * 2 <= max) wg *= 2;
  return wg;
}

function constants(rec: Recorder, args: { C: number; weightF16?: boolean; label?: string }, accumulate: boolean) {
  if (args.weightF16 && !rec.gpu.features.f16) {
    throw new GpuError(`${args.label ?? 'layernorm'}: weightF16 needs the shader-f16 feature, which this device lacks`, args.label);
  }
  return {
    WG: workgroupSize(rec, args.C),
    ACCUMULATE: accumulate,
    W_TYPE: args.weightF16 ? 'f16' : 'f32',
    ENABLE_F16: args.weightF16 ? 'enable f16;' : '',
  };
}

function uniforms(a: { rows: number; C: number; offsetW?: number; offsetB?: number; eps?: number; offsetDW?: number; offsetDB?: number }): Uniforms {
  return new Uniforms()
    .u32(a.rows).u32(a.C).u32(a.offsetW ?? 0).u32(a.offsetB ?? 0)
    .f32(a.eps ?? 0).u32(a.offsetDW ?? 0).u32(a.offsetDB ?? 0).u32(0);
}

/**
 * Row windows of the [rows, C] and [rows] tensors within the binding limit (one window of all rows
 * when everything fits, the common case); `perRow` gives each binding's width, 0 for the weights.
 */
function rowDispatches(rec: Recorder, args: LayernormShapeArgs, kernel: Kernel, accumulate: boolean, bindings: [Binding, number][], label: string): void {
  const groups = rowGroups(rec.gpu, args.rows, [args.C, 1], label, args.maxBindingBytes);
  for (const [r0, rows] of groups) {
    rec.dispatch({
      kernel,
      label,
      constants: constants(rec, args, accumulate),
      uniforms: uniforms({ ...args, rows }),
      bindings: bindings.map(([b, width]) => (groups.length === 1 || width === 0 ? b : rowWindow(b, r0, rows, width))),
      workgroups: gridRows(rec.gpu, rows, label),
    });
  }
}

/** out = (x − mean)·rstd·weight + bias per row; saves mean and rstd [rows]. */
export function layernormForward(rec: Recorder, args: LayernormForwardArgs): void {
  const { C } = args;
  rowDispatches(rec, args, layernormForwardKernel, false, [
    [args.x, C], [args.weight, 0], [args.bias, 0], [args.out, C], [args.mean, 1], [args.rstd, 1],
  ], args.label ?? 'layernorm forward');
}

/** dx (+)= the gradient of LayerNorm with respect to its input. */
export function layernormBackward(rec: Recorder, args: LayernormBackwardArgs): void {
  const { C } = args;
  rowDispatches(rec, args, layernormBackwardKernel, Boolean(args.accumulate), [
    [args.dy, C], [args.x, C], [args.weight, 0], [args.mean, 1], [args.rstd, 1], [args.dx, C],
  ], args.label ?? 'layernorm backward');
}

/** dweight += Σ_rows dy·xhat, dbias += Σ_rows dy (only for runs that train a norm). */
export function layernormParamGrads(rec: Recorder, args: LayernormParamGradsArgs): void {
  const label = args.label ?? 'layernorm param grads';
  rec.dispatch({
    kernel: layernormParamGradsKernel,
    label,
    constants: constants(rec, { C: args.C, label }, false),
    uniforms: uniforms(args),
    bindings: [args.dy, args.x, args.mean, args.rstd, args.dweight, args.dbias],
    workgroups: [Math.ceil(args.C / 64)],
  });
}
