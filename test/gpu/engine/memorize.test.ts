import { describe, expect, it } from 'vitest';
import { arrayDataset, type Example } from '../../../src/data/batches';
import { LlamaGpu } from '../../../src/engine/model/llama';
import { LORA_MODULES } from '../../../src/engine/model/lora';
import { DEFAULT_TRAIN_CONFIG, Trainer, evaluate, type TrainConfig } from '../../../src/engine/train/trainer';
import { SeededRng } from '../../../src/engine/train/rng';
import { testGpu } from '../../helpers/gpu';
import { tinySpec, tinyWeights } from '../../unit/engine/tinyModel';

function examples(V: number, count: number, seed: number, maxLen = 10): Example[] {
  const rng = new SeededRng(seed);
  return Array.from({ length: count }, () => {
    const L = 3 + (rng.nextU32() % (maxLen - 2));
    const ids = Int32Array.from({ length: L }, () => 1 + (rng.nextU32() % (V - 1)));
    const lossMask = Uint8Array.from({ length: L }, (_, i) => (i < 2 ? 0 : 1));
    return { ids, lossMask };
  });
}

const config = (over: Partial<TrainConfig> = {}): TrainConfig => ({
  ...DEFAULT_TRAIN_CONFIG,
  lora: { r: 2, alpha: 4, dropout: 0, targets: [...LORA_MODULES], layers: null, useRslora: false },
  lr: 5e-3,
  epochs: 100,
  maxSteps: 20,
  batchSize: 2,
  gradAccum: 2,
  seqLen: 8,
  warmupSteps: 3,
  seed: 7,
  ...over,
});

describe('trainer', () => {
  it('memorizes a small set: loss falls below 0.1', async () => {
    const gpu = await testGpu();
    const spec = tinySpec('llama', { hiddenSize: 32, numHeads: 4, numKvHeads: 2, headDim: 8, intermediateSize: 64, tieWordEmbeddings: true });
    const weights = tinyWeights(spec, 5);
    const model = await LlamaGpu.load(gpu, spec, async (n) => weights.get(n)!, { f16: false });
    const data = arrayDataset(examples(spec.vocabSize, 2, 11, 8).map((e) => ({ ...e, lossMask: e.lossMask.fill(1) })));
    const trainer = new Trainer(gpu, model, data, config({ lr: 1e-2, maxSteps: 30, batchSize: 2, gradAccum: 1, warmupSteps: 5, schedule: 'constant', weightDecay: 0, maxGradNorm: 1, lora: { r: 8, alpha: 32, dropout: 0, targets: [...LORA_MODULES], layers: null, useRslora: false } }));
    const first = (await trainer.trainStep())!.loss;
    let last = first;
    for (let r = await trainer.trainStep(); r; r = await trainer.trainStep()) last = r.loss;
    console.log(`[trainer] memorization: loss ${first.toFixed(3)} → ${last.toFixed(4)} in 30 steps`);
    expect(last).toBeLessThan(0.1);
    const ev = await evaluate(gpu, model, data, { batchSize: 2, seqLen: 8, padId: 0, adapter: trainer.adapter });
    expect(ev.loss).toBeLessThan(0.1);
    expect(ev.perplexity).toBeCloseTo(Math.exp(ev.loss), 10);
    const base = await evaluate(gpu, model, data, { batchSize: 2, seqLen: 8, padId: 0, adapter: null });
    expect(base.loss).toBeGreaterThan(2);
    trainer.destroy();
    model.destroy();
  });

});
