/**
 * Launchers of tanh and ReLU (activation.ref.ts has the math): the classification heads' activations.
 * The forward's output y is what the backward reads.
 */
import type { Binding, Recorder } from '../../gpu/recorder';
import type { Kernel } from '../../gpu/pipelines';
import { Uniforms } from '../../gpu/uniforms';
import { elementwiseWorkgroupSize, grid1d } from '../elementwise/grid';
import { wgslSections } from '../elementwise/sections';
import type { Activation } from './activation.ref';
import source from './activation.wgsl?raw';

export type { Activation } from './activation.ref';

export const activationForwardKernel: Kernel = { name: 'activation_forward', source: wgslSections(source, ['FORWARD'], 'activation.wgsl') };
export const activationBackwardKernel: Kernel = { name: 'activation_backward', source: wgslSections(source, ['BACKWARD'], 'activation.wgsl') };

export interface ActivationForwardArgs {
  /** [count] f32 */
  x: Binding;
  /** [count] f32, a different buffer from x; saved for backward */
  y: Binding;
  count: number;
  label?: string;
}

export interface ActivationBackwardArgs {
  /** [count] f32 */
  dy: Binding;
  /** [count] f32, the forward's OUTPUT */
  y: Binding;
  /** [count] f32, written; may not be dy or y */
  dx: Binding;
  count: number;
  label?: string;
}

function launch(rec: Recorder, kernel: Kernel, act: Activation, count: number, bindings: Binding[], label: string): void {
  const wg = elementwiseWorkgroupSize(rec.gpu);
  rec.dispatch({
    kernel,
    label,
    constants: { WG: wg, ACT_TANH: act === 'tanh' },
    uniforms: new Uniforms().u32(count),
    bindings,
    workgroups: grid1d(rec.gpu, count, wg, label),
  });
}

/** y = tanh(x) */
export function tanhForward(rec: Recorder, a: ActivationForwardArgs): void {
  launch(rec, activationForwardKernel, 'tanh', a.count, [a.x, a.y], a.label ?? 'tanh forward');
}

/** dx = dy · (1 − y²) */
export function tanhBackward(rec: Recorder, a: ActivationBackwardArgs): void {
  launch(rec, activationBackwardKernel, 'tanh', a.count, [a.dy, a.y, a.dx], a.label ?? 'tanh backward');
}

/** y = max(x, 0) */
export function reluForward(rec: Recorder, a: ActivationForwardArgs): void {
  launch(rec, activationForwardKernel, 'relu', a.count, [a.x, a.y], a.label ?? 'relu forward');
}

/** dx = dy · [y > 0] */
export function reluBackward(rec: Recorder, a: ActivationBackwardArgs): void {
  launch(rec, activationBackwardKernel, 'relu', a.count, [a.dy, a.y, a.dx], a.label ?? 'relu backward');
}
