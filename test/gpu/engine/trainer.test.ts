import { describe, expect, it } from 'vitest';
import { arrayDataset, Batcher, type Example } from '../../../src/data/batches';
import { LlamaGpu } from '../../../src/engine/model/llama';
import { llamaReference } from '../../../src/engine/model/llama.ref';
import { adapterLayout, initAdapter, LORA_MODULES } from '../../../src/engine/model/lora';
import { adamwStepCpu, clipScale } from '../../../src/engine/train/adamw.cpu';
import { deserializeCheckpoint, serializeCheckpoint } from '../../../src/engine/train/checkpoint';
import { learningRate } from '../../../src/engine/train/schedule';
import { DEFAULT_TRAIN_CONFIG, Trainer, type TrainConfig } from '../../../src/engine/train/trainer';
import { SeededRng } from '../../../src/engine/train/rng';
import { expectClose } from '../../helpers/compare';
import { testGpu } from '../../helpers/gpu';
import { TOLERANCES } from '../../helpers/tolerances';
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
  it('20 AdamW steps with grad accumulation and clipping follow the float64 CPU trajectory', async () => {
    const gpu = await testGpu();
    const spec = tinySpec('qwen2');
    const weights = tinyWeights(spec, 41);
    const model = await LlamaGpu.load(gpu, spec, async (n) => weights.get(n)!, { f16: false });
    const data = arrayDataset(examples(spec.vocabSize, 12, 3));
    const cfg = config({ maxGradNorm: 0.5, lora: { r: 2, alpha: 4, dropout: 0, targets: ['q_proj', 'v_proj', 'down_proj'], layers: null, useRslora: false } });
    const trainer = new Trainer(gpu, model, data, cfg);
    const gpuLosses: number[] = [];
    for (let r = await trainer.trainStep(); r; r = await trainer.trainStep()) gpuLosses.push(r.loss);
    expect(gpuLosses.length).toBe(20);

    // The same run in float64 on the CPU.
    const layout = adapterLayout(spec, cfg.lora);
    const params = Float64Array.from(initAdapter(layout, cfg.seed));
    const m = new Float64Array(layout.size);
    const v = new Float64Array(layout.size);
    const batcher = new Batcher(data, { batchSize: cfg.batchSize, seqLen: cfg.seqLen, padId: 0, seed: cfg.seed, epochs: cfg.epochs, shuffle: true });
    const cpuLosses: number[] = [];
    for (let step = 0; step < 20; step++) {
      const micro = [batcher.next()!, batcher.next()!];
      const targets = micro[0].targetTokens + micro[1].targetTokens;
      const grads = new Float64Array(layout.size);
      let loss = 0;
      for (const b of micro) {
        const r = llamaReference(spec, weights, b, { adapter: { layout, params }, grads: true, lossNormalizer: targets });
        loss += r.loss;
        for (let i = 0; i < grads.length; i++) grads[i] += r.grads![i];
      }
      cpuLosses.push(loss);
      let sq = 0;
      for (const g of grads) sq += g * g;
      const lr = learningRate({ kind: 'linear', lr: cfg.lr, warmupSteps: 3, totalSteps: 20 }, step);
      adamwStepCpu(params, grads, m, v, step + 1, { lr, weightDecay: cfg.weightDecay, beta1: 0.9, beta2: 0.999, eps: 1e-8 }, clipScale(Math.sqrt(sq), cfg.maxGradNorm));
    }
    const result = expectClose(gpuLosses, cpuLosses, TOLERANCES.engineTrajectory, 'loss trajectory');
    console.log(`[trainer] 20-step loss trajectory: ${cpuLosses[0].toFixed(4)} → ${cpuLosses[19].toFixed(4)}; GPU vs float64 max abs error ${result.maxAbs.toExponential(2)}`);
    const init = initAdapter(layout, cfg.seed);
    expect(Math.max(...trainer.parameters().map((x, i) => Math.abs(x - init[i])))).toBeGreaterThan(1e-3); // the adapter moved
    expectClose(trainer.parameters(), params, { atol: 2e-4, rtol: 1e-3 }, 'adapter after 20 steps');
    trainer.destroy();
    model.destroy();
  });

  it('a run interrupted and resumed from its checkpoint ends with the same adapter as an uninterrupted run', async () => {
    const gpu = await testGpu();
    const spec = tinySpec('llama');
    const weights = tinyWeights(spec, 8);
    const model = await LlamaGpu.load(gpu, spec, async (n) => weights.get(n)!, { f16: false });
    const data = arrayDataset(examples(spec.vocabSize, 7, 5));
    const cfg = config({ maxSteps: null, epochs: 3, gradAccum: 1, lora: { r: 2, alpha: 4, dropout: 0.1, targets: ['q_proj', 'v_proj', 'o_proj'], layers: null, useRslora: false } });
    const whole = new Trainer(gpu, model, data, cfg);
    const wholeLosses: number[] = [];
    for (let r = await whole.trainStep(); r; r = await whole.trainStep()) wholeLosses.push(r.loss);
    const a = new Trainer(gpu, model, data, cfg);
    const losses: number[] = [];
    for (let i = 0; i < 5; i++) losses.push((await a.trainStep())!.loss);
    const bytes = serializeCheckpoint(a.state());
    a.destroy();
    const b = new Trainer(gpu, model, data, cfg, { resume: deserializeCheckpoint(bytes) });
    for (let r = await b.trainStep(); r; r = await b.trainStep()) losses.push(r.loss);
    expect(losses).toEqual(wholeLosses);
    expect(b.parameters()).toEqual(whole.parameters());
    expect(b.step).toBe(whole.step);
    whole.destroy();
    b.destroy();
    model.destroy();
  });

  it('a step whose loss is not finite is skipped and reported, never applied', async () => {
    const gpu = await testGpu();
    const spec = tinySpec('llama');
    const weights = tinyWeights(spec, 8);
    const data = arrayDataset(examples(spec.vocabSize, 4, 5));
    const bad = new Map(weights);
    const embed = Float32Array.from(weights.get('model.embed_tokens.weight')!);
    embed.fill(Number.POSITIVE_INFINITY, 0, spec.vocabSize * spec.hiddenSize); // every token's embedding is inf
    bad.set('model.embed_tokens.weight', embed);
    const model = await LlamaGpu.load(gpu, spec, async (n) => bad.get(n)!, { f16: false });
    const trainer = new Trainer(gpu, model, data, config({ maxSteps: 2, gradAccum: 1 }));
    const before = trainer.parameters();
    const r = (await trainer.trainStep())!;
    expect(r.skipped).toBe(true);
    expect(Number.isFinite(r.loss) && Number.isFinite(r.gradNorm)).toBe(false);
    expect(trainer.parameters()).toEqual(before);
    expect(trainer.state().skippedSteps).toBe(1);
    trainer.destroy();
    model.destroy();
  });
});
