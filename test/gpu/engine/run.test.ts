// The run driver as the worker, the CLI and the bench drive it: plan, events, stop-and-keep,
// checkpoint bytes, resume to the identical adapter, refusals, and the adapter out and back in.
import { describe, expect, it } from 'vitest';
import { arrayDataset, type Example } from '../../../src/data/batches';
import { generateModel } from '../../../src/formats/generate';
import { memoryFiles, type ModelFiles } from '../../../src/formats/modelFolder';
import { loadModel, openModel } from '../../../src/engine/model/load';
import type { TrainableModel } from '../../../src/engine/model/model';
import { exportAdapter, importAdapter } from '../../../src/engine/model/adapterFiles';
import { generateTokens } from '../../../src/engine/model/generate';
import { uploadAdapter } from '../../../src/engine/model/model';
import { evaluate } from '../../../src/engine/train/evaluate';
import { PlanError } from '../../../src/engine/train/memory';
import { RunControl, compileRun, planTraining, runTraining, type RunEvent, type RunRequest } from '../../../src/engine/train/run';
import { DEFAULT_SETTINGS, type RunSettings } from '../../../src/settings/settings';
import { testGpu } from '../../helpers/gpu';
import { tinyQwen2, tinyRunData, tinyRunSettings } from '../../helpers/tinyRun';

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

/**
 * The file's device, with a compile helper: where pipelines compile at their first dispatch
 * (lavapipe) the device's own queue is left to a load, and the helper compiles meanwhile.
 */
const device = () => testGpu({ label: 'compiling while loading', compileHelpers: 1 });

describe('run driver', () => {
  it('plans, trains with events, stops and keeps, resumes from checkpoint bytes to the same adapter, exports and imports', async () => {
    const gpu = await device();
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

// Compiling while the weights load (issue 16, item 5): openModel hands out a model whose buffers
// exist before any tensor is read, and runTraining's `loading` compiles the run's pipelines while
// the weights stream in. Checked on every adapter: with every tensor read held back until the
// compilation reports done, the run still compiles all its pipelines (it would wait forever if
// compiling needed the weights), then trains to the losses of a model loaded first (nf4 and f32
// bases); a load that fails while the run compiles ends the run with the load's typed error naming
// the tensor and leaves the device working; destroying a model while it loads stops the load. The
// time it saves is measured by bench/first-step.ts --overlap, not here. (An encoder's open path is
// every encoder test's load; the CLI's encoder test runs it while loading.)
/**
 * `files`, with every read of tensor data (past a safetensors header) held until `gate` resolves,
 * except the tensors whose names match `free`; `reads` counts the held reads that got through.
 */
function gated(files: Map<string, Uint8Array | string>, gate: Promise<void>, free?: RegExp): { files: ModelFiles; reads: () => number } {
  const inner = memoryFiles(files, 'gated');
  let reads = 0;
  return {
    reads: () => reads,
    files: {
      ...inner,
      async source(file) {
        const src = await inner.source(file);
        const bytes = files.get(file);
        if (!src || !file.endsWith('.safetensors') || typeof bytes === 'string' || !bytes) return src;
        const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
        const dataStart = 8 + headerLength;
        const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, dataStart))) as Record<string, { data_offsets?: [number, number] }>;
        const freeRanges = Object.entries(header).filter(([name, t]) => free?.test(name) && t.data_offsets).map(([, t]) => t.data_offsets!.map((o) => o + dataStart));
        return {
          ...src,
          read: async (offset: number, length: number) => {
            if (offset >= dataStart && !freeRanges.some(([b, e]) => offset >= b && offset + length <= e)) {
              await gate;
              reads++;
            }
            return src.read(offset, length);
          },
        };
      },
    },
  };
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

async function losses(model: TrainableModel<unknown, never>, data: unknown, s: RunSettings, loading?: Promise<unknown>, onEvent?: (e: RunEvent) => void): Promise<number[]> {
  const out: number[] = [];
  await runTraining<unknown, never>({
    model, data: data as never, settings: s, identity: { model: 'm', data: 'd' }, limits: loadingLimits, padId: 0, loading,
    onEvent: (e) => {
      onEvent?.(e);
      if (e.type === 'step') out.push(e.report.loss);
    },
  });
  return out;
}

const loadingLimits = { budgetBytes: 1 << 30, maxBufferSize: 1 << 28 };

/** `got` are the three finite losses of the tiny model loaded first and then run with `s` (on `gpu`, whose pipelines are cached by now), and the device reported no error. */
async function expectLossesOfModelLoadedFirst(gpu: Awaited<ReturnType<typeof device>>, got: number[], s: RunSettings, weights?: 'nf4'): Promise<void> {
  const first = await loadModel(gpu, memoryFiles(tinyQwen2(), 'tiny'), weights ? { weights } : undefined);
  const expected = await losses(first.model as never, tinyRunData, s);
  first.model.destroy();
  expect(got).toHaveLength(3);
  expect(got.every(Number.isFinite)).toBe(true);
  expect(got).toEqual(expected);
  expect(gpu.takeUncapturedErrors()).toEqual([]);
}

describe('compiling while the weights load', () => {
  it('an nf4 base quantized as it streams in: the run compiles while no tensor has been read, with the load\'s progress to the last byte, and trains to the losses of a model loaded first', async () => {
    const gpu = await device();
    const s: RunSettings = { ...tinyRunSettings, train: { ...tinyRunSettings.train, weights: 'nf4' } };
    const gate = deferred();
    const source = gated(tinyQwen2(), gate.promise);
    const progress: number[] = [];
    const opened = await openModel(gpu, source.files, { weights: 'nf4', onProgress: (loaded) => progress.push(loaded) });
    expect(opened.family).toBe('llama');
    expect(opened.model.description.weightFormat).toBe('nf4');
    let compiled: { total: number; reads: number } | null = null;
    const got = await losses(opened.model as never, tinyRunData, s, opened.loaded, (e) => {
      if (e.type !== 'compile' || e.done !== e.total || compiled) return;
      compiled = { total: e.total, reads: source.reads() };
      gate.resolve();
    });
    expect(compiled).toEqual({ total: expect.any(Number), reads: 0 });
    // The quantized kernels are new on this device (the run driver's test above compiled the rest).
    expect(compiled!.total).toBeGreaterThan(0);
    expect(Math.max(...progress)).toBe(opened.bytes);
    opened.model.destroy();
    // The reference on the same device (its pipelines now cached): the model loaded, then the run.
    await expectLossesOfModelLoadedFirst(gpu, got, s, 'nf4');
  });

  it('compileRun reports its progress while no tensor has been read; the run after it compiles nothing and trains to the losses of a model loaded first (f32 base)', async () => {
    // The f32 kernels the nf4 run did not use are compiled here.
    const gpu = await device();
    const gate = deferred();
    const source = gated(tinyQwen2(), gate.promise);
    const opened = await openModel(gpu, source.files);
    const seen: { done: number; total: number; reads: number }[] = [];
    const compiled = await compileRun({ model: opened.model as never, data: tinyRunData as never, settings: tinyRunSettings, limits: loadingLimits, padId: 0, loading: opened.loaded }, (done, total) => {
      seen.push({ done, total, reads: source.reads() });
      if (done === total) gate.resolve();
    });
    const total = compiled.pipelines;
    expect(seen[0]).toEqual({ done: 0, total, reads: 0 });
    expect(seen.at(-1)).toEqual({ done: total, total, reads: 0 });
    // Each pipeline reported once, in order.
    expect(seen.map((s) => s.done)).toEqual(Array.from({ length: total + 1 }, (_, i) => i));
    expect(source.reads()).toBeGreaterThan(0);
    // The run afterwards finds every pipeline compiled, and trains to the losses of a model loaded first.
    const compile: number[] = [];
    const got = await losses(opened.model as never, tinyRunData, tinyRunSettings, undefined, (e) => void (e.type === 'compile' && compile.push(e.total)));
    expect(compile.every((t) => t === 0)).toBe(true);
    opened.model.destroy();
    await expectLossesOfModelLoadedFirst(gpu, got, tinyRunSettings);
  });

  it('a load that fails while the run compiles ends the run with the load\'s error naming the tensor; the device goes on working', async () => {
    const gpu = await device();
    const files = tinyQwen2();
    // A NaN in the first layer's down_proj, where the bytes of that tensor start.
    const name = 'model.safetensors';
    const bytes = Uint8Array.from(files.get(name) as Uint8Array);
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as Record<string, { dtype: string; data_offsets: [number, number] }>;
    const t = header['model.layers.0.mlp.down_proj.weight'];
    expect(t.dtype).toBe('F32');
    new DataView(bytes.buffer).setFloat32(8 + headerLength + t.data_offsets[0] + 4 * 5, NaN, true);
    files.set(name, bytes);
    const opened = await openModel(gpu, memoryFiles(files, 'poisoned'));
    const events: string[] = [];
    await expect(losses(opened.model as never, tinyRunData, tinyRunSettings, opened.loaded, (e) => void events.push(e.type))).rejects.toThrow(/tensor "model\.layers\.0\.mlp\.down_proj\.weight" holds a non-finite value \(NaN or Inf\) at index 5/);
    expect(events).not.toContain('step');
    await expect(opened.loaded).rejects.toThrow(/non-finite/);
    // The device and a well-formed model still train.
    const good = await loadModel(gpu, memoryFiles(tinyQwen2(), 'tiny'));
    const after = await losses(good.model as never, tinyRunData, tinyRunSettings);
    expect(after.every(Number.isFinite)).toBe(true);
    good.model.destroy();
    expect(gpu.takeUncapturedErrors()).toEqual([]);
  });

  it('destroying a model while its weights load stops the load with a clear error', async () => {
    const gpu = await device();
    const gate = deferred();
    const source = gated(tinyQwen2(), gate.promise);
    const opened = await openModel(gpu, source.files);
    opened.model.destroy();
    gate.resolve();
    await expect(opened.loaded).rejects.toThrow(/the model was destroyed while its weights loaded/);
    expect(source.reads()).toBeLessThanOrEqual(1);
    expect(gpu.takeUncapturedErrors()).toEqual([]);
  });
});
