import { describe, expect, it } from 'vitest';
import { arrayDataset, type Example } from '../../../src/data/batches';
import { generateModel } from '../../../src/formats/generate';
import { fromArrayBuffer } from '../../../src/formats/byteSource';
import type { ModelFiles } from '../../../src/formats/checkpoint';
import { createEngine, type TrainProgress } from '../../../src/engine/index';
import { testGpu } from '../../helpers/gpu';

function memoryFiles(files: Map<string, Uint8Array | string>, name: string): ModelFiles {
  return {
    name,
    async text(file) {
      const f = files.get(file);
      return f === undefined ? null : typeof f === 'string' ? f : new TextDecoder().decode(f);
    },
    async source(file) {
      const f = files.get(file);
      return f === undefined ? null : fromArrayBuffer(typeof f === 'string' ? new TextEncoder().encode(f) : f, file);
    },
  };
}

const examples: Example[] = Array.from({ length: 6 }, (_, i) => {
  const ids = Int32Array.from({ length: 7 }, (_, t) => 1 + ((i * 5 + t * 3) % 60));
  return { ids, lossMask: new Uint8Array(7).fill(1) };
});

describe('engine API (what the worker and the CLI drive)', () => {
  it('loads a generated model, plans memory, trains with progress and stop, checkpoints, exports/imports, generates', async () => {
    const gpu = await testGpu();
    const engine = createEngine(gpu);
    const files = generateModel({ architecture: 'qwen2', seed: 9, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, intermediateSize: 48, tokenizer: false, vocabSize: 64 });
    const loads: number[] = [];
    const { spec } = await engine.loadModel(memoryFiles(files, 'tiny-qwen2'), (p) => loads.push(p.loaded));
    expect(spec.architecture).toBe('qwen2');
    expect(loads.length).toBeGreaterThan(10);

    const lora = { r: 4, alpha: 8, dropout: 0.1, targets: ['q_proj' as const, 'v_proj' as const], layers: null, useRslora: false };
    const ok = engine.estimateMemory({ lora, batchSize: 2, seqLen: 8, gradientCheckpointing: false, budgetBytes: 1 << 30 });
    expect(ok.fits).toBe(true);
    const tooSmall = engine.estimateMemory({ lora, batchSize: 64, seqLen: 512, gradientCheckpointing: false, budgetBytes: ok.total * 4 });
    expect(tooSmall.fits).toBe(false);
    expect(tooSmall.message).toMatch(/lower the batch size from 64 to \d+|turn on gradient checkpointing|lower the max sequence length/);

    const events: TrainProgress[] = [];
    const config = { lora, lr: 1e-2, maxSteps: 6, batchSize: 2, seqLen: 8, warmupSteps: 0, seed: 3 };
    const data = { train: arrayDataset(examples), validation: arrayDataset(examples.slice(0, 2)) };
    const summary = await engine.train(config, data, {
      evalEvery: 2,
      onProgress: (p) => {
        events.push(p);
        if (p.step === 3) engine.stop();
      },
    });
    expect(summary).toMatchObject({ steps: 3, totalSteps: 6, stopped: true });
    expect(events.map((e) => e.step)).toEqual([1, 2, 3]);
    expect(events[1].valLoss).toBeGreaterThan(0);
    expect(events[0].lr).toBeCloseTo(1e-2, 10);

    const bytes = engine.checkpoint();
    expect(engine.restore(bytes)).toMatchObject({ step: 3, totalSteps: 6 });
    const resumed = await engine.train(config, data, { resume: bytes });
    expect(resumed).toMatchObject({ steps: 6, stopped: false });

    const adapterFiles = engine.exportAdapter();
    const prompt = [5, 9, 11];
    const tuned = await engine.generate(prompt, { maxNewTokens: 4, temperature: 0 });
    const base = await engine.generate(prompt, { maxNewTokens: 4, temperature: 0, adapter: false });
    expect(tuned.length + base.length).toBeGreaterThan(0);
    const { settings } = await engine.importAdapter(adapterFiles);
    expect(settings).toMatchObject({ r: 4, alpha: 8, targets: ['q_proj', 'v_proj'] });
    expect(await engine.generate(prompt, { maxNewTokens: 4, temperature: 0 })).toEqual(tuned);
    const evBase = await engine.evaluate(data.train, { batchSize: 2, seqLen: 8, adapter: false });
    const evTuned = await engine.evaluate(data.train, { batchSize: 2, seqLen: 8 });
    expect(evTuned.loss).toBeLessThan(evBase.loss);
    engine.dispose();
  });
});
