// One training step of a decoder (the demo model by default) with the studio's default settings on
// 32 rows of T tokens, as the first-step benches run it: the planner picks the base precision, the
// model loads, and the run driver compiles and takes step 1. Import it after raw-hooks.mjs is registered.
import type { Gpu } from '../src/engine/gpu/device';
import { familyFromConfig } from '../src/engine/model/families';
import { loadModel } from '../src/engine/model/load';
import { planTraining, runTraining, type RunEvent } from '../src/engine/train/run';
import { arrayDataset } from '../src/data/batches';
import { openModelFolder } from '../src/formats/modelFolder';
import { nodeFiles } from '../src/formats/nodeSource';
import { DEFAULT_SETTINGS } from '../src/settings/settings';

export interface DemoStep {
  /** The base precision the planner chose. */
  weights: string;
  loadMs: number;
}

/** Loads `dir` on `gpu` and runs one step on rows of `T` tokens; `onEvent` sees the run driver's events from its start. */
export async function demoStep(gpu: Gpu, o: { dir?: string; T?: number; onStart?: () => void; onEvent?: (e: RunEvent) => void } = {}): Promise<DemoStep> {
  const T = o.T ?? 64;
  const files = nodeFiles(o.dir ?? 'public/models/demo');
  const folder = await openModelFolder(files);
  const settings = { ...DEFAULT_SETTINGS, train: { ...DEFAULT_SETTINGS.train, maxSteps: 1 }, eval: { ...DEFAULT_SETTINGS.eval, evalInterval: 0, checkpointInterval: 0 } };
  const limits = { budgetBytes: 4 * 2 ** 30, maxBufferSize: gpu.limits.maxBufferSize };
  const plan = planTraining(familyFromConfig(folder.config).onDevice({ f16: gpu.features.f16, ...gpu.limits }), settings, { longestRow: T }, limits);
  const l0 = performance.now();
  const loaded = await loadModel(gpu, files, { weights: plan.weights });
  if (loaded.family !== 'llama') throw new Error(`${o.dir ?? 'the demo model'}: a decoder is needed`);
  const loadMs = performance.now() - l0;
  const rows = Array.from({ length: 32 }, (_, r) => ({ ids: Int32Array.from({ length: T }, (_, i) => 1 + ((r * 31 + i * 7) % 500)), lossMask: new Uint8Array(T).fill(1) }));
  o.onStart?.();
  await runTraining({
    model: loaded.model, data: { train: arrayDataset(rows), validation: null, longestRow: T }, settings, identity: { model: 'demo', data: 'rows' }, limits, padId: 0,
    onEvent: (e) => o.onEvent?.(e),
  });
  const weights = loaded.model.format;
  loaded.model.destroy();
  return { weights, loadMs };
}
