import type { Gpu } from '../../gpu/device';
import type { Binding, Recorder } from '../../gpu/recorder';
import { createBuffer } from '../../gpu/buffers';
import { globalGradNorm, gradNormPartialsLength, STEP_CONTROL_BYTES, type TokenCountSource } from '../gradnorm/gradnorm';
import { adamwStep } from './adamw';
import type { AdamwHyper } from './adamw.ref';

/** The flat f32 buffers of the trainable parameters and their optimizer state (see flatLayout.ts). */
export interface FlatOptimizerState {
  count: number;
  params: GPUBuffer;
  grads: GPUBuffer;
  m: GPUBuffer;
  v: GPUBuffer;
  /** Scratch for the gradient-norm reduction. */
  partials: GPUBuffer;
  /** STEP_CONTROL_BYTES: read it after each step with readStepControl. */
  control: GPUBuffer;
  destroy(): void;
}

/** Allocates zeroed flat buffers for `count` parameters (upload the initial params into `params`). */
export function createFlatOptimizerState(gpu: Gpu, count: number, label = 'lora'): FlatOptimizerState {
  const buffers = {
    params: createBuffer(gpu, `${label} params (flat)`, count * 4),
    grads: createBuffer(gpu, `${label} grads (flat)`, count * 4),
    m: createBuffer(gpu, `${label} adam m (flat)`, count * 4),
    v: createBuffer(gpu, `${label} adam v (flat)`, count * 4),
    partials: createBuffer(gpu, `${label} grad norm partials`, gradNormPartialsLength(gpu, count) * 4),
    control: createBuffer(gpu, `${label} step control`, STEP_CONTROL_BYTES),
  };
  return {
    count,
    ...buffers,
    destroy() {
      for (const b of Object.values(buffers)) b.destroy();
    },
  };
}

export interface OptimizerStepArgs extends AdamwHyper {
  state: FlatOptimizerState;
  /** f32 loss values at lossIndex (lossCount of them), and maybe the token count */
  stats: Binding;
  lossIndex: number;
  lossCount?: number;
  tokenCount: TokenCountSource;
  /** Global-norm clipping threshold; 0 disables. */
  maxNorm: number;
}

/**
 * The whole optimizer step on the GPU, recorded after the backward pass in the same Recorder:
 * grad norm → step control (clip scale, 1/token count, finite check) → AdamW, which skips the
 * update when the loss or the norm is not finite. Clear `state.grads` before the next step.
 */
export function optimizerStep(rec: Recorder, args: OptimizerStepArgs): void {
  const { state } = args;
  globalGradNorm(rec, {
    grads: state.grads,
    count: state.count,
    partials: state.partials,
    stats: args.stats,
    lossIndex: args.lossIndex,
    lossCount: args.lossCount,
    tokenCount: args.tokenCount,
    maxNorm: args.maxNorm,
    control: state.control,
  });
  adamwStep(rec, { ...args, params: state.params, grads: state.grads, m: state.m, v: state.v, control: state.control, count: state.count });
}
