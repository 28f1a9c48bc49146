/**
 * The training loop: micro-batches with gradient accumulation (loss normalized over all target
 * tokens of the effective batch), global-norm clipping, AdamW, the LR schedule, skipping of
 * non-finite steps, evaluation, and checkpoint state.
 *
 * One optimizer step = `gradAccum` micro-batches recorded back to back on the GPU, then one
 * readback of the per-token losses and the gradients at the end of the step. The AdamW update
 * runs on the CPU over the flat adapter (float64 arithmetic, f32 storage) and the new
 * parameters are uploaded: adapters are small (SmolLM2-135M, r 8 on q/v: 0.46 M values).
 */
import type { Batch, TokenDataset } from '../../data/batches';
import { Batcher } from '../../data/batches';
import type { Gpu } from '../gpu/device';
import { readF32, writeBuffer } from '../gpu/buffers';
import { Recorder } from '../gpu/recorder';
import { type GpuAdapter, type LlamaGpu, type Workspace, createGpuAdapter, destroyGpuAdapter } from '../model/llama';
import { type AdapterLayout, type LoraSettings, adapterLayout, initAdapter } from '../model/lora';
import { adamwStepCpu, clipScale } from './adamw.cpu';
import type { TrainState } from './checkpoint';
import { SeededRng } from './rng';
import { type ScheduleKind, learningRate, warmupSteps } from './schedule';

export class TrainError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrainError';
  }
}

export interface TrainConfig {
  lora: LoraSettings;
  lr: number;
  epochs: number;
  /** Stop after this many optimizer steps (overrides epochs when set). */
  maxSteps: number | null;
  /** Rows per micro-batch. */
  batchSize: number;
  gradAccum: number;
  /** Tokens per row (max length). */
  seqLen: number;
  schedule: ScheduleKind;
  warmupSteps: number | null;
  warmupRatio: number;
  weightDecay: number;
  maxGradNorm: number;
  beta1: number;
  beta2: number;
  eps: number;
  seed: number;
  shuffle: boolean;
  packing: boolean;
  gradientCheckpointing: boolean;
  padId: number;
}

/** DESIGN.md §2 defaults (classic PEFT recipe). */
export const DEFAULT_TRAIN_CONFIG: TrainConfig = {
  lora: { r: 8, alpha: 16, dropout: 0.05, targets: ['q_proj', 'v_proj'], layers: null, useRslora: false },
  lr: 1e-4,
  epochs: 3,
  maxSteps: null,
  batchSize: 16,
  gradAccum: 1,
  seqLen: 512,
  schedule: 'linear',
  warmupSteps: null,
  warmupRatio: 0,
  weightDecay: 0.01,
  maxGradNorm: 1,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  seed: 42,
  shuffle: true,
  packing: false,
  gradientCheckpointing: false,
  padId: 0,
};

export interface StepReport {
  /** 1-based number of the optimizer step just taken (or skipped). */
  step: number;
  totalSteps: number;
  epoch: number;
  /** Mean cross-entropy over the effective batch's target tokens. */
  loss: number;
  lr: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** The step was skipped: its loss or gradient norm was not finite. */
  skipped: boolean;
  targetTokens: number;
  tokens: number;
  tokensPerSecond: number;
  elapsedMs: number;
  etaMs: number;
}

export interface TrainerOptions {
  /** Start from these adapter parameters (e.g. --init-adapter) instead of PEFT's init. */
  initParams?: Float32Array;
  /** Continue a run from its checkpoint state. */
  resume?: TrainState;
}

export class Trainer {
  readonly layout: AdapterLayout;
  readonly adapter: GpuAdapter;
  readonly totalSteps: number;
  readonly warmup: number;
  private readonly ws: Workspace;
  private readonly batcher: Batcher;
  private params: Float32Array;
  private m: Float32Array;
  private v: Float32Array;
  private rng: SeededRng;
  private stepCount: number;
  private skipped: number;
  private epoch = 0;
  private started = performance.now();
  private tokensSeen = 0;
  private readonly stepsAtStart: number;
  private finished = false;

  constructor(
    readonly gpu: Gpu,
    readonly model: LlamaGpu,
    readonly data: TokenDataset,
    readonly config: TrainConfig,
    options: TrainerOptions = {},
  ) {
    if (!(config.gradAccum >= 1) || !Number.isInteger(config.gradAccum)) throw new TrainError(`gradient accumulation must be a positive integer, got ${config.gradAccum}`);
    if (!(config.lr > 0)) throw new TrainError(`learning rate must be positive, got ${config.lr}`);
    this.layout = adapterLayout(model.spec, config.lora);
    const resume = options.resume;
    this.batcher = new Batcher(data, {
      batchSize: config.batchSize,
      seqLen: config.seqLen,
      padId: config.padId,
      seed: config.seed,
      // maxSteps overrides epochs (as HF's max_steps does): the data repeats as long as needed.
      epochs: config.maxSteps ? Number.MAX_SAFE_INTEGER : config.epochs,
      packing: config.packing,
      shuffle: config.shuffle,
      cursor: resume ? (resume.dataCursor as { epoch: number; index: number; seed: number }) : undefined,
    });
    const perEpoch = Math.ceil(this.batcher.batchesInEpoch(0) / config.gradAccum);
    this.totalSteps = config.maxSteps ?? perEpoch * config.epochs;
    if (this.totalSteps < 1) throw new TrainError('the run has no optimizer steps: the dataset is empty or maxSteps is 0');
    this.warmup = warmupSteps(this.totalSteps, { warmupSteps: config.warmupSteps ?? undefined, warmupRatio: config.warmupRatio });
    if (resume) {
      if (resume.params.length !== this.layout.size) {
        throw new TrainError(`checkpoint holds ${resume.params.length} adapter values but this configuration needs ${this.layout.size}`);
      }
      this.params = resume.params.slice();
      this.m = resume.m.slice();
      this.v = resume.v.slice();
      this.rng = new SeededRng(resume.rngState);
      this.stepCount = resume.step;
      this.skipped = resume.skippedSteps;
      this.epoch = resume.epoch;
    } else {
      this.params = options.initParams ? options.initParams.slice() : initAdapter(this.layout, config.seed);
      if (this.params.length !== this.layout.size) throw new TrainError(`initial adapter has ${this.params.length} values, this configuration needs ${this.layout.size}`);
      this.m = new Float32Array(this.layout.size);
      this.v = new Float32Array(this.layout.size);
      this.rng = new SeededRng(config.seed ^ 0x5eed);
      this.stepCount = 0;
      this.skipped = 0;
    }
    this.stepsAtStart = this.stepCount;
    this.adapter = createGpuAdapter(gpu, this.layout, this.params);
    this.ws = model.createWorkspace(config.batchSize * config.seqLen, this.layout, config.gradientCheckpointing);
  }

  get step(): number {
    return this.stepCount;
  }

  get done(): boolean {
    return this.finished || this.stepCount >= this.totalSteps;
  }

  /** The current adapter parameters (a copy). */
  parameters(): Float32Array {
    return this.params.slice();
  }

  lrAt(step: number): number {
    return learningRate({ kind: this.config.schedule, lr: this.config.lr, warmupSteps: this.warmup, totalSteps: this.totalSteps }, step);
  }

  /** Everything needed to continue this run to the same result. */
  state(extraConfig: Record<string, unknown> = {}): TrainState {
    return {
      step: this.stepCount,
      totalSteps: this.totalSteps,
      epoch: this.epoch,
      dataCursor: this.batcher.cursor,
      rngState: this.rng.state,
      config: { ...extraConfig, train: this.config as unknown as Record<string, unknown> },
      skippedSteps: this.skipped,
      params: this.params.slice(),
      m: this.m.slice(),
      v: this.v.slice(),
    };
  }

  /** One optimizer step over gradAccum micro-batches; null when the run is over. */
  async trainStep(signal?: AbortSignal): Promise<StepReport | null> {
    if (this.done) return null;
    signal?.throwIfAborted();
    const micro: Batch[] = [];
    for (let i = 0; i < this.config.gradAccum; i++) {
      const b = this.batcher.next();
      if (!b) break;
      micro.push(b);
    }
    if (micro.length === 0) {
      this.finished = true;
      return null;
    }
    this.epoch = this.batcher.cursor.epoch;
    const targets = micro.reduce((s, b) => s + b.targetTokens, 0);
    const gradScale = targets > 0 ? 1 / targets : 0;
    const { model, ws, adapter } = this;
    const N = this.config.batchSize * this.config.seqLen;
    const t0 = performance.now();
    for (let i = 0; i < micro.length; i++) {
      const batch = micro[i];
      // Queue writes run after the previous micro-batch's submitted work, so no wait is needed here.
      model.uploadBatch(ws, batch);
      const rec = new Recorder(this.gpu, `step ${this.stepCount + 1} micro-batch ${i}`);
      if (i === 0) rec.clear(adapter.grads);
      // The dropout key's step counts micro-batches over the whole run, so a resumed run draws the same masks.
      // The loss sum accumulates on the GPU over the micro-batches; one readback at the end of the step.
      model.trainMicroBatch(rec, ws, batch, adapter, gradScale, { seed: this.config.seed, step: this.stepCount * this.config.gradAccum + i }, i > 0);
      rec.submit();
      signal?.throwIfAborted();
    }
    const lossSum = (await readF32(this.gpu, ws.lossSum, 1))[0];
    const grads = await readF32(this.gpu, adapter.grads, this.layout.size);
    const loss = targets > 0 ? lossSum / targets : 0;
    let sq = 0;
    for (const g of grads) sq += g * g;
    const gradNorm = Math.sqrt(sq);
    const lr = this.lrAt(this.stepCount);
    const skipped = !Number.isFinite(loss) || !Number.isFinite(gradNorm);
    // A step without target tokens still steps AdamW with zero gradients, as the HF Trainer does.
    if (!skipped) {
      const scale = clipScale(gradNorm, this.config.maxGradNorm);
      const t = this.stepCount - this.skipped + 1;
      adamwStepCpu(this.params, grads, this.m, this.v, t, { lr, weightDecay: this.config.weightDecay, beta1: this.config.beta1, beta2: this.config.beta2, eps: this.config.eps }, scale);
      writeBuffer(this.gpu, adapter.params, this.params);
    }
    if (skipped) this.skipped++;
    this.stepCount++;
    const tokens = micro.length * N;
    this.tokensSeen += tokens;
    const elapsedMs = performance.now() - this.started;
    const stepsDone = this.stepCount - this.stepsAtStart;
    const stepMs = performance.now() - t0;
    return {
      step: this.stepCount,
      totalSteps: this.totalSteps,
      epoch: this.epoch,
      loss,
      lr,
      gradNorm,
      skipped,
      targetTokens: targets,
      tokens,
      tokensPerSecond: tokens / Math.max(1e-3, stepMs / 1000),
      elapsedMs,
      etaMs: (elapsedMs / Math.max(1, stepsDone)) * (this.totalSteps - this.stepCount),
    };
  }

  destroy(): void {
    this.model.destroyWorkspace(this.ws);
    destroyGpuAdapter(this.adapter);
  }
}

export interface EvalResult {
  loss: number;
  perplexity: number;
  targetTokens: number;
}

/** Validation loss (mean CE over all target tokens) and perplexity, adapter on or off. */
export async function evaluate(
  gpu: Gpu, model: LlamaGpu, data: TokenDataset, opts: { batchSize: number; seqLen: number; padId: number; adapter: GpuAdapter | null; signal?: AbortSignal },
): Promise<EvalResult> {
  const batcher = new Batcher(data, { batchSize: opts.batchSize, seqLen: opts.seqLen, padId: opts.padId, shuffle: false, epochs: 1 });
  const ws = model.createWorkspace(opts.batchSize * opts.seqLen, opts.adapter?.layout ?? null, false);
  let lossSum = 0;
  let targets = 0;
  try {
    for (let batch = batcher.next(); batch; batch = batcher.next()) {
      opts.signal?.throwIfAborted();
      model.uploadBatch(ws, batch);
      const rec = new Recorder(gpu, 'evaluate');
      model.forward(rec, ws, batch, opts.adapter);
      model.headLoss(rec, ws, batch.B * batch.T, 0);
      rec.submit();
      const tokenLoss = await readF32(gpu, ws.tokenLoss, batch.B * batch.T);
      for (const x of tokenLoss) lossSum += x;
      targets += batch.targetTokens;
    }
  } finally {
    model.destroyWorkspace(ws);
  }
  const loss = targets > 0 ? lossSum / targets : NaN;
  return { loss, perplexity: Math.exp(loss), targetTokens: targets };
}

export { createGpuAdapter };
