// Warming and compile helpers (src/engine/gpu/warm.ts): where pipelines compile at first dispatch
// (lavapipe), prepare dispatches each pipeline of a step once ahead of it, on the device itself and
// on extra devices that compile beside it. What is checked on every adapter: each pipeline is
// dispatched without an error (scratch bindings and the real uniforms bind for every kernel), the
// helpers' errors stay their own, and a run is the same number for number with and without them. Their speed is measured by bench/first-step.ts, not here.
import { describe, expect, it } from 'vitest';
import { memoryFiles } from '../../src/formats/modelFolder';
import { createBuffer } from '../../src/engine/gpu/buffers';
import type { Gpu } from '../../src/engine/gpu/device';
import { createNodeGpu } from '../../src/engine/gpu/node';
import { warmWants } from '../../src/engine/gpu/pipelines';
import { Recorder } from '../../src/engine/gpu/recorder';
import { warmPipelines } from '../../src/engine/gpu/warm';
import { addForward } from '../../src/engine/kernels/elementwise/elementwise';
import { attentionBackward, attentionForward } from '../../src/engine/kernels/attention/attention';
import { loadModel } from '../../src/engine/model/load';
import { runTraining } from '../../src/engine/train/run';
import { tinyQwen2, tinyRunData, tinyRunSettings } from '../helpers/tinyRun';

const settings = tinyRunSettings;

/** Three steps of a tiny Qwen2 (heads of 8) on `gpu`: the losses and the compile events' total. */
async function train(gpu: Gpu): Promise<{ losses: number[]; pipelines: number }> {
  const loaded = await loadModel(gpu, memoryFiles(tinyQwen2(), 'tiny-qwen2'));
  if (loaded.family !== 'llama') throw new Error('a Qwen2 checkpoint loads as a Llama-family model');
  const losses: number[] = [];
  let pipelines = 0;
  await runTraining({
    model: loaded.model, data: tinyRunData, settings,
    identity: { model: 'tiny-qwen2', data: 'rows' }, limits: { budgetBytes: 1 << 30, maxBufferSize: gpu.limits.maxBufferSize }, padId: 0,
    onEvent: (e) => {
      if (e.type === 'compile') pipelines = e.total;
      if (e.type === 'step') losses.push(e.report.loss);
    },
  });
  loaded.model.destroy();
  return { losses, pipelines };
}

describe('compile helpers', () => {
  it('start at prepare only where pipelines compile at first dispatch; there a run is the same number for number with and without them, each of its pipelines dispatched once ahead of the step', async () => {
    const helped = await createNodeGpu({ compileHelpers: 1, label: 'with a compile helper' });
    try {
      if (!helped.compilesAtFirstDispatch) {
        // SwiftShader and GPUs compile when a pipeline is created: prepare leaves the helpers idle.
        const rec = Recorder.collecting(helped, 'one pipeline');
        const b = createBuffer(helped, 'collect only', 64);
        attentionForward(rec, { B: 1, T: 2, NH: 1, KVH: 1, HS: 4, q: b, k: b, v: b, segmentIds: b, out: b, lse: b });
        await helped.pipelines.prepare(rec.collected);
        expect(helped.pipelines.size).toBe(1);
        expect(helped.pipelines.warming).toBeNull();
        return;
      }
      const alone = await createNodeGpu({ compileHelpers: 0, label: 'without compile helpers' });
      try {
        const a = await train(helped);
        const b = await train(alone);
        expect(a.losses).toHaveLength(3);
        expect(a.losses.every(Number.isFinite)).toBe(true);
        expect(a.losses).toEqual(b.losses);
        // Both warm every pipeline ahead of the step: without helpers the device alone, from the first.
        for (const g of [alone, helped]) {
          const warm = await g.pipelines.warming;
          expect(warm?.errors).toEqual([]);
          expect(warm?.dispatched).toBe(a.pipelines);
        }
        expect(b.pipelines).toBe(a.pipelines);
        expect(a.pipelines).toBeGreaterThan(10);
        expect(helped.takeUncapturedErrors()).toEqual([]);
        expect(alone.takeUncapturedErrors()).toEqual([]);
      } finally {
        alone.destroy();
      }
    } finally {
      helped.destroy();
    }
  });

  it('dispatch attention pipelines (both kernel sets, dropout) with scratch bindings; a broken probe is reported, not thrown, and stays off the main device', async () => {
    const gpu = await createNodeGpu({ compileHelpers: 2, label: 'attention compile helpers' });
    try {
      const b = createBuffer(gpu, 'collect only', 64);
      const rec = Recorder.collecting(gpu, 'attention pipelines');
      // The direct set with dropout (and the delta), and the tiled forward: each pipeline costs seconds on SwiftShader.
      const shape = { B: 2, T: 9, NH: 4, KVH: 2, HS: 16 };
      attentionBackward(rec, { ...shape, kernels: 'direct', dropout: { p: 0.1, key: { seed: 1, site: 2, step: 3 } }, q: b, k: b, v: b, segmentIds: b, out: b, lse: b, dout: b, delta: b, dq: b, dk: b, dv: b });
      attentionForward(rec, { ...shape, kernels: 'direct', dropout: { p: 0.1, key: { seed: 1, site: 2, step: 3 } }, q: b, k: b, v: b, segmentIds: b, out: b, lse: b });
      attentionForward(rec, { ...shape, kernels: 'tiled', q: b, k: b, v: b, segmentIds: b, out: b, lse: b });
      const wants = rec.collected;
      expect(wants.map((w) => w.kernel.name)).toEqual(['attention_delta', 'attention_dq_direct', 'attention_dkdv_direct', 'attention_forward_direct', 'attention_forward']);
      const warm = await warmPipelines(warmWants(gpu, wants), { helpers: gpu.compileHelpers });
      expect(warm).toEqual({ dispatched: wants.length, errors: [] });

      // One storage binding short: the helper's bind group is invalid; its error names the pipeline.
      const broken = warmWants(gpu, wants.slice(0, 1)).map((w) => ({ ...w, probe: { ...w.probe!, bindings: w.probe!.bindings - 1 } }));
      const failed = await warmPipelines(broken, { helpers: { ...gpu.compileHelpers!, count: 1 } });
      expect(failed.dispatched).toBe(0);
      expect(failed.errors).toHaveLength(1);
      expect(failed.errors[0]).toMatch(/^compile helper: attention_delta:main\[/);
      // A helper that cannot be had is reported too.
      const none = await warmPipelines(broken, { helpers: { count: 1, request: () => Promise.reject(new Error('no adapter')) } });
      expect(none).toEqual({ dispatched: 0, errors: ['no compile helper: no adapter'] });
      expect(gpu.takeUncapturedErrors()).toEqual([]);
      b.destroy();
    } finally {
      gpu.destroy();
    }
  });

  it('the device warms its own pipelines only once its queue is free (after), while helpers start at once; one shared list, each pipeline once', async () => {
    const gpu = await createNodeGpu({ compileHelpers: 1, label: 'own warming' });
    try {
      const b = createBuffer(gpu, 'collect only', 64);
      const rec = Recorder.collecting(gpu, 'two adds');
      addForward(rec, { a: b, b, out: b, count: 16 });
      addForward(rec, { a: b, b, out: b, count: 16, label: 'add wide', alpha: 2 });
      const wants = warmWants(gpu, rec.collected);
      const pipelines = rec.collected.map((w) => gpu.pipelines.get(w.kernel, w.constants, w.entryPoint));
      let free!: () => void;
      const after = new Promise<void>((resolve) => (free = resolve));
      const seen: number[] = [];
      const warming = warmPipelines(wants, { own: { device: gpu.device, pipeline: (i) => pipelines[i], after }, onDispatched: (done) => seen.push(done) });
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(seen).toEqual([]);
      free();
      expect(await warming).toEqual({ dispatched: wants.length, errors: [] });
      expect(seen).toEqual(wants.map((_, i) => i + 1));

      // With a helper beside it, the helper takes the list from the back while the device waits; nothing is dispatched twice.
      const helped = await warmPipelines(wants, { own: { device: gpu.device, pipeline: (i) => pipelines[i], after: new Promise((resolve) => setTimeout(resolve, 50)) }, helpers: gpu.compileHelpers });
      expect(helped).toEqual({ dispatched: wants.length, errors: [] });
      expect(gpu.takeUncapturedErrors()).toEqual([]);
      b.destroy();
    } finally {
      gpu.destroy();
    }
  });
});
