// One training step of a decoder (the demo model by default) with the studio's default settings on
// 32 rows of T tokens (batch 16 unless asked), as the first-step benches run it: the planner picks the base precision, the
// model loads, and the run driver compiles and takes step 1 — with `overlap`, the run starts as soon
// as the model's buffers exist and compiles while the weights stream in (openModel + runTraining's
// loading, as the CLI does); without, after the load. Import it after raw-hooks.mjs is registered.
import type { Gpu } from '../src/engine/gpu/device';
import { familyFromConfig } from '../src/engine/model/families';
import { openModel } from '../src/engine/model/load';
import { planTraining, runTraining, type RunEvent } from '../src/engine/train/run';
import { arrayDataset } from '../src/data/batches';
import { openModelFolder } from '../src/formats/modelFolder';
import { nodeFiles } from '../src/formats/nodeSource';
import { DEFAULT_SETTINGS } from '../src/settings/settings';
import type { WeightFormat } from '../src/engine/kernels/quant/layout';

export interface DemoStep {
  /** The base precision the planner chose. */
  weights: string;
  /** Load start → every weight in and checked. */
  loadMs: number;
  /** Load start → the first step event. */
  loadToStepMs: number;
}

/** Loads `dir` on `gpu` and runs one step on rows of `T` tokens; `onEvent` sees the run driver's events from its start. */
export async function demoStep(gpu: Gpu, o: { dir?: string; T?: number; batch?: number; weights?: WeightFormat; overlap?: boolean; onStart?: () => void; onEvent?: (e: RunEvent) => void } = {}): Promise<DemoStep> {
  const T = o.T ?? 64;
  const batch = o.batch ?? DEFAULT_SETTINGS.train.batchSize;
  const files = nodeFiles(o.dir ?? 'public/models/demo');
  const folder = await openModelFolder(files);
  const settings = { ...DEFAULT_SETTINGS, train: { ...DEFAULT_SETTINGS.train, maxSteps: 1, batchSize: batch, microBatch: Math.min(batch, DEFAULT_SETTINGS.train.microBatch), weights: o.weights ?? DEFAULT_SETTINGS.train.weights }, eval: { ...DEFAULT_SETTINGS.eval, evalInterval: 0, checkpointInterval: 0 } };
  const limits = { budgetBytes: 4 * 2 ** 30, maxBufferSize: gpu.limits.maxBufferSize };
  const plan = planTraining(familyFromConfig(folder.config).onDevice({ f16: gpu.features.f16, ...gpu.limits }), settings, { longestRow: T }, limits);
  const l0 = performance.now();
  const loaded = await openModel(gpu, files, { weights: plan.weights });
  if (loaded.family !== 'llama') throw new Error(`${o.dir ?? 'the demo model'}: a decoder is needed`);
  let loadMs = 0;
  const loading = loaded.loaded.then(() => void (loadMs = performance.now() - l0));
  if (!o.overlap) await loading;
  let loadToStepMs = 0;
  const rows = Array.from({ length: 32 }, (_, r) => ({ ids: Int32Array.from({ length: T }, (_, i) => 1 + ((r * 31 + i * 7) % 500)), lossMask: new Uint8Array(T).fill(1) }));
  o.onStart?.();
  await runTraining({
    model: loaded.model, data: { train: arrayDataset(rows), validation: null, longestRow: T }, settings, identity: { model: 'demo', data: 'rows' }, limits, padId: 0,
    loading: o.overlap ? loading : undefined,
    onEvent: (e) => {
      if (e.type === 'step' && e.report.step === 1) loadToStepMs = performance.now() - l0;
      o.onEvent?.(e);
    },
  });
  const weights = loaded.model.format;
  loaded.model.destroy();
  return { weights, loadMs, loadToStepMs };
}
