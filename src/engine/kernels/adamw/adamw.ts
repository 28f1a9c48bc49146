import type { Binding, Recorder } from '../../gpu/recorder';
import type { Kernel } from '../../gpu/pipelines';
import { Uniforms } from '../../gpu/uniforms';
import { GpuError } from '../../gpu/errors';
import { elementwiseWorkgroupSize, grid1d } from '../elementwise/grid';
import { wgslSections } from '../elementwise/sections';
import { bindingChunks, chunkBinding } from '../gradnorm/chunks';
import { adamwScalars } from './adamw.ref';
import source from './adamw.wgsl?raw';

export const adamwCheckKernel: Kernel = { name: 'adamw_check', source: wgslSections(source, ['CHECK'], 'adamw.wgsl') };
export const adamwApplyKernel: Kernel = { name: 'adamw_apply', source: wgslSections(source, ['APPLY'], 'adamw.wgsl') };
export const adamwCountKernel: Kernel = { name: 'adamw_count', source: wgslSections(source, ['COUNT'], 'adamw.wgsl') };

/** The most bias-correction steps one recorded update can choose between (the Params uniform's vec4s). */
export const MAX_T_CANDIDATES = 4;

export interface AdamwArgs {
  /** [count] f32 flat parameters, updated in place */
  params: GPUBuffer;
  /** [count] f32 flat gradient sums */
  grads: GPUBuffer;
  /** [count] f32 first moments, updated in place (zeros before step 1) */
  m: GPUBuffer;
  /** [count] f32 second moments, updated in place (zeros before step 1) */
  v: GPUBuffer;
  /** The step-control buffer written by stepControl / globalGradNorm; its applied/skipped counters are updated. */
  control: Binding;
  count: number;
  lr: number;
  weightDecay?: number;
  /** Weight decay applies to elements [0, decayCount) only (default: all); the rest are biases and norms. */
  decayCount?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /**
   * The bias-correction steps this update may have: the GPU uses t = control.applied + 1, which the
   * caller knows lies in [tMin, tMin + tCount) (tCount > 1 while earlier steps' outcomes are still
   * on their way back). A caller that keeps no counter passes its t as tMin with tCount 1.
   */
  tMin: number;
  tCount?: number;
  /** Tests force small values to exercise the chunked path. */
  maxBindingBytes?: number;
  label?: string;
}

/**
 * One AdamW step over the flat buffers: check (no update that would be non-finite is written),
 * apply, count. Applies nothing when the control buffer says the step is not finite. One
 * dispatch per binding-sized chunk for check and apply (one for any LoRA set that fits a binding).
 */
export function adamwStep(rec: Recorder, args: AdamwArgs): void {
  const label = args.label ?? 'adamw';
  const tCount = args.tCount ?? 1;
  if (!(args.tMin >= 1) || !Number.isInteger(args.tMin)) throw new GpuError(`${label}: tMin must be an integer ≥ 1, got ${args.tMin}`, label);
  if (!Number.isInteger(tCount) || tCount < 1 || tCount > MAX_T_CANDIDATES) throw new GpuError(`${label}: tCount must be 1…${MAX_T_CANDIDATES}, got ${tCount}`, label);
  for (const b of [args.params, args.grads, args.m, args.v]) {
    if (b.size < args.count * 4) throw new GpuError(`${label}: buffer "${b.label}" holds ${b.size / 4} f32, needs ${args.count}`, label);
  }
  const stepSize: number[] = [];
  const sqrtBc2: number[] = [];
  let decay = 1;
  let h = adamwScalars({ ...args, step: args.tMin });
  for (let k = 0; k < MAX_T_CANDIDATES; k++) {
    h = adamwScalars({ ...args, step: args.tMin + Math.min(k, tCount - 1) });
    stepSize.push(h.stepSize);
    sqrtBc2.push(h.sqrtBc2);
    decay = h.decay;
  }
  const decayCount = args.decayCount ?? args.count;
  if (!Number.isInteger(decayCount) || decayCount < 0 || decayCount > args.count) throw new GpuError(`${label}: decayCount must be an integer in 0…${args.count}, got ${decayCount}`, label);
  // Each chunk sees its own part of the decayed prefix.
  const uniforms = (start: number, count: number) => {
    const chunkDecay = Math.max(0, Math.min(count, decayCount - start));
    const u = new Uniforms().u32(count).u32(args.tMin).u32(tCount).u32(chunkDecay).f32(decay).f32(h.beta1).f32(h.beta2).f32(h.eps);
    for (const x of stepSize) u.f32(x);
    for (const x of sqrtBc2) u.f32(x);
    return u;
  };
  const wg = elementwiseWorkgroupSize(rec.gpu);
  const chunks = bindingChunks(rec.gpu, args.count, args.maxBindingBytes);
  const single = chunks.length === 1;
  for (const kernel of [adamwCheckKernel, adamwApplyKernel]) {
    for (const chunk of chunks) {
      rec.dispatch({
        kernel,
        label: single ? `${label} ${kernel.name}` : `${label} ${kernel.name} @${chunk.start}`,
        constants: { WG: wg },
        uniforms: uniforms(chunk.start, chunk.length),
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
  rec.dispatch({ kernel: adamwCountKernel, label: `${label} count`, bindings: [args.control], workgroups: [1] });
}
