/**
 * Launchers of GELU in its erf form (gelu.ref.ts has the math; erf.wgsl the f32 erf and its
 * accuracy). The forward saves nothing of its own: the backward reads the forward's input.
 */
import type { Binding, Recorder } from '../../gpu/recorder';
import type { Kernel } from '../../gpu/pipelines';
import { Uniforms } from '../../gpu/uniforms';
import { elementwiseWorkgroupSize, grid1d } from '../elementwise/grid';
import { rowGroups, rowWindow } from '../lora/windows';
import { wgslSections } from '../elementwise/sections';
import erfSource from './erf.wgsl?raw';
import source from './gelu.wgsl?raw';

/** WGSL library text (erf_f32, normal_cdf, normal_pdf); kernels that need them prepend it. */
export const ERF_WGSL = erfSource;

export const geluForwardKernel: Kernel = { name: 'gelu_forward', source: erfSource + wgslSections(source, ['FORWARD'], 'gelu.wgsl') };
export const geluBackwardKernel: Kernel = { name: 'gelu_backward', source: erfSource + wgslSections(source, ['BACKWARD'], 'gelu.wgsl') };
/** A test and debugging kernel: y = erf_f32(x), to measure erf.wgsl against float64. */
export const erfProbeKernel: Kernel = { name: 'erf_probe', source: erfSource + wgslSections(source, ['PROBE'], 'gelu.wgsl') };

export interface GeluForwardArgs {
  /** [N, I] f32, the intermediate dense layer's output */
  x: Binding;
  /** [N, I] f32, a different buffer from x */
  y: Binding;
  /** N·I */
  count: number;
  /** Overrides the device's binding limit (tests force windows with it). */
  maxBindingBytes?: number;
  label?: string;
}

export interface GeluBackwardArgs {
  /** [N, I] f32 */
  dy: Binding;
  /** [N, I] f32, the forward's input */
  x: Binding;
  /** [N, I] f32, written; may not be dy or x */
  dx: Binding;
  count: number;
  maxBindingBytes?: number;
  label?: string;
}

/**
 * One dispatch per binding-sized window of the count elements ([N, I] activations of a big batch
 * exceed 128 MiB: 16384 tokens × 3072 f32 is 192 MiB); windows start at aligned offsets.
 */
function launch(rec: Recorder, kernel: Kernel, count: number, bindings: Binding[], label: string, maxBindingBytes?: number): void {
  const wg = elementwiseWorkgroupSize(rec.gpu);
  const windows = rowGroups(rec.gpu, count, [1], label, maxBindingBytes);
  for (const [i0, n] of windows) {
    rec.dispatch({
      kernel,
      label,
      constants: { WG: wg },
      uniforms: new Uniforms().u32(n),
      bindings: windows.length === 1 ? bindings : bindings.map((b) => rowWindow(b, i0, n, 1)),
      workgroups: grid1d(rec.gpu, n, wg, label),
    });
  }
}

/** y = 0.5 · x · (1 + erf(x/√2)) */
export function geluForward(rec: Recorder, args: GeluForwardArgs): void {
  launch(rec, geluForwardKernel, args.count, [args.x, args.y], args.label ?? 'gelu forward', args.maxBindingBytes);
}

/** dx = dy · (Φ(x) + x·φ(x)) */
export function geluBackward(rec: Recorder, args: GeluBackwardArgs): void {
  launch(rec, geluBackwardKernel, args.count, [args.dy, args.x, args.dx], args.label ?? 'gelu backward', args.maxBindingBytes);
}

/** y = erf(x) as erf.wgsl computes it (tests and accuracy measurements). */
export function erfProbe(rec: Recorder, x: Binding, y: Binding, count: number): void {
  launch(rec, erfProbeKernel, count, [x, y], 'erf probe');
}
