import type { Binding, Recorder } from '../../gpu/recorder';
import type { Kernel } from '../../gpu/pipelines';
import { Uniforms } from '../../gpu/uniforms';
import { GpuError } from '../../gpu/errors';
import { gridRows } from '../elementwise/grid';
import { wgslSections } from '../elementwise/sections';
import source from './rmsnorm.wgsl?raw';
import { WORKGROUP_REDUCE_WGSL } from '../elementwise/reduce';

export const rmsnormForwardKernel: Kernel = { name: 'rmsnorm_forward', source: wgslSections(source, ['FORWARD'], 'rmsnorm.wgsl') + WORKGROUP_REDUCE_WGSL };
export const rmsnormBackwardKernel: Kernel = { name: 'rmsnorm_backward', source: wgslSections(source, ['BACKWARD'], 'rmsnorm.wgsl') + WORKGROUP_REDUCE_WGSL };

export interface RmsnormShapeArgs {
  /** Rows: N for the block norms, N·NH or N·KVH for qwen3's per-head q/k norm. */
  rows: number;
  /** Row length: C for the block norms, HS for the per-head norms. */
  C: number;
  eps: number;
  /** The weight [C] holds f16 values (frozen weights on shader-f16 devices). */
  weightF16?: boolean;
  /** Element offset of the weight in its buffer (weights packed in one buffer). */
  offsetW?: number;
  label?: string;
}

export interface RmsnormForwardArgs extends RmsnormShapeArgs {
  /** [rows, C] f32 */
  x: Binding;
  /** [C] f32 or f16 */
  weight: Binding;
  /** [rows, C] f32, a different buffer from x */
  out: Binding;
  /** [rows] f32, saved for backward */
  rrms: Binding;
}

export interface RmsnormBackwardArgs extends RmsnormShapeArgs {
  /** [rows, C] f32 */
  dy: Binding;
  /** [rows, C] f32, the forward's input */
  x: Binding;
  /** [C] f32 or f16 */
  weight: Binding;
  /** [rows] f32 from the forward */
  rrms: Binding;
  /** [rows, C] f32, written (or added to with accumulate) */
  dx: Binding;
  /** dx += the gradient instead of dx = it. */
  accumulate?: boolean;
}

function workgroupSize(rec: Recorder, C: number): number {
  const max = Math.min(rec.gpu.limits.maxComputeInvocationsPerWorkgroup, rec.gpu.limits.maxComputeWorkgroupSizeX);
  // A power of two (the tree reduction halves it) no larger than the row needs.
  let wg = 32;
  while (wg < 256 && wg < C && wg * 2 <= max) wg *= 2;
  return wg;
}

function constants(rec: Recorder, args: RmsnormShapeArgs) {
  if (args.weightF16 && !rec.gpu.features.f16) {
    throw new GpuError(`${args.label ?? 'rmsnorm'}: weightF16 needs the shader-f16 feature, which this device lacks`, args.label);
  }
  return {
    WG: workgroupSize(rec, args.C),
    W_TYPE: args.weightF16 ? 'f16' : 'f32',
    ENABLE_F16: args.weightF16 ? 'enable f16;' : '',
  };
}

/** out = x · rrms · w per row; saves rrms [rows]. */
export function rmsnormForward(rec: Recorder, args: RmsnormForwardArgs): void {
  const label = args.label ?? 'rmsnorm forward';
  rec.dispatch({
    kernel: rmsnormForwardKernel,
    label,
    constants: constants(rec, args),
    uniforms: new Uniforms().u32(args.rows).u32(args.C).u32(args.offsetW ?? 0).f32(args.eps).u32(0).u32(0).u32(0).u32(0),
    bindings: [args.x, args.weight, args.out, args.rrms],
    workgroups: gridRows(rec.gpu, args.rows, label),
  });
}

/** dx (+)= the gradient of RMSNorm with respect to its input. */
export function rmsnormBackward(rec: Recorder, args: RmsnormBackwardArgs): void {
  const label = args.label ?? 'rmsnorm backward';
  rec.dispatch({
    kernel: rmsnormBackwardKernel,
    label,
    constants: constants(rec, args),
    uniforms: new Uniforms().u32(args.rows).u32(args.C).u32(args.offsetW ?? 0).f32(args.eps).u32(args.accumulate ? 1 : 0).u32(0).u32(0).u32(0),
    bindings: [args.dy, args.x, args.weight, args.rrms, args.dx],
    workgroups: gridRows(rec.gpu, args.rows, label),
  });
}
