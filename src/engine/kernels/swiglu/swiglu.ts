import type { Binding, Recorder } from '../../gpu/recorder';
import type { Kernel } from '../../gpu/pipelines';
import { Uniforms } from '../../gpu/uniforms';
import { elementwiseWorkgroupSize, grid1d } from '../elementwise/grid';
import { wgslSections } from '../elementwise/sections';
import source from './swiglu.wgsl?raw';

export const swigluForwardKernel: Kernel = { name: 'swiglu_forward', source: wgslSections(source, ['FORWARD'], 'swiglu.wgsl') };
export const swigluBackwardKernel: Kernel = { name: 'swiglu_backward', source: wgslSections(source, ['BACKWARD'], 'swiglu.wgsl') };

export interface SwigluForwardArgs {
  /** [N, I] f32, gate_proj's output */
  gate: Binding;
  /** [N, I] f32, up_proj's output */
  up: Binding;
  /** [N, I] f32, down_proj's input */
  h: Binding;
  /** N·I */
  count: number;
  label?: string;
}

export interface SwigluBackwardArgs {
  /** [N, I] f32 */
  dh: Binding;
  /** [N, I] f32, saved from the forward */
  gate: Binding;
  /** [N, I] f32, saved from the forward */
  up: Binding;
  /** [N, I] f32, written */
  dgate: Binding;
  /** [N, I] f32, written */
  dup: Binding;
  count: number;
  label?: string;
}

/** h = silu(gate) · up */
export function swigluForward(rec: Recorder, args: SwigluForwardArgs): void {
  const label = args.label ?? 'swiglu forward';
  const wg = elementwiseWorkgroupSize(rec.gpu);
  rec.dispatch({
    kernel: swigluForwardKernel,
    label,
    constants: { WG: wg },
    uniforms: new Uniforms().u32(args.count),
    bindings: [args.gate, args.up, args.h],
    workgroups: grid1d(rec.gpu, args.count, wg, label),
  });
}

/** dgate, dup from dh (gate and up are the forward's inputs). */
export function swigluBackward(rec: Recorder, args: SwigluBackwardArgs): void {
  const label = args.label ?? 'swiglu backward';
  const wg = elementwiseWorkgroupSize(rec.gpu);
  rec.dispatch({
    kernel: swigluBackwardKernel,
    label,
    constants: { WG: wg },
    uniforms: new Uniforms().u32(args.count),
    bindings: [args.dh, args.gate, args.up, args.dgate, args.dup],
    workgroups: grid1d(rec.gpu, args.count, wg, label),
  });
}
