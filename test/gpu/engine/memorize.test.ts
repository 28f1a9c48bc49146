import { describe, expect, it } from 'vitest';
import { arrayDataset, type Example } from '../../../src/data/batches';
import { LlamaGpu } from '../../../src/engine/model/llama';
import { evaluate } from '../../../src/engine/train/evaluate';
import { runTraining, type RunEvent } from '../../../src/engine/train/run';
import { DEFAULT_SETTINGS, TARGET_MODULES, type RunSettings } from '../../../src/settings/settings';
import { SeededRng } from '../../../src/engine/train/rng';
import { uploadAdapter } from '../../../src/engine/model/model';
import { testGpu } from '../../helpers/gpu';
import { tinySpec, tinyWeights } from '../../unit/engine/tinyModel';

function examples(V: number, count: number, seed: number, maxLen = 10): Example[] {
  const rng = new SeededRng(seed);
  return Array.from({ length: count }, () => {
    const L = 3 + (rng.nextU32() % (maxLen - 2));
    const ids = Int32Array.from({ length: L }, () => 1 + (rng.nextU32() % (V - 1)));
    return { ids, lossMask: new Uint8Array(L).fill(1) };
  });
}

describe('the run driver', () => {
  it('memorizes a small set through runTraining: loss falls below 0.1, and evaluation agrees', async () => {
    const gpu = await testGpu();
    const spec = tinySpec('llama', { hiddenSize: 32, numHeads: 4, numKvHeads: 2, headDim: 8, intermediateSize: 64, tieWordEmbeddings: true });
    const weights = tinyWeights(spec, 5);
    const model = await LlamaGpu.load(gpu, spec, async (n) => weights.get(n)!, { weights: 'f32' });
    const data = arrayDataset(examples(spec.vocabSize, 2, 11, 8));
    const settings: RunSettings = {
      ...DEFAULT_SETTINGS,
      lora: { r: 8, alpha: 32, dropout: 0, targets: [...TARGET_MODULES], layers: null, useRslora: false },
      train: { ...DEFAULT_SETTINGS.train, learningRate: 1e-2, maxSteps: 30, batchSize: 2, microBatch: 0, maxLength: 8, warmupRatio: 5 / 30, schedule: 'constant', weightDecay: 0 },
      eval: { evalInterval: 10, logInterval: 5, checkpointInterval: 15 },
    };
    const events: RunEvent[] = [];
    const outcome = await runTraining({
      model, data: { train: data, validation: data, longestRow: 8 }, settings, identity: { model: 'tiny', data: 'two rows' },
      limits: { budgetBytes: 1 << 30, maxBufferSize: gpu.limits.maxBufferSize }, padId: 0, onEvent: (e) => void events.push(e),
    });
    const steps = events.flatMap((e) => (e.type === 'step' ? [e.report] : []));
    expect(steps.map((r) => r.step)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    const first = steps[0].loss;
    const last = steps.at(-1)!.loss;
    console.log(`[run] memorization: loss ${first.toFixed(3)} → ${last.toFixed(4)} in 30 steps`);
    expect(last).toBeLessThan(0.1);
    expect(outcome).toMatchObject({ status: 'done', steps: 30, totalSteps: 30, skippedSteps: 0 });
    expect(events.filter((e) => e.type === 'log').map((e) => (e as { step: number }).step)).toEqual([5, 10, 15, 20, 25, 30]);
    expect(events.filter((e) => e.type === 'eval').map((e) => (e as { step: number }).step)).toEqual([0, 10, 20, 30]);
    expect(events.filter((e) => e.type === 'checkpoint').map((e) => (e as { step: number }).step)).toEqual([15, 30]);
    const plan = events.find((e) => e.type === 'plan');
    expect(plan && plan.type === 'plan' && plan.plan.microBatch).toBe(2);
    const adapter = uploadAdapter(gpu, outcome.layout, outcome.params);
    const ev = await evaluate(model, data, { microBatch: 2, seqLen: 8, padId: 0, adapter });
    expect(ev.loss).toBeLessThan(0.1);
    expect(ev.metrics.eval_perplexity).toBeCloseTo(Math.exp(ev.loss), 10);
    expect(ev.metrics.eval_accuracy).toBeGreaterThan(0.95); // memorized: the label is the argmax almost everywhere
    expect(outcome.finalEval!.loss).toBeCloseTo(ev.loss, 5);
    const base = await evaluate(model, data, { microBatch: 2, seqLen: 8, padId: 0, adapter: null });
    expect(base.loss).toBeGreaterThan(2);
    adapter.destroy();
    model.destroy();
  });
});
