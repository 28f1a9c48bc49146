// The run driver as the worker, the CLI and the bench drive it: plan, events, stop-and-keep,
// checkpoint bytes, resume to the identical adapter, refusals, and the adapter out and back in.
import { describe, expect, it } from 'vitest';
import { arrayDataset, type Example } from '../../../src/data/batches';
import { generateModel } from '../../../src/formats/generate';
import { memoryFiles } from '../../../src/formats/modelFolder';
import { loadModel } from '../../../src/engine/model/load';
import { exportAdapter, importAdapter } from '../../../src/engine/model/adapterFiles';
import { generateTokens } from '../../../src/engine/model/generate';
import { uploadAdapter } from '../../../src/engine/model/model';
import { evaluate } from '../../../src/engine/train/evaluate';
import { PlanError } from '../../../src/engine/train/memory';
import { RunControl, planTraining, runTraining, type RunEvent, type RunRequest } from '../../../src/engine/train/run';
import { DEFAULT_SETTINGS, type RunSettings } from '../../../src/settings/settings';
import { testGpu } from '../../helpers/gpu';

const examples: Example[] = Array.from({ length: 12 }, (_, i) => {
  const ids = Int32Array.from({ length: 7 }, (_, t) => 1 + ((i * 5 + t * 3) % 60));
  return { ids, lossMask: new Uint8Array(7).fill(1) };
});

const settings: RunSettings = {
  ...DEFAULT_SETTINGS,
  lora: { ...DEFAULT_SETTINGS.lora, r: 4, alpha: 8, dropout: 0.1 },
  train: { ...DEFAULT_SETTINGS.train, learningRate: 1e-2, maxSteps: 6, batchSize: 4, microBatch: 2, maxLength: 8, seed: 3 },
  eval: { evalInterval: 2, logInterval: 2, checkpointInterval: 0 },
};

describe('run driver', () => {
  it('plans, trains with events, stops and keeps, resumes from checkpoint bytes to the same adapter, exports and imports', async () => {
    const gpu = await testGpu();
    const files = generateModel({ architecture: 'qwen2', seed: 9, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, intermediateSize: 48, tokenizer: false, vocabSize: 64 });
    const loads: number[] = [];
    const loaded = await loadModel(gpu, memoryFiles(files, 'tiny-qwen2'), { onProgress: (l) => loads.push(l) });
    if (loaded.family !== 'llama') throw new Error('a Llama-family checkpoint loads as one');
    const { model, folder } = loaded;
    expect(folder.spec.architecture).toBe('qwen2');
    expect(loads.length).toBeGreaterThan(10);
    const limits = { budgetBytes: 1 << 30, maxBufferSize: gpu.limits.maxBufferSize };
    const data = { train: arrayDataset(examples), validation: arrayDataset(examples.slice(0, 2)), longestRow: 7 };

    // The planner: rows are cut to the data's longest row; a tiny budget gets advice and a fix.
    const plan = planTraining(model, settings, data, limits);
    expect(plan).toMatchObject({ fits: true, microBatch: 2, gradAccum: 2, seqLen: 7, checkpointing: false });
    const big = { ...settings, train: { ...settings.train, microBatch: 0, batchSize: 16, maxLength: 512, gradientCheckpointing: 'off' as const } };
    const budget = model.memoryPlan(big.lora, { batchSize: 4, seqLen: 512, gradientCheckpointing: false, kvCacheTokens: 0, stagedBatches: 4 }).total;
    const tight = planTraining(model, big, { longestRow: 512 }, { ...limits, budgetBytes: budget });
    expect(tight).toMatchObject({ fits: true, microBatch: 4, gradAccum: 4, seqLen: 512 });
    expect(tight.reasons.join(' ')).toMatch(/micro-batch \d+ × \d+ accumulation steps = batch 16/);
    const none = planTraining(model, settings, data, { ...limits, budgetBytes: 1000 });
    expect(none.fits).toBe(false);
    expect(none.advice).toMatch(/weights alone take/);
    await expect(runTraining({ model, data, settings, identity: { model: 'm', data: 'd' }, limits: { ...limits, budgetBytes: 1000 }, padId: 0 })).rejects.toThrow(PlanError);

    const base: Omit<RunRequest, 'onEvent'> = { model, data, settings, identity: { model: 'tiny-qwen2', data: 'rows' }, limits, padId: 0 };
    const whole = await runTraining(base);
    expect(whole).toMatchObject({ status: 'done', steps: 6, totalSteps: 6 });

    // Stop after step 3: the adapter so far is kept, a final checkpoint is emitted.
    const control = new RunControl();
    const events: RunEvent[] = [];
    let checkpoint: Uint8Array | null = null;
    const stopped = await runTraining({
      ...base,
      control,
      onEvent: (e) => {
        events.push(e);
        if (e.type === 'step' && e.report.step === 3) control.stop();
        if (e.type === 'checkpoint') checkpoint = e.bytes;
      },
    });
    expect(stopped.status).toBe('stopped');
    expect(stopped.steps).toBeGreaterThanOrEqual(3);
    expect(stopped.steps).toBeLessThan(6);
    const stepEvents = events.flatMap((e) => (e.type === 'step' ? [e.report.step] : []));
    expect(stepEvents).toEqual(Array.from({ length: stopped.steps }, (_, i) => i + 1));
    expect(events.filter((e) => e.type === 'eval').map((e) => (e as { step: number }).step)).toEqual([0, 2, ...(stopped.steps > 2 ? [stopped.steps === 4 ? 4 : stopped.steps] : [])].filter((v, i, a) => a.indexOf(v) === i));
    expect(checkpoint).not.toBeNull();

    // Resume: the same adapter as the uninterrupted run, to the bit.
    const resumed = await runTraining({ ...base, resume: checkpoint! });
    expect(resumed).toMatchObject({ status: 'done', steps: 6 });
    expect(Buffer.from(resumed.params.buffer).equals(Buffer.from(whole.params.buffer))).toBe(true);

    // A checkpoint resumes only with its own model, data and settings.
    await expect(runTraining({ ...base, identity: { model: 'other', data: 'rows' }, resume: checkpoint! })).rejects.toThrow(/another model or dataset/);
    await expect(runTraining({ ...base, settings: { ...settings, lora: { ...settings.lora, r: 8 } }, resume: checkpoint! })).rejects.toThrow(/other training settings/);

    // The adapter out as PEFT files and back in: the same outputs.
    const adapterFiles = exportAdapter(folder.spec, whole.layout, whole.params, 'tiny-qwen2');
    const back = await importAdapter(folder.spec, adapterFiles);
    expect(back.settings).toMatchObject({ r: 4, alpha: 8, targets: ['q_proj', 'v_proj'] });
    expect(back.params).toEqual(whole.params);
    const tuned = uploadAdapter(gpu, back.layout, back.params);
    const prompt = [5, 9, 11];
    const sampling = { maxNewTokens: 4, temperature: 0, topK: 0, topP: 1, seed: 0, eosTokenIds: [] };
    const withAdapter = await generateTokens(model, tuned, prompt, sampling);
    const withoutAdapter = await generateTokens(model, null, prompt, sampling);
    expect(withAdapter.length).toBe(4);
    expect(withoutAdapter.length).toBe(4);
    const evBase = await evaluate(model, data.train, { microBatch: 2, seqLen: 8, padId: 0, adapter: null });
    const evTuned = await evaluate(model, data.train, { microBatch: 2, seqLen: 8, padId: 0, adapter: tuned });
    expect(evTuned.loss).toBeLessThan(evBase.loss);
    tuned.destroy();
    model.destroy();
  });
});
