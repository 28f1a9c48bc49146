import type { Gpu } from '../../gpu/device';
import type { Binding, Recorder } from '../../gpu/recorder';
import type { Kernel } from '../../gpu/pipelines';
import { Uniforms } from '../../gpu/uniforms';
import { readBuffer } from '../../gpu/buffers';
import { GpuError } from '../../gpu/errors';
import { wgslSections } from '../elementwise/sections';
import { bindingChunks, chunkBinding } from './chunks';
import source from './gradnorm.wgsl?raw';
import { WORKGROUP_REDUCE_WGSL } from '../elementwise/reduce';

export const gradNormPartialsKernel: Kernel = { name: 'gradnorm_partials', source: wgslSections(source, ['PARTIALS'], 'gradnorm.wgsl') + WORKGROUP_REDUCE_WGSL };
export const stepControlKernel: Kernel = { name: 'step_control', source: wgslSections(source, ['CONTROL'], 'gradnorm.wgsl') + WORKGROUP_REDUCE_WGSL };
export const paramNormKernel: Kernel = { name: 'param_norm', source: wgslSections(source, ['PARAM_NORM'], 'gradnorm.wgsl') + WORKGROUP_REDUCE_WGSL };

/**
 * Bytes of the step-control buffer: 16 words. Words 0–7 are written by stepControl every step
 * (see StepControl); words 8–10 are the optimizer's running counters (updates applied, steps
 * skipped, updates rolled back), kept on the GPU across steps and updated by adamwStep.
 */
export const STEP_CONTROL_BYTES = 64;
// Word 11 holds Σ p² of the parameters after the step (paramSquares).
/** Most partial sums one chunk produces. */
export const MAX_PARTIAL_GROUPS = 2048;

export const STEP_FLAG_LOSS_NOT_FINITE = 1;
export const STEP_FLAG_NORM_NOT_FINITE = 2;
export const STEP_FLAG_NO_TOKENS = 4;
/** Set by adamwStep's check pass: the update would have made a parameter or moment non-finite (not applied). */
export const STEP_FLAG_UPDATE_NOT_FINITE = 8;

/** What the GPU decided about a step; read after the step with readStepControl. */
export interface StepControl {
  /** ‖grad / tokenCount‖₂ before clipping. */
  gradNorm: number;
  /** min(1, maxNorm / (gradNorm + 1e-6)), 1 without clipping. */
  clipScale: number;
  /** clipScale / tokenCount: what AdamW multiplied the raw gradient sums by. */
  gradScale: number;
  /** The update was applied (loss and norm finite, tokenCount > 0). */
  finite: boolean;
  /** lossSum / tokenCount: the mean loss of the step. */
  loss: number;
  tokenCount: number;
  /** STEP_FLAG_* bits. */
  flags: number;
  /** Σ grad² of the raw sums. */
  sumSq: number;
  /** Σ p² of the parameters after this step (written by paramSquares). */
  paramSumSq: number;
  /** Optimizer updates applied so far (AdamW's t after this step), steps skipped, updates rolled back. */
  applied: number;
  skipped: number;
  rolledBack: number;
  /** This step's update was written (finite loss, norm and update). */
  updated: boolean;
  /** Why the step was skipped, in words (empty when it was applied). */
  reasons: string[];
}

function workgroupSize(gpu: Gpu): number {
  const max = Math.min(gpu.limits.maxComputeInvocationsPerWorkgroup, gpu.limits.maxComputeWorkgroupSizeX);
  let wg = 1;
  while (wg * 2 <= Math.min(256, max)) wg *= 2;
  return wg;
}

function groupsFor(gpu: Gpu, length: number): number {
  return Math.max(1, Math.min(MAX_PARTIAL_GROUPS, Math.ceil(length / workgroupSize(gpu))));
}

/** Length of the partials buffer that gradNormPartials needs for `count` gradients. */
export function gradNormPartialsLength(gpu: Gpu, count: number, maxBindingBytes?: number): number {
  return bindingChunks(gpu, count, maxBindingBytes).reduce((sum, c) => sum + groupsFor(gpu, c.length), 0);
}

export interface GradNormPartialsArgs {
  /** [count] f32 flat gradient (sums over tokens) */
  grads: GPUBuffer;
  count: number;
  /** f32 [≥ partialsOffset + gradNormPartialsLength(count)] */
  partials: GPUBuffer;
  partialsOffset?: number;
  /** Tests force small values to exercise the chunked path. */
  maxBindingBytes?: number;
  label?: string;
}

/** Writes partial sums of squares of `grads`; returns how many it wrote (append the next buffer's after them). */
export function gradNormPartials(rec: Recorder, args: GradNormPartialsArgs): number {
  const label = args.label ?? 'grad norm partials';
  const wg = workgroupSize(rec.gpu);
  const chunks = bindingChunks(rec.gpu, args.count, args.maxBindingBytes);
  let offset = args.partialsOffset ?? 0;
  const needed = chunks.reduce((sum, c) => sum + groupsFor(rec.gpu, c.length), 0);
  if (args.partials.size < (offset + needed) * 4) {
    throw new GpuError(
      `${label}: partials buffer "${args.partials.label}" holds ${args.partials.size / 4} values, needs ${offset + needed} (see gradNormPartialsLength)`,
      label,
    );
  }
  for (const chunk of chunks) {
    const groups = groupsFor(rec.gpu, chunk.length);
    rec.dispatch({
      kernel: gradNormPartialsKernel,
      label: chunks.length === 1 ? label : `${label} @${chunk.start}`,
      constants: { WG: wg },
      uniforms: new Uniforms().u32(chunk.length).u32(offset).u32(0).u32(0).u32(0).u32(0).f32(0).f32(0).u32(0).u32(0).u32(0).u32(0),
      bindings: [chunkBinding(args.grads, chunk, chunks.length === 1), args.partials],
      workgroups: [groups],
    });
    offset += groups;
  }
  return offset - (args.partialsOffset ?? 0);
}

/**
 * Where the step's token count comes from: a number known on the CPU, or a u32/f32 word of a
 * buffer: `buffer` (e.g. the LM head's targetCount) or, without it, the stats buffer.
 */
export type TokenCountSource = number | { buffer?: Binding; index: number; type: 'u32' | 'f32' };

export interface StepControlArgs {
  /** f32 partial sums from gradNormPartials */
  partials: GPUBuffer;
  numPartials: number;
  /** The loss statistics: f32 loss values at lossIndex (e.g. the LM head's lossSum, or its rowLoss with lossCount N) */
  stats: Binding;
  lossIndex: number;
  /** How many f32 loss values to sum from lossIndex: 1 for a loss sum (default), N for per-token losses. */
  lossCount?: number;
  /** Divides the gradient sums and the loss sum (1 when grads are already means). */
  tokenCount: TokenCountSource;
  /** Global-norm clipping threshold (PyTorch default 1.0); 0 or Infinity disables clipping. */
  maxNorm: number;
  /** STEP_CONTROL_BYTES, written */
  control: Binding;
  label?: string;
}

/** Reduces the partials and writes the step-control buffer (norm, clip scale, finite flag). */
export function stepControl(rec: Recorder, args: StepControlArgs): void {
  const label = args.label ?? 'step control';
  const wg = workgroupSize(rec.gpu);
  const count = args.tokenCount;
  const mode = typeof count === 'number' ? 0 : count.type === 'u32' ? 1 : 2;
  const maxNorm = Number.isFinite(args.maxNorm) && args.maxNorm > 0 ? args.maxNorm : 0;
  rec.dispatch({
    kernel: stepControlKernel,
    label,
    constants: { WG: wg },
    uniforms: new Uniforms()
      .u32(0).u32(0).u32(args.numPartials).u32(args.lossIndex)
      .u32(mode).u32(typeof count === 'number' ? 0 : count.index).f32(typeof count === 'number' ? count : 0).f32(maxNorm)
      .u32(args.lossCount ?? 1).u32(0).u32(0).u32(0),
    bindings: [args.partials, args.stats, (typeof count === 'number' ? undefined : count.buffer) ?? args.stats, args.control],
    workgroups: [1],
  });
}

export interface GlobalGradNormArgs extends Omit<StepControlArgs, 'numPartials'> {
  grads: GPUBuffer;
  count: number;
  maxBindingBytes?: number;
}

/** gradNormPartials over one flat gradient buffer, then stepControl. */
export function globalGradNorm(rec: Recorder, args: GlobalGradNormArgs): void {
  const numPartials = gradNormPartials(rec, { grads: args.grads, count: args.count, partials: args.partials, maxBindingBytes: args.maxBindingBytes });
  stepControl(rec, { ...args, numPartials });
}

/** Writes Σ p² of a flat parameter buffer into word 11 of the step-control buffer (after AdamW). */
export function paramSquares(rec: Recorder, args: { params: GPUBuffer; count: number; partials: GPUBuffer; control: Binding }): void {
  const wg = workgroupSize(rec.gpu);
  const numPartials = gradNormPartials(rec, { grads: args.params, count: args.count, partials: args.partials, label: 'param norm partials' });
  rec.dispatch({
    kernel: paramNormKernel,
    label: 'param norm',
    constants: { WG: wg },
    uniforms: new Uniforms().u32(0).u32(0).u32(numPartials).u32(0).u32(0).u32(0).f32(0).f32(0).u32(0).u32(0).u32(0).u32(0),
    bindings: [args.partials, args.control],
    workgroups: [1],
  });
}

/** Decodes the 16 words of a step-control buffer. */
export function decodeStepControl(bytes: ArrayBuffer, byteOffset = 0): StepControl {
  const f = new Float32Array(bytes, byteOffset, 16);
  const u = new Uint32Array(bytes, byteOffset, 16);
  const flags = u[6];
  const reasons: string[] = [];
  if (flags & STEP_FLAG_LOSS_NOT_FINITE) reasons.push(`loss is not finite (${f[4]})`);
  if (flags & STEP_FLAG_NORM_NOT_FINITE) reasons.push(`gradient norm is not finite (${f[0]})`);
  if (flags & STEP_FLAG_NO_TOKENS) reasons.push(`token count ${f[5]} is not positive`);
  if (flags & STEP_FLAG_UPDATE_NOT_FINITE) reasons.push('the update would have made a parameter non-finite (rolled back)');
  return {
    gradNorm: f[0],
    clipScale: f[1],
    gradScale: f[2],
    finite: u[3] === 1,
    loss: f[4],
    tokenCount: f[5],
    flags,
    sumSq: f[7],
    paramSumSq: f[11],
    applied: u[8],
    skipped: u[9],
    rolledBack: u[10],
    updated: u[3] === 1 && (flags & STEP_FLAG_UPDATE_NOT_FINITE) === 0,
    reasons,
  };
}

/** Reads the control buffer back (at the end of a step, never mid-step). */
export async function readStepControl(gpu: Gpu, control: GPUBuffer, byteOffset = 0): Promise<StepControl> {
  return decodeStepControl(await readBuffer(gpu, control, byteOffset, STEP_CONTROL_BYTES));
}
