import type { Binding, Recorder } from '../../gpu/recorder';
import type { Kernel } from '../../gpu/pipelines';
import { Uniforms } from '../../gpu/uniforms';
import { GpuError } from '../../gpu/errors';
import { elementwiseWorkgroupSize, grid1d } from '../elementwise/grid';
import { bindingChunks, chunkBinding } from '../gradnorm/chunks';
import { adamwResolve, type AdamwHyper } from './adamw.ref';
import source from './adamw.wgsl?raw';

export const adamwKernel: Kernel = { name: 'adamw', source };

export interface AdamwArgs extends AdamwHyper {
  /** [count] f32 flat parameters, updated in place */
  params: GPUBuffer;
  /** [count] f32 flat gradient sums */
  grads: GPUBuffer;
  /** [count] f32 first moments, updated in place (zeros before step 1) */
  m: GPUBuffer;
  /** [count] f32 second moments, updated in place (zeros before step 1) */
  v: GPUBuffer;
  /** The step-control buffer written by stepControl / globalGradNorm */
  control: Binding;
  count: number;
  /** Tests force small values to exercise the chunked path. */
  maxBindingBytes?: number;
  label?: string;
}

/**
 * One AdamW step over the flat buffers, one dispatch per binding-sized chunk (one for any LoRA
 * set that fits a binding). Applies nothing when the control buffer says the step is not finite.
 */
export function adamwStep(rec: Recorder, args: AdamwArgs): void {
  const label = args.label ?? 'adamw';
  if (!(args.step >= 1) || !Number.isInteger(args.step)) throw new GpuError(`${label}: step must be an integer ≥ 1, got ${args.step}`, label);
  for (const b of [args.params, args.grads, args.m, args.v]) {
    if (b.size < args.count * 4) throw new GpuError(`${label}: buffer "${b.label}" holds ${b.size / 4} f32, needs ${args.count}`, label);
  }
  const h = adamwResolve(args);
  const wg = elementwiseWorkgroupSize(rec.gpu);
  const chunks = bindingChunks(rec.gpu, args.count, args.maxBindingBytes);
  const single = chunks.length === 1;
  for (const chunk of chunks) {
    rec.dispatch({
      kernel: adamwKernel,
      label: single ? label : `${label} @${chunk.start}`,
      constants: { WG: wg },
      uniforms: new Uniforms()
        .u32(chunk.length).u32(0).u32(0).u32(0)
        .f32(1 - h.lr * h.weightDecay).f32(h.beta1).f32(h.beta2).f32(h.eps)
        .f32(h.lr / h.bc1).f32(h.sqrtBc2).f32(0).f32(0),
      bindings: [
        chunkBinding(args.params, chunk, single),
        chunkBinding(args.grads, chunk, single),
        chunkBinding(args.m, chunk, single),
        chunkBinding(args.v, chunk, single),
        args.control,
      ],
      workgroups: grid1d(rec.gpu, chunk.length, wg, label),
    });
  }
}
