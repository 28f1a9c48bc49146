// Compiling while the weights load (issue 16, item 5): openModel hands out a model whose buffers
// exist before any tensor is read, and runTraining's `loading` compiles the run's pipelines while
// the weights stream in. What is checked, on every adapter:
// - the overlap is real: with every tensor read held back until the compilation reports done, the
//   run still compiles all its pipelines (it would wait forever if compiling needed the weights),
//   then trains to the same losses as a model loaded first (f32 and nf4 bases, and an encoder);
// - a load that fails while the run compiles ends the run with the load's typed error naming the
//   tensor, destroys the model, and leaves the device working;
// - destroying a model while it loads stops the load with a clear error.
// The time it saves is measured by bench/first-step.ts --loading, not here.
import { describe, expect, it } from 'vitest';
import { ClassificationStore } from '../../../src/data/classify';
import { generateEncoderModel } from '../../../src/formats/generateEncoder';
import { memoryFiles, type ModelFiles } from '../../../src/formats/modelFolder';
import { loadModel, openModel, type LoadedModel } from '../../../src/engine/model/load';
import type { TrainableModel } from '../../../src/engine/model/model';
import { compileRun, runTraining, type RunEvent } from '../../../src/engine/train/run';
import type { RunSettings } from '../../../src/settings/settings';
import { testGpu } from '../../helpers/gpu';
import { tinyQwen2, tinyRunData, tinyRunSettings } from '../../helpers/tinyRun';

const settings = tinyRunSettings;
const limits = { budgetBytes: 1 << 30, maxBufferSize: 1 << 28 };
const decoderData = tinyRunData;

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
    model, data: data as never, settings: s, identity: { model: 'm', data: 'd' }, limits, padId: 0, loading,
    onEvent: (e) => {
      onEvent?.(e);
      if (e.type === 'step') out.push(e.report.loss);
    },
  });
  return out;
}

/**
 * One device for the file (the later tests reuse the pipelines the first one compiled), with a
 * compile helper: where pipelines compile at their first dispatch (lavapipe) the device's own queue
 * is left to the load, and the helper compiles meanwhile.
 */
const device = () => testGpu({ label: 'compiling while loading', compileHelpers: 1 });

describe('compiling while the weights load', () => {
  it('on a fresh pipeline cache, compiles all of a run\'s pipelines with progress while no tensor has been read, then trains to the losses of a model loaded first (f32 base)', async () => {
    // The file's own device, and this test first on it: no pipeline is cached yet.
    const gpu = await device();
    const gate = deferred();
    const source = gated(tinyQwen2(), gate.promise);
    const opened = await openModel(gpu, source.files);
    const seen: { done: number; total: number; reads: number }[] = [];
    const compiled = await compileRun({ model: opened.model as never, data: decoderData as never, settings, limits, padId: 0, loading: opened.loaded }, (done, total) => {
      seen.push({ done, total, reads: source.reads() });
      if (done === total) gate.resolve();
    });
    const total = compiled.pipelines;
    expect(total).toBeGreaterThan(10);
    expect(seen[0]).toEqual({ done: 0, total, reads: 0 });
    expect(seen.at(-1)).toEqual({ done: total, total, reads: 0 });
    // Each pipeline reported once, in order.
    expect(seen.map((s) => s.done)).toEqual(Array.from({ length: total + 1 }, (_, i) => i));
    expect(source.reads()).toBeGreaterThan(0);
    // The run afterwards finds every pipeline compiled, and trains to the losses of a model loaded first.
    const compile: number[] = [];
    const got = await losses(opened.model as never, decoderData, settings, undefined, (e) => void (e.type === 'compile' && compile.push(e.total)));
    expect(compile.every((t) => t === 0)).toBe(true);
    opened.model.destroy();
    const first = await loadModel(gpu, memoryFiles(tinyQwen2(), 'tiny'));
    const expected = await losses(first.model as never, decoderData, settings);
    first.model.destroy();
    expect(got).toHaveLength(3);
    expect(got.every(Number.isFinite)).toBe(true);
    expect(got).toEqual(expected);
    expect(gpu.takeUncapturedErrors()).toEqual([]);
  });

  it('an nf4 base quantized as it streams in: the run compiles while no tensor has been read, with the load\'s progress to the last byte, and trains to the losses of a model loaded first', async () => {
    const gpu = await device();
    const s: RunSettings = { ...settings, train: { ...settings.train, weights: 'nf4' } };
    const gate = deferred();
    const source = gated(tinyQwen2(), gate.promise);
    const progress: number[] = [];
    const opened = await openModel(gpu, source.files, { weights: 'nf4', onProgress: (loaded) => progress.push(loaded) });
    expect(opened.family).toBe('llama');
    expect(opened.model.description.weightFormat).toBe('nf4');
    let compiled: { total: number; reads: number } | null = null;
    const got = await losses(opened.model as never, decoderData, s, opened.loaded, (e) => {
      if (e.type !== 'compile' || e.done !== e.total || compiled) return;
      compiled = { total: e.total, reads: source.reads() };
      gate.resolve();
    });
    expect(compiled).toEqual({ total: expect.any(Number), reads: 0 });
    // The quantized kernels are new on this device (the f32 run before compiled the rest).
    expect(compiled!.total).toBeGreaterThan(0);
    expect(Math.max(...progress)).toBe(opened.bytes);
    opened.model.destroy();
    // The reference on the same device (its pipelines now cached): the model loaded, then the run.
    const first = await loadModel(gpu, memoryFiles(tinyQwen2(), 'tiny'), { weights: 'nf4' });
    const expected = await losses(first.model as never, decoderData, s);
    first.model.destroy();
    expect(got).toHaveLength(3);
    expect(got.every(Number.isFinite)).toBe(true);
    expect(got).toEqual(expected);
    expect(gpu.takeUncapturedErrors()).toEqual([]);
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
    await expect(losses(opened.model as never, decoderData, settings, opened.loaded, (e) => void events.push(e.type))).rejects.toThrow(/tensor "model\.layers\.0\.mlp\.down_proj\.weight" holds a non-finite value \(NaN or Inf\) at index 5/);
    expect(events).not.toContain('step');
    await expect(opened.loaded).rejects.toThrow(/non-finite/);
    // The device and a well-formed model still train.
    const good = await loadModel(gpu, memoryFiles(tinyQwen2(), 'tiny'));
    const after = await losses(good.model as never, decoderData, settings);
    expect(after.every(Number.isFinite)).toBe(true);
    good.model.destroy();
    expect(gpu.takeUncapturedErrors()).toEqual([]);
  });

  it('an encoder compiles while it loads and trains to the losses of one loaded first', async () => {
    const gpu = await device();
    const task = { problemType: 'single_label_classification' as const, labels: ['a', 'b'] };
    const gen = () => generateEncoderModel({ corpus: 'the cat sat on the mat. a dog ran in the park. birds fly over the sea.', family: 'bert', seed: 4, hiddenSize: 32, numLayers: 2, numHeads: 4, intermediateSize: 48, tokenizerVocabSize: 200, maxPositionEmbeddings: 32 }).files;
    const store = new ClassificationStore(200);
    for (let i = 0; i < 8; i++) store.push({ ids: Int32Array.from({ length: 6 }, (_, t) => 5 + ((i * 13 + t * 7) % 60)), tokenTypeIds: new Uint8Array(6) }, i + 1);
    store.labels = { task: 'single_label', names: ['a', 'b'], numLabels: 2, values: Int32Array.from({ length: 8 }, (_, i) => i % 2) };
    const data = { train: store, validation: null, longestRow: 6 };
    const s: RunSettings = { ...settings, train: { ...settings.train, maxLength: 8 } };
    const gate = deferred();
    // The head's few tensors are read before openModel returns (a run's adapter starts from them).
    const source = gated(gen(), gate.promise, /pooler|classifier/);
    const opened: LoadedModel & { loaded: Promise<void> } = await openModel(gpu, source.files, { task, seed: 3 });
    expect(opened.family).toBe('encoder');
    let readsAtCompiled = -1;
    const got = await losses(opened.model as never, data, s, opened.loaded, (e) => {
      if (e.type !== 'compile' || e.done !== e.total || readsAtCompiled >= 0) return;
      readsAtCompiled = source.reads();
      gate.resolve();
    });
    expect(readsAtCompiled).toBe(0);
    expect(source.reads()).toBeGreaterThan(10);
    opened.model.destroy();
    const first = await loadModel(gpu, memoryFiles(gen(), 'enc'), { task, seed: 3 });
    const expected = await losses(first.model as never, data, s);
    first.model.destroy();
    expect(got).toEqual(expected);
    expect(got.every(Number.isFinite)).toBe(true);
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
