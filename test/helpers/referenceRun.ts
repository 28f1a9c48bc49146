/**
 * A training run in float64 on the CPU beside the GPU trainer (the same batches, the whole
 * network's gradients from llama.ref.ts, PyTorch's clipping and AdamW), and the small runs the
 * trainer tests share.
 */
import { arrayDataset, Batcher, type Example } from '../../src/data/batches';
import { llamaAdapterLayout } from '../../src/engine/model/llama';
import { llamaReference } from '../../src/engine/model/llama.ref';
import type { WeightMap } from '../../src/engine/model/types';
import { initAdapter } from '../../src/engine/model/lora';
import { adamwRef } from '../../src/engine/kernels/adamw/adamw.ref';
import { stepControlRef } from '../../src/engine/kernels/gradnorm/gradnorm.ref';
import { learningRate } from '../../src/engine/train/schedule';
import { MAX_IN_FLIGHT, type StepReport, type Trainer, type TrainLayout } from '../../src/engine/train/trainer';
import { DEFAULT_SETTINGS, TARGET_MODULES, type LoraSettings, type RunSettings } from '../../src/settings/settings';
import { SeededRng } from '../../src/engine/train/rng';
import type { tinySpec } from '../unit/engine/tinyModel';

export function examples(V: number, count: number, seed: number, maxLen = 10): Example[] {
  const rng = new SeededRng(seed);
  return Array.from({ length: count }, () => {
    const L = 3 + (rng.nextU32() % (maxLen - 2));
    const ids = Int32Array.from({ length: L }, () => 1 + (rng.nextU32() % (V - 2)));
    const lossMask = Uint8Array.from({ length: L }, (_, i) => (i < 2 ? 0 : 1));
    return { ids, lossMask };
  });
}

export const LORA: LoraSettings = { r: 2, alpha: 4, dropout: 0, targets: [...TARGET_MODULES], layers: null, useRslora: false };

export function settings(train: Partial<RunSettings['train']> = {}, lora: Partial<LoraSettings> = {}): RunSettings {
  return {
    ...DEFAULT_SETTINGS,
    lora: { ...LORA, ...lora },
    // warmup 0.15 of 20 steps = 3 warmup steps
    train: { ...DEFAULT_SETTINGS.train, learningRate: 5e-3, epochs: 100, maxSteps: 20, batchSize: 4, microBatch: 2, maxLength: 8, warmupRatio: 0.15, seed: 7, ...train },
  };
}

export const LAYOUT: TrainLayout = { microBatch: 2, gradAccum: 2, seqLen: 8, checkpointing: false, padId: 0 };

/** Every step of a trainer, pipelined as the run driver does it (MAX_IN_FLIGHT steps ahead). */
export async function runAll(trainer: Trainer, limit = Infinity): Promise<StepReport[]> {
  const out: StepReport[] = [];
  while (out.length + trainer.inFlight < limit && trainer.submit()) {
    if (trainer.inFlight >= MAX_IN_FLIGHT) out.push(await trainer.next());
  }
  out.push(...(await trainer.drain()));
  return out;
}

/**
 * The same run in float64 on the CPU: the same batches, gradients of the whole network from the
 * reference model, PyTorch's clipping and AdamW. `skip(batches)` marks steps the GPU must skip.
 */
export function referenceRun(s: RunSettings, layout: TrainLayout, spec: ReturnType<typeof tinySpec>, weights: WeightMap, data: ReturnType<typeof arrayDataset>, steps: number, skip: (micro: ReturnType<Batcher['next']>[]) => boolean = () => false) {
  const lay = llamaAdapterLayout(spec, s.lora);
  const params = Float64Array.from(initAdapter(lay, s.train.seed));
  const m = new Float64Array(lay.size);
  const v = new Float64Array(lay.size);
  const batcher = new Batcher(data, { batchSize: layout.microBatch, seqLen: layout.seqLen, padId: 0, seed: s.train.seed, epochs: s.train.epochs, shuffle: true });
  const losses: number[] = [];
  let t = 0;
  for (let step = 0; step < steps; step++) {
    const micro = Array.from({ length: layout.gradAccum }, () => batcher.next()!);
    if (skip(micro)) {
      losses.push(NaN);
      continue;
    }
    const targets = micro.reduce((a, b) => a + b!.targetTokens, 0);
    const grads = new Float64Array(lay.size);
    let loss = 0;
    for (const b of micro) {
      const r = llamaReference(spec, weights, b!, { adapter: { layout: lay, params }, grads: true, lossNormalizer: targets });
      loss += r.loss;
      for (let i = 0; i < grads.length; i++) grads[i] += r.grads![i];
    }
    losses.push(loss);
    const lr = learningRate({ kind: s.train.schedule, lr: s.train.learningRate, warmupSteps: Math.ceil(steps * s.train.warmupRatio), totalSteps: steps }, step);
    // The grads are already means over the step's target tokens (token count 1).
    adamwRef(params, grads, m, v, stepControlRef(grads, loss, 1, s.train.maxGradNorm), { lr, weightDecay: s.train.weightDecay, step: ++t });
  }
  return { losses, params, layout: lay };
}

