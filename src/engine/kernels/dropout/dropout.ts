/**
 * Launchers of hidden (activation) dropout, as Transformers trains encoders: inverted dropout with
 * a Philox mask keyed by (seed, site, step, token, feature), redrawn in the backward, after a
 * recomputation or a resume — never stored. dropout.ref.ts has the math, dropout.wgsl the geometry.
 */
import type { Binding, Recorder } from '../../gpu/recorder';
import type { Kernel } from '../../gpu/pipelines';
import { Uniforms } from '../../gpu/uniforms';
import { GpuError } from '../../gpu/errors';
import { dropoutThreshold, PHILOX_WGSL, type DropoutKey } from '../philox/philox';
import { wgslSections } from '../elementwise/sections';
import { rowGroups, rowWindow } from '../lora/windows';
import source from './dropout.wgsl?raw';

export type { DropoutKey } from '../philox/philox';

const kernel = (mode: string): Kernel => ({ name: `dropout_${mode.toLowerCase()}`, source: PHILOX_WGSL + wgslSections(source, [mode], 'dropout.wgsl') });
export const dropoutKernel = kernel('OUT');
export const dropoutResidualKernel = kernel('RESIDUAL');
export const dropoutInPlaceKernel = kernel('IN_PLACE');

/** A dropout probability or key the launchers cannot use; the message names it. */
export class DropoutArgumentError extends GpuError {}

export interface DropoutShapeArgs {
  /** Tokens (rows). */
  N: number;
  /** Features per token. */
  C: number;
  /** Probability of dropping, in [0, 1); 0 in place records nothing, otherwise a copy / add. */
  p: number;
  /** The mask's key; forward and backward of a micro-batch pass the same one. */
  key: DropoutKey;
  /** Overrides the device's binding limit (tests force token windows with it). */
  maxBindingBytes?: number;
  label?: string;
}

export interface DropoutForwardArgs extends DropoutShapeArgs {
  /** [N, C] f32; dropped in place when `out` is absent. */
  x: Binding;
  /** [N, C] f32, a different buffer from x and residual. */
  out?: Binding;
  /** [N, C] f32: out = drop(x) + residual (needs `out`). */
  residual?: Binding;
}

export interface DropoutBackwardArgs extends DropoutShapeArgs {
  /** [N, C] f32: the gradient with respect to the dropout's output; in place when `dx` is absent. */
  dy: Binding;
  /** [N, C] f32, a different buffer from dy. */
  dx?: Binding;
  /** dx += … instead of dx = … */
  accumulate?: boolean;
}

function check(a: DropoutShapeArgs, label: string): void {
  for (const name of ['N', 'C'] as const) {
    if (!Number.isInteger(a[name]) || a[name] < 1) throw new DropoutArgumentError(`${label}: ${name} must be a positive integer, got ${a[name]}`);
  }
  if (!(a.p >= 0 && a.p < 1)) throw new DropoutArgumentError(`${label}: dropout p must be in [0, 1), got ${a.p}`);
}

function record(rec: Recorder, a: DropoutShapeArgs, k: Kernel, buffers: Binding[], accumulate: boolean, label: string): void {
  const { N, C } = a;
  const groups = rowGroups(rec.gpu, N, [C], label, a.maxBindingBytes);
  for (const [n0, rows] of groups) {
    const count4 = rows * Math.ceil(C / 4);
    const blocks = Math.ceil(count4 / 256);
    const gx = Math.min(blocks, rec.gpu.limits.maxComputeWorkgroupsPerDimension);
    rec.dispatch({
      kernel: k,
      label,
      constants: { ACCUMULATE: accumulate },
      uniforms: new Uniforms()
        .u32(count4).u32(C).u32(a.key.seed >>> 0).u32(a.key.site >>> 0)
        .u32(a.key.step >>> 0).u32(dropoutThreshold(a.p)).f32(1 / (1 - a.p)).u32(n0),
      bindings: groups.length === 1 ? buffers : buffers.map((b) => rowWindow(b, n0, rows, C)),
      workgroups: [gx, Math.ceil(blocks / gx)],
    });
  }
}

/** out = x ⊙ mask/(1−p) (+ residual), or x in place. */
export function dropoutForward(rec: Recorder, a: DropoutForwardArgs): void {
  const label = a.label ?? 'dropout forward';
  check(a, label);
  if (a.residual && !a.out) throw new DropoutArgumentError(`${label}: a residual needs an out buffer`);
  if (a.residual) return record(rec, a, dropoutResidualKernel, [a.x, a.residual, a.out!], false, label);
  if (a.out) return record(rec, a, dropoutKernel, [a.x, a.out], false, label);
  if (a.p > 0) record(rec, a, dropoutInPlaceKernel, [a.x], false, label);
}

/** dx (=|+=) dy ⊙ mask/(1−p), the forward's mask redrawn from the same key; or dy in place. */
export function dropoutBackward(rec: Recorder, a: DropoutBackwardArgs): void {
  const label = a.label ?? 'dropout backward';
  check(a, label);
  if (a.accumulate && !a.dx) throw new DropoutArgumentError(`${label}: accumulate needs a dx buffer`);
  if (a.dx) return record(rec, a, dropoutKernel, [a.dy, a.dx], Boolean(a.accumulate), label);
  if (a.p > 0) record(rec, a, dropoutInPlaceKernel, [a.dy], false, label);
}
