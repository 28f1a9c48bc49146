/**
 * The optimizer on the GPU: flat trainable parameters with their gradients and Adam moments, and
 * one recorded step = global gradient norm → step control (clip scale, finite check) → AdamW
 * check / apply / count → Σ p² of the parameters (for the divergence watch). Nothing is read back inside a step; the 64-byte step-control buffer holds
 * the step's scalars and the running counters, for the caller to copy out (see StepScalarsRing).
 */
import type { Gpu } from '../../gpu/device';
import type { Binding, Recorder } from '../../gpu/recorder';
import { createBuffer, readF32, readU32, writeBuffer } from '../../gpu/buffers';
import { globalGradNorm, gradNormPartialsLength, paramSquares, STEP_CONTROL_BYTES } from '../gradnorm/gradnorm';
import { adamwStep, MAX_T_CANDIDATES } from './adamw';

export interface OptimizerHyper {
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Global-norm clipping threshold; 0 disables. */
  maxGradNorm: number;
  /** Values [0, decayCount) get weight decay (AdapterLayout.decayCount); default all. */
  decayCount?: number;
}

export interface OptimizerSnapshot {
  params: Float32Array;
  m: Float32Array;
  v: Float32Array;
  /** Updates applied (AdamW's t so far), steps skipped, updates rolled back. */
  applied: number;
  skipped: number;
  rolledBack: number;
}

export interface RecordStepArgs {
  /** f32 loss sum of the step's target tokens (e.g. the LM head's lossSum, accumulated over micro-batches). */
  lossSum: Binding;
  /** Target tokens of the whole step: the gradients are sums over them. */
  tokenCount: number;
  lr: number;
  /** Range of t the step may have (see adamwStep). */
  tMin: number;
  tCount: number;
}

export class GpuOptimizer {
  readonly params: GPUBuffer;
  readonly grads: GPUBuffer;
  readonly m: GPUBuffer;
  readonly v: GPUBuffer;
  /** Scratch for the gradient-norm reduction. */
  readonly partials: GPUBuffer;
  /** STEP_CONTROL_BYTES: this step's scalars and the running counters. */
  readonly control: GPUBuffer;

  constructor(
    readonly gpu: Gpu,
    readonly count: number,
    readonly hyper: OptimizerHyper,
    label = 'adapter',
  ) {
    const make = (what: string, bytes: number) => createBuffer(gpu, `${label} ${what}`, bytes);
    this.params = make('params', count * 4);
    this.grads = make('grads', count * 4);
    this.m = make('adam m', count * 4);
    this.v = make('adam v', count * 4);
    this.partials = make('grad norm partials', gradNormPartialsLength(gpu, count) * 4);
    this.control = make('step control', STEP_CONTROL_BYTES);
  }

  /** Uploads parameters (and moments and counters when continuing a run; zeros otherwise). */
  load(state: { params: Float32Array; m?: Float32Array; v?: Float32Array; applied?: number; skipped?: number; rolledBack?: number }): void {
    for (const [name, a] of [['params', state.params], ['m', state.m], ['v', state.v]] as const) {
      if (a && a.length !== this.count) throw new RangeError(`optimizer ${name} has ${a.length} values, expected ${this.count}`);
    }
    writeBuffer(this.gpu, this.params, state.params);
    writeBuffer(this.gpu, this.m, state.m ?? new Float32Array(this.count));
    writeBuffer(this.gpu, this.v, state.v ?? new Float32Array(this.count));
    const control = new Uint32Array(STEP_CONTROL_BYTES / 4);
    control[8] = state.applied ?? 0;
    control[9] = state.skipped ?? 0;
    control[10] = state.rolledBack ?? 0;
    writeBuffer(this.gpu, this.control, control);
  }

  /** Clears the gradient sums (record before the step's first backward). */
  clearGrads(rec: Recorder): void {
    rec.clear(this.grads);
  }

  /** Records the whole optimizer step after the backward passes, in the same Recorder. */
  recordStep(rec: Recorder, a: RecordStepArgs): void {
    if (a.tCount > MAX_T_CANDIDATES) throw new RangeError(`${a.tCount} steps in flight; at most ${MAX_T_CANDIDATES - 1} may be unread`);
    globalGradNorm(rec, {
      grads: this.grads, count: this.count, partials: this.partials, stats: a.lossSum, lossIndex: 0,
      tokenCount: a.tokenCount, maxNorm: this.hyper.maxGradNorm, control: this.control,
    });
    adamwStep(rec, {
      params: this.params, grads: this.grads, m: this.m, v: this.v, control: this.control, count: this.count,
      lr: a.lr, weightDecay: this.hyper.weightDecay, decayCount: this.hyper.decayCount, beta1: this.hyper.beta1, beta2: this.hyper.beta2, eps: this.hyper.eps,
      tMin: a.tMin, tCount: a.tCount,
    });
    paramSquares(rec, { params: this.params, count: this.count, partials: this.partials, control: this.control });
  }

  /** Reads parameters, moments and counters (after the queue's work so far: a consistent step boundary). */
  async snapshot(): Promise<OptimizerSnapshot> {
    const [params, m, v, counters] = await Promise.all([
      readF32(this.gpu, this.params, this.count),
      readF32(this.gpu, this.m, this.count),
      readF32(this.gpu, this.v, this.count),
      readU32(this.gpu, this.control, 4, 8),
    ]);
    return { params, m, v, applied: counters[0], skipped: counters[1], rolledBack: counters[2] };
  }

  destroy(): void {
    for (const b of [this.params, this.grads, this.m, this.v, this.partials, this.control]) b.destroy();
  }
}
