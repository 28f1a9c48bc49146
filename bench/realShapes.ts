// Real model shapes (bench group `shapes`): random checkpoints with the shipped config.json of
// SmolLM2-135M/360M, Qwen2.5-0.5B, Qwen3-0.6B and Llama-3.2-1B, every dimension real but the layer
// count cut, written as BF16 shards with model.safetensors.index.json (formats/nodeCheckpoint.ts).
// Each is loaded through the model folder (the tensors stream in), planned, and trained for two
// optimizer steps through the run driver; the peak of GPU bytes actually allocated is set against
// the planner's bytes for the same configuration at that depth. Beside them, the planner's numbers
// at full depth (config only) for seq 512, batch 4, r 8 on q,v in f16, q8 and nf4.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Gpu } from '../src/engine/gpu/device';
import { arrayDataset } from '../src/data/batches';
import { loadModel } from '../src/engine/model/load';
import { familyFromConfig } from '../src/engine/model/families';
import type { WeightFormat } from '../src/engine/kernels/quant/layout';
import { formatBytes } from '../src/units';
import { planTraining, runTraining } from '../src/engine/train/run';
import { SeededRng } from '../src/engine/train/rng';
import { cutConfig, REAL_CONFIGS, type RealModel } from '../src/formats/gen/realConfigs';
import { writeRandomCheckpoint } from '../src/formats/nodeCheckpoint';
import { nodeFiles } from '../src/formats/nodeSource';
import { DEFAULT_SETTINGS, type RunSettings } from '../src/settings/settings';
import { GpuMemoryTracker } from './e2e';
import { fmt, median } from './harness';

export const SHAPE_MODELS: RealModel[] = ['SmolLM2-135M', 'SmolLM2-360M', 'Qwen2.5-0.5B', 'Qwen3-0.6B', 'Llama-3.2-1B'];

export interface ShapesOptions {
  /** Decoder layers of each generated checkpoint (default 2). */
  layers: number;
  /** Base precisions to load and train each in (default nf4, and f16 where the adapter has it). */
  weights?: WeightFormat[];
  /** Tokens per row and rows per step of the measured steps (default 64 × 1: software adapters are slow). */
  seqLen: number;
  batchSize: number;
  /** Only these models (default all five). */
  models?: RealModel[];
}

export interface ShapeResult {
  model: RealModel;
  layers: number;
  weights: WeightFormat;
  seqLen: number;
  batchSize: number;
  /** Shards of the generated checkpoint, and its bytes. */
  shards: number;
  checkpointBytes: number;
  loadSeconds: number;
  /** Bytes live after the load: the frozen weights as stored. */
  weightBytes: number;
  /** The planner's weight bytes for the same storage (must equal weightBytes up to rounding). */
  plannedWeightBytes: number;
  firstStepMs: number;
  stepMs: number;
  /** The most bytes live at once while training, weights included. */
  peakBytes: number;
  plannedBytes: number;
  losses: number[];
}

export interface FullSizeRow {
  model: RealModel;
  parameters: number;
  weights: WeightFormat;
  /** Micro-batch 4, no recomputation; micro-batch 4 with checkpointing; the planner's pick for the goal budget (if there is one). */
  plain: number;
  checkpointed: number;
  pick: { budget: number; microBatch: number; checkpointing: boolean; total: number; fits: boolean } | null;
}

const GiB = 2 ** 30;
/** The issue's goals (seq 512, batch 4, r 8 on q,v, 4-bit base). */
export const GOALS: Partial<Record<RealModel, number>> = { 'SmolLM2-135M': 0.5, 'Qwen2.5-0.5B': 1.0, 'Llama-3.2-1B': 1.5, 'Llama-3.2-3B': 3.0 };

function runSettings(weights: WeightFormat, seqLen: number, batchSize: number, microBatch: number, checkpointing: RunSettings['train']['gradientCheckpointing'], maxSteps = 2): RunSettings {
  return {
    ...DEFAULT_SETTINGS,
    lora: { ...DEFAULT_SETTINGS.lora, r: 8, alpha: 16, targets: ['q_proj', 'v_proj'] },
    train: { ...DEFAULT_SETTINGS.train, learningRate: 1e-4, maxSteps, batchSize, microBatch, maxLength: seqLen, gradientCheckpointing: checkpointing, seed: 1, weights },
    eval: { evalInterval: 0, logInterval: 1_000_000, checkpointInterval: 0 },
  };
}

/** The planner at full depth, config only, for the device's f16 and limits. */
export function fullSizeRows(gpu: Pick<Gpu, 'features' | 'limits'>): FullSizeRow[] {
  const device = { f16: true, maxStorageBufferBindingSize: gpu.limits.maxStorageBufferBindingSize, maxBufferSize: gpu.limits.maxBufferSize };
  const rows: FullSizeRow[] = [];
  const unlimited = { budgetBytes: 1024 * GiB, maxBufferSize: device.maxBufferSize };
  for (const model of Object.keys(REAL_CONFIGS) as RealModel[]) {
    const family = familyFromConfig(REAL_CONFIGS[model].config);
    const target = family.onDevice(device);
    for (const weights of ['f16', 'q8', 'nf4'] as const) {
      const plan = (mb: number, cp: RunSettings['train']['gradientCheckpointing'], limits = unlimited) => planTraining(target, runSettings(weights, 512, 4, mb, cp), { longestRow: 512 }, limits);
      const goal = GOALS[model];
      const pick = goal ? plan(0, 'auto', { budgetBytes: goal * GiB, maxBufferSize: device.maxBufferSize }) : null;
      rows.push({
        model, parameters: family.parameters, weights,
        plain: plan(4, 'off').memory.total,
        checkpointed: plan(4, 'on').memory.total,
        pick: pick && goal ? { budget: goal * GiB, microBatch: pick.microBatch, checkpointing: pick.checkpointing, total: pick.memory.total, fits: pick.fits } : null,
      });
    }
  }
  return rows;
}

/** Generates (or reuses) each checkpoint, loads it in each format, plans and trains two steps. */
export async function runShapes(gpu: Gpu, opts: ShapesOptions, log: (message: string) => void): Promise<{ results: ShapeResult[]; failed: { name: string; reason: string }[]; fullSize: FullSizeRow[] }> {
  const results: ShapeResult[] = [];
  const failed: { name: string; reason: string }[] = [];
  const formats = opts.weights ?? (gpu.features.f16 ? (['f16', 'nf4'] as WeightFormat[]) : (['nf4'] as WeightFormat[]));
  const limits = { budgetBytes: 64 * GiB, maxBufferSize: gpu.limits.maxBufferSize };
  for (const model of opts.models ?? SHAPE_MODELS) {
    const dir = join(tmpdir(), 'adapter-studio-shapes', `${model}-${opts.layers}layers`);
    const t0 = performance.now();
    const ckpt = await writeRandomCheckpoint(dir, cutConfig(model, opts.layers), { seed: 1, maxShardBytes: 64 << 20 });
    log(`shapes: ${model} cut to ${opts.layers} layers: ${ckpt.shards.length} shards, ${formatBytes(ckpt.dataBytes)} BF16${ckpt.written ? `, written in ${((performance.now() - t0) / 1000).toFixed(1)} s` : ' (reused)'}`);
    for (const weights of formats) {
      const name = `${model} (${opts.layers} layers) ${weights}`;
      const tracker = new GpuMemoryTracker(gpu);
      let loaded: Awaited<ReturnType<typeof loadModel>> | null = null;
      try {
        const loadStart = performance.now();
        loaded = await loadModel(gpu, nodeFiles(dir), { weights });
        await gpu.device.queue.onSubmittedWorkDone();
        const loadSeconds = (performance.now() - loadStart) / 1000;
        const weightBytes = tracker.live;
        if (loaded.family !== 'llama') throw new Error(`${name} is not a decoder`);
        const model3 = loaded.model;
        const settings = runSettings(weights, opts.seqLen, opts.batchSize, opts.batchSize, 'off');
        const plan = planTraining(model3, settings, { longestRow: opts.seqLen }, limits);
        const rng = new SeededRng(5);
        const V = model3.spec.vocabSize;
        const rows = Array.from({ length: opts.batchSize * 2 }, () => ({
          ids: Int32Array.from({ length: opts.seqLen }, () => 1 + (rng.nextU32() % (V - 1))),
          lossMask: new Uint8Array(opts.seqLen).fill(1),
        }));
        tracker.resetPeak();
        const stepMs: number[] = [];
        const losses: number[] = [];
        let firstStepMs = 0;
        const start = performance.now();
        await runTraining({
          model: model3, data: { train: arrayDataset(rows), validation: null, longestRow: opts.seqLen }, settings,
          identity: { model: name, data: 'random rows' }, limits, padId: 0,
          onEvent: (e) => {
            if (e.type !== 'step') return;
            losses.push(e.report.loss);
            if (e.report.step === 1) firstStepMs = performance.now() - start;
            else stepMs.push(e.report.stepMs);
          },
        });
        const r: ShapeResult = {
          model, layers: opts.layers, weights, seqLen: opts.seqLen, batchSize: opts.batchSize, shards: ckpt.shards.length, checkpointBytes: ckpt.dataBytes,
          loadSeconds, weightBytes, plannedWeightBytes: plan.memory.weights, firstStepMs, stepMs: median(stepMs), peakBytes: tracker.peak, plannedBytes: plan.memory.total, losses,
        };
        results.push(r);
        log(
          `shapes | ${name}: load ${loadSeconds.toFixed(1)} s, weights ${formatBytes(weightBytes)} (planned ${formatBytes(r.plannedWeightBytes)}), ` +
            `first step ${(firstStepMs / 1000).toFixed(1)} s, step ${(r.stepMs / 1000).toFixed(1)} s, peak ${formatBytes(r.peakBytes)}, planned ${formatBytes(r.plannedBytes)} (${fmt(r.plannedBytes / r.peakBytes, 3)}×), loss ${losses.map((l) => l.toFixed(3)).join(' → ')}`,
        );
      } catch (error) {
        const reason = (error as Error).message.split('\n')[0];
        failed.push({ name, reason });
        log(`shapes | ${name}: FAILED ${reason}`);
      } finally {
        loaded?.model.destroy();
        tracker.uninstall();
      }
    }
  }
  return { results, failed, fullSize: fullSizeRows(gpu) };
}

const MiB = 2 ** 20;

/** Markdown tables: measured at the cut depth, and the planner at full depth. */
export function formatShapesTables(run: { results: ShapeResult[]; failed: { name: string; reason: string }[]; fullSize: FullSizeRow[] }): string {
  const lines: string[] = [];
  if (run.results.length) {
    const r0 = run.results[0];
    lines.push(
      `Measured: random checkpoints with the real config.json, ${r0.layers} layers, BF16 shards; T ${r0.seqLen} × B ${r0.batchSize}, r 8 on q,v, no checkpointing; two optimizer steps through the run driver.`,
      '',
      '| model | base | shards | load s | weights MiB (planned) | first step s | step s | peak MiB | planned MiB | planned/peak |',
      '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const r of run.results) {
      lines.push(
        `| ${r.model} | ${r.weights} | ${r.shards} | ${fmt(r.loadSeconds)} | ${fmt(r.weightBytes / MiB)} (${fmt(r.plannedWeightBytes / MiB)}) | ${fmt(r.firstStepMs / 1000)} | ${fmt(r.stepMs / 1000)} | ` +
          `${fmt(r.peakBytes / MiB)} | ${fmt(r.plannedBytes / MiB)} | ${fmt(r.plannedBytes / r.peakBytes, 3)}× |`,
      );
    }
    for (const f of run.failed) lines.push(`| ${f.name} | failed: ${f.reason} |`);
    lines.push('');
  }
  lines.push(
    'Planner at full depth (config.json only): seq 512, batch 4, r 8 on q,v; GiB.',
    '',
    '| model | params | base | micro-batch 4 | micro-batch 4 + checkpointing | planner within the goal |',
    '|---|---:|---|---:|---:|---|',
  );
  for (const r of run.fullSize) {
    const pick = r.pick ? `${r.pick.fits ? '' : 'does not fit: '}${(r.pick.total / GiB).toFixed(2)} of ${(r.pick.budget / GiB).toFixed(1)} (micro-batch ${r.pick.microBatch}${r.pick.checkpointing ? ' + checkpointing' : ''})` : '—';
    lines.push(`| ${r.model} | ${(r.parameters / 1e6).toFixed(0)}M | ${r.weights} | ${(r.plain / GiB).toFixed(2)} | ${(r.checkpointed / GiB).toFixed(2)} | ${pick} |`);
  }
  return lines.join('\n');
}
