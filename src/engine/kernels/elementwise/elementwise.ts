import type { Binding, Recorder } from '../../gpu/recorder';
import type { Kernel } from '../../gpu/pipelines';
import { Uniforms } from '../../gpu/uniforms';
import { GpuError } from '../../gpu/errors';
import { elementwiseWorkgroupSize, grid1d } from './grid';
import addSource from './add.wgsl?raw';
import axpySource from './axpy.wgsl?raw';
import scaleSource from './scale.wgsl?raw';

export const addKernel: Kernel = { name: 'add', source: addSource };
export const axpyKernel: Kernel = { name: 'axpy', source: axpySource };
export const scaleKernel: Kernel = { name: 'scale', source: scaleSource };

export interface AddArgs {
  /** [count] f32 */
  a: Binding;
  /** [count] f32 */
  b: Binding;
  /** [count] f32, a different buffer from a and b */
  out: Binding;
  count: number;
  alpha?: number;
  beta?: number;
  offsetA?: number;
  offsetB?: number;
  offsetOut?: number;
  label?: string;
}

/** out = alpha·a + beta·b (the residual add: alpha = beta = 1). */
export function addForward(rec: Recorder, args: AddArgs): void {
  const label = args.label ?? 'add';
  const wg = elementwiseWorkgroupSize(rec.gpu);
  rec.dispatch({
    kernel: addKernel,
    label,
    constants: { WG: wg },
    uniforms: new Uniforms()
      .u32(args.count).u32(args.offsetA ?? 0).u32(args.offsetB ?? 0).u32(args.offsetOut ?? 0)
      .f32(args.alpha ?? 1).f32(args.beta ?? 1).u32(0).u32(0),
    bindings: [args.a, args.b, args.out],
    workgroups: grid1d(rec.gpu, args.count, wg, label),
  });
}

export interface AxpyArgs {
  /** [count] f32 */
  x: Binding;
  /** [count] f32, read and written; a different buffer from x */
  y: Binding;
  count: number;
  alpha?: number;
  beta?: number;
  offsetX?: number;
  offsetY?: number;
  label?: string;
}

/** y = beta·y + alpha·x in place (dx_residual += dx_branch is alpha = beta = 1). */
export function axpy(rec: Recorder, args: AxpyArgs): void {
  const label = args.label ?? 'axpy';
  const wg = elementwiseWorkgroupSize(rec.gpu);
  rec.dispatch({
    kernel: axpyKernel,
    label,
    constants: { WG: wg },
    uniforms: new Uniforms()
      .u32(args.count).u32(args.offsetX ?? 0).u32(args.offsetY ?? 0).u32(0)
      .f32(args.alpha ?? 1).f32(args.beta ?? 1).u32(0).u32(0),
    bindings: [args.x, args.y],
    workgroups: grid1d(rec.gpu, args.count, wg, label),
  });
}

export interface ScaleArgs {
  /** [count] f32, read and written */
  x: Binding;
  count: number;
  offsetX?: number;
  label?: string;
}

/** x = scale·x in place. */
export function scale(rec: Recorder, args: ScaleArgs & { scale: number }): void {
  scaleFill(rec, args, args.scale, 0, false, args.label ?? 'scale');
}

/** x = value in place (x's old contents are never read). For 0, rec.clear is as good. */
export function fill(rec: Recorder, args: ScaleArgs & { value: number }): void {
  scaleFill(rec, args, 0, args.value, true, args.label ?? 'fill');
}

function scaleFill(rec: Recorder, args: ScaleArgs, s: number, value: number, isFill: boolean, label: string): void {
  const wg = elementwiseWorkgroupSize(rec.gpu);
  rec.dispatch({
    kernel: scaleKernel,
    label,
    constants: { WG: wg, FILL: isFill },
    uniforms: new Uniforms().u32(args.count).u32(args.offsetX ?? 0).f32(s).f32(value),
    bindings: [args.x],
    workgroups: grid1d(rec.gpu, args.count, wg, label),
  });
}

export interface CopyArgs {
  src: GPUBuffer;
  dst: GPUBuffer;
  /** f32 (or any 4-byte) elements */
  count: number;
  srcOffset?: number;
  dstOffset?: number;
  label?: string;
}

/** dst[dstOffset + i] = src[srcOffset + i], as a buffer copy (offsets in 4-byte elements). */
export function copy(rec: Recorder, args: CopyArgs): void {
  if (args.src === args.dst) {
    throw new GpuError(`copy "${args.label ?? 'copy'}": source and destination are the same buffer "${args.src.label}"`, args.label);
  }
  if (args.count === 0) return;
  rec.copy(args.src, (args.srcOffset ?? 0) * 4, args.dst, (args.dstOffset ?? 0) * 4, args.count * 4);
}
