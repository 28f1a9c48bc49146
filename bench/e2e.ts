// End-to-end LoRA training with the real engine (LlamaGpu through the run driver) on a SmolLM2-135M-shaped model
// with generated weights: tokens/s, time to the first step, peak GPU bytes actually allocated, and
// the memory planner's estimate for the same configuration.
//
// Software adapters are slow, so the model keeps SmolLM2-135M's widths (C 576, I 1536, 9/3 heads
// × 64, vocabulary 49152, tied embeddings) but only `layers` decoder layers (default 2 of 30); the
// output says so on every row. Pass --layers 30 for the real depth.
import type { Gpu } from '../src/engine/gpu/device';
import { arrayDataset, type Example } from '../src/data/batches';
import { generateModelWithTensors } from '../src/formats/generate';
import { LlamaGpu } from '../src/engine/model/llama';
import type { MemoryPlan } from '../src/engine/train/memory';
import { formatBytes } from '../src/units';
import { SeededRng } from '../src/engine/train/rng';
import { RunControl, runTraining, type RunOutcome, type RunRequest } from '../src/engine/train/run';
import type { BatchLike } from '../src/engine/model/model';
import { DEFAULT_SETTINGS, type RunSettings, type TargetModule } from '../src/settings/settings';
import type { WeightFormat } from '../src/engine/kernels/quant/layout';
import { fmt, median } from './harness';
import { SMOLLM2_135M } from './shapes';

export const E2E_DEFAULT_LAYERS = 2;

export interface E2eConfig {
  seqLen: number;
  batchSize: number;
  targets: TargetModule[];
  /** "q,v" or "all 7". */
  targetsLabel: string;
}

export interface E2eOptions {
  quick: boolean;
  /** Decoder layers of the model (SmolLM2-135M has 30). */
  layers: number;
  /** Only configurations with batchSize · seqLen ≤ this (the reduced run on a software adapter). */
  maxTokens?: number;
  /** Measured steps after the first. */
  steps: number;
  /** Stop measuring a configuration once its measured steps took this long (at least 2 are kept). */
  maxCaseSeconds: number;
  /** Base precisions, one model load each (default: f16 with shader-f16, else f32). */
  weights?: WeightFormat[];
}

export interface E2eResult {
  name: string;
  layers: number;
  seqLen: number;
  batchSize: number;
  targets: string;
  rank: number;
  adapterParams: number;
  /** How the frozen base was stored. */
  weights: WeightFormat;
  /** Tokens per optimizer step (one micro-batch, no accumulation). */
  tokensPerStep: number;
  /** Trainer construction (workspace, adapter) through the end of the first step, pipeline compilation included. */
  firstStepMs: number;
  /** Pipelines compiled during this configuration (the cache is shared, so later configurations compile fewer). */
  pipelinesCompiled: number;
  /** Time between consecutive step results after the first (steps are pipelined: the GPU's throughput). */
  stepMs: number[];
  medianStepMs: number;
  tokensPerSecond: number;
  /** Bytes live before the configuration started: the frozen weights (and anything else already allocated). */
  baselineBytes: number;
  /** The most bytes live at once during the configuration, weights included. */
  peakBytes: number;
  /** The planner's estimate for the same configuration (logits chunk as the engine sizes it). */
  plannedBytes: number;
  /** plannedBytes / peakBytes: above 1 the planner over-estimates. */
  planRatio: number;
  plan: MemoryPlan;
  losses: number[];
}

/** What a bench run measured: the first step from its start (pipelines compiled), each later step, every loss. */
export interface TimedSteps {
  outcome: RunOutcome;
  firstStepMs: number;
  stepMs: number[];
  losses: number[];
}

/**
 * Trains through the engine's one run driver as the benches do (no evaluation, no checkpoints, no
 * memory budget): the first step's wall time from `start`, each later step's time and every loss;
 * stops once the measured steps pass `maxCaseSeconds` (at least two are kept).
 */
export async function timedSteps<D, B extends BatchLike>(gpu: Gpu, req: Pick<RunRequest<D, B>, 'model' | 'data' | 'settings'>, maxCaseSeconds: number, start: number): Promise<TimedSteps> {
  const losses: number[] = [];
  const stepMs: number[] = [];
  let firstStepMs = 0;
  let total = 0;
  const control = new RunControl();
  const outcome = await runTraining<D, B>({
    ...req,
    identity: { model: 'bench', data: 'random rows' },
    limits: { budgetBytes: Number.MAX_SAFE_INTEGER, maxBufferSize: gpu.limits.maxBufferSize },
    padId: 0,
    control,
    onEvent: (e) => {
      if (e.type !== 'step') return;
      losses.push(e.report.loss);
      if (e.report.step === 1) {
        firstStepMs = performance.now() - start;
        return;
      }
      stepMs.push(e.report.stepMs);
      total += e.report.stepMs;
      if (stepMs.length >= 2 && total >= maxCaseSeconds * 1000) control.stop();
    },
  });
  return { outcome, firstStepMs, stepMs, losses };
}

/** The reference configurations: sequence 256 and 512 × micro-batch 1 and 4 × r 8 on q,v and on all seven projections. */
export function e2eConfigs(quick: boolean, maxTokens?: number): E2eConfig[] {
  const qv: [TargetModule[], string] = [['q_proj', 'v_proj'], 'q,v'];
  const all: [TargetModule[], string] = [['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], 'all 7'];
  const configs: E2eConfig[] = [];
  if (quick) configs.push({ seqLen: 256, batchSize: 1, targets: qv[0], targetsLabel: qv[1] });
  else {
    for (const seqLen of [256, 512]) {
      for (const batchSize of [1, 4]) {
        for (const [targets, targetsLabel] of [qv, all]) configs.push({ seqLen, batchSize, targets, targetsLabel });
      }
    }
  }
  return maxTokens === undefined ? configs : configs.filter((c) => c.seqLen * c.batchSize <= maxTokens);
}

/**
 * Counts the bytes of every buffer created on `gpu.device` while installed (createBuffer wrapped,
 * each buffer's destroy wrapped): `live` now, `peak` since the last resetPeak(). Buffers dropped
 * without destroy() stay counted, as the GPU memory they hold is only freed by garbage collection.
 */
export class GpuMemoryTracker {
  live = 0;
  peak = 0;
  buffers = 0;
  private readonly original: GPUDevice['createBuffer'];

  constructor(private readonly gpu: Gpu) {
    const device = gpu.device;
    this.original = device.createBuffer;
    const create = this.original.bind(device);
    device.createBuffer = (descriptor: GPUBufferDescriptor): GPUBuffer => {
      const buffer = create(descriptor);
      const size = buffer.size;
      this.live += size;
      this.buffers++;
      if (this.live > this.peak) this.peak = this.live;
      const destroy = buffer.destroy.bind(buffer);
      let destroyed = false;
      buffer.destroy = () => {
        if (!destroyed) {
          destroyed = true;
          this.live -= size;
          this.buffers--;
        }
        destroy();
      };
      return buffer;
    };
  }

  resetPeak(): void {
    this.peak = this.live;
  }

  uninstall(): void {
    this.gpu.device.createBuffer = this.original;
  }
}

function randomRows(count: number, length: number, vocab: number, seed: number): Example[] {
  const rng = new SeededRng(seed);
  return Array.from({ length: count }, () => ({
    ids: Int32Array.from({ length }, () => 1 + (rng.nextU32() % (vocab - 1))),
    lossMask: new Uint8Array(length).fill(1),
  }));
}

export function e2eName(c: E2eConfig, layers: number, weights: WeightFormat): string {
  return `SmolLM2-135M shape, ${layers} of 30 layers, T${c.seqLen} B${c.batchSize} r8 on ${c.targetsLabel}, ${weights} base`;
}

async function runConfig(gpu: Gpu, model: LlamaGpu, tracker: GpuMemoryTracker, c: E2eConfig, opts: E2eOptions): Promise<E2eResult> {
  const spec = model.spec;
  const steps = Math.max(1, opts.steps);
  const settings: RunSettings = {
    ...DEFAULT_SETTINGS,
    lora: { ...DEFAULT_SETTINGS.lora, r: 8, alpha: 16, targets: c.targets },
    train: { ...DEFAULT_SETTINGS.train, learningRate: 1e-4, maxSteps: 1 + steps, batchSize: c.batchSize, microBatch: c.batchSize, maxLength: c.seqLen, gradientCheckpointing: 'off', seed: 1, weights: model.format },
    eval: { evalInterval: 0, logInterval: 1_000_000, checkpointInterval: 0 },
  };
  // Rows exactly seqLen long: every micro-batch is full, no padding.
  const data = arrayDataset(randomRows(Math.max(8, c.batchSize * 2), c.seqLen, spec.vocabSize, 17));
  const N = c.batchSize * c.seqLen;
  const plan = model.memoryPlan(settings.lora, { batchSize: c.batchSize, seqLen: c.seqLen, gradientCheckpointing: false, kvCacheTokens: 0, stagedBatches: 1 });
  await gpu.device.queue.onSubmittedWorkDone();
  const baselineBytes = tracker.live;
  tracker.resetPeak();
  const pipelinesBefore = gpu.pipelines.size;
  const t0 = performance.now();
  const { outcome, firstStepMs, stepMs, losses } = await timedSteps(gpu, { model, data: { train: data, validation: null, longestRow: c.seqLen }, settings }, opts.maxCaseSeconds, t0);
  const adapterParams = outcome.layout.size;
  if (stepMs.length === 0) throw new Error(`e2e ${e2eName(c, spec.numLayers, model.format)}: no step after the first was measured`);
  const med = median(stepMs);
  const peakBytes = tracker.peak;
  return {
    name: e2eName(c, spec.numLayers, model.format),
    layers: spec.numLayers,
    seqLen: c.seqLen,
    batchSize: c.batchSize,
    targets: c.targetsLabel,
    rank: 8,
    adapterParams,
    weights: model.format,
    tokensPerStep: N,
    firstStepMs,
    pipelinesCompiled: gpu.pipelines.size - pipelinesBefore,
    stepMs,
    medianStepMs: med,
    tokensPerSecond: N / (med / 1000),
    baselineBytes,
    peakBytes,
    plannedBytes: plan.total,
    planRatio: plan.total / peakBytes,
    plan,
    losses,
  };
}

export interface E2eRun {
  results: E2eResult[];
  failed: { name: string; reason: string }[];
  layers: number;
  /** Seconds spent generating and uploading the weights. */
  loadSeconds: number;
}

/** Generates the model, uploads it, and trains each configuration for 1 + steps optimizer steps. */
export async function runE2e(gpu: Gpu, opts: E2eOptions, log: (message: string) => void): Promise<E2eRun> {
  const configs = e2eConfigs(opts.quick, opts.maxTokens);
  const m = SMOLLM2_135M;
  const tracker = new GpuMemoryTracker(gpu);
  const results: E2eResult[] = [];
  const failed: { name: string; reason: string }[] = [];
  const t0 = performance.now();
  let model: LlamaGpu | null = null;
  const formats = opts.weights ?? [gpu.features.f16 ? 'f16' : 'f32'];
  let loadSeconds = 0;
  try {
    const reduced = opts.layers < m.layers ? ' (reduced depth: software adapters are slow)' : '';
    log(`e2e: generating a SmolLM2-135M-shaped model with ${opts.layers} of ${m.layers} layers${reduced}`);
    const generated = generateModelWithTensors({
      architecture: 'llama', seed: 1, hiddenSize: m.C, numLayers: opts.layers, numHeads: m.NH, numKvHeads: m.KVH, headDim: m.HS,
      intermediateSize: m.I, vocabSize: m.V, tieWordEmbeddings: true, tokenizer: false,
    });
    generated.files.clear();
    const tensors = generated.tensors;
    for (const weights of formats) {
      const loadStart = performance.now();
      model = await LlamaGpu.load(gpu, generated.spec, async (name) => {
        const t = tensors.get(name);
        if (!t) throw new Error(`bench/e2e.ts: the generated model has no tensor ${name}`);
        return t.data;
      }, { weights });
      loadSeconds = (performance.now() - (weights === formats[0] ? t0 : loadStart)) / 1000;
      log(`e2e: weights ${formatBytes(tracker.live)} on the GPU (${weights} base), ${loadSeconds.toFixed(1)} s to ${weights === formats[0] ? 'generate and ' : ''}load`);
      for (const c of configs) {
        const name = e2eName(c, opts.layers, weights);
        const start = performance.now();
        try {
          const r = await runConfig(gpu, model, tracker, c, opts);
          results.push(r);
          log(
            `e2e | ${name}: ${fmt(r.tokensPerSecond)} tok/s (median step ${r.medianStepMs.toFixed(0)} ms of ${r.stepMs.length}), first step ${(r.firstStepMs / 1000).toFixed(1)} s, ` +
              `peak ${formatBytes(r.peakBytes)}, planned ${formatBytes(r.plannedBytes)} (${fmt(r.planRatio, 2)}×), ${((performance.now() - start) / 1000).toFixed(0)} s`,
          );
        } catch (error) {
          const reason = (error as Error).message.split('\n')[0];
          failed.push({ name, reason });
          log(`e2e | ${name}: FAILED ${reason}`);
        }
      }
      model.destroy();
      model = null;
    }
    tensors.clear();
    return { results, failed, layers: opts.layers, loadSeconds };
  } finally {
    model?.destroy();
    tracker.uninstall();
  }
}

const MiB = 2 ** 20;

/** The markdown table of the end-to-end group. */
export function formatE2eTable(run: E2eRun): string {
  const head = ['T', 'B', 'LoRA r8 on', 'base', 'tokens/s', 'step ms (median)', 'first step s', 'peak MiB (weights MiB)', 'planned MiB', 'planned/peak'];
  const lines = [
    `SmolLM2-135M shape (C 576, I 1536, 9/3 heads × 64, vocab 49152, tied), generated weights, **${run.layers} of 30 layers**; ` +
      'one micro-batch per optimizer step; dropout 0.05; tokens/s = B·T ÷ median step wall time after the first step.',
    '',
    `| ${head.join(' | ')} |`,
    `|${head.map((_, i) => (i < 4 ? '---' : '---:')).join('|')}|`,
  ];
  for (const r of run.results) {
    lines.push(
      `| ${r.seqLen} | ${r.batchSize} | ${r.targets} | ${r.weights} | ${fmt(r.tokensPerSecond)} | ${fmt(r.medianStepMs)} | ${fmt(r.firstStepMs / 1000)} | ` +
        `${fmt(r.peakBytes / MiB)} (${fmt(r.baselineBytes / MiB)}) | ${fmt(r.plannedBytes / MiB)} | ${fmt(r.planRatio, 2)}× |`,
    );
  }
  for (const f of run.failed) lines.push(`| ${f.name} | failed: ${f.reason} |`);
  return lines.join('\n');
}
