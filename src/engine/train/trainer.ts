/**
 * Optimizer steps on the GPU for any TrainableModel: gradient accumulation over micro-batches (the
 * loss normalized over all target tokens of the effective batch), then global-norm clipping, the
 * non-finite skip and AdamW as kernels — all in ONE queue submission per optimizer step. Only the
 * step's scalars come back, through a ring of mapped buffers, so the next step is recorded while
 * the GPU still works on this one (up to MAX_IN_FLIGHT steps ahead). Parameters and Adam moments
 * are read back only for checkpoints and export.
 */
import type { BatchCursor, TokenDataset } from '../../data/batches';
import type { Batch } from '../../data/batches';
import type { RunSettings } from '../../settings/settings';
import { Recorder } from '../gpu/recorder';
import { ReadbackRing } from '../gpu/readbackRing';
import { decodeStepControl, STEP_CONTROL_BYTES } from '../kernels/gradnorm/gradnorm';
import { GpuOptimizer } from '../kernels/adamw/optimizer';
import type { BatchLike, BatchSource, GpuAdapter, ModelWorkspace, TrainableModel } from '../model/model';
import { type AdapterLayout, initAdapter } from '../model/lora';
import type { TrainState } from '../../formats/checkpoint';
import { learningRate, warmupSteps } from './schedule';

function norm(values: Float32Array): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i] * values[i];
  return Math.sqrt(s);
}

export class TrainError extends Error {
  constructor(message: string) {
    super(`TrainError: ${message}`);
    this.name = 'TrainError';
  }
}

/** Steps recorded ahead of the oldest unread result (AdamW can pick among MAX_IN_FLIGHT + 1 values of t). */
export const MAX_IN_FLIGHT = 2;

/** How a run is laid out on this device (from the planner) plus the data's padding token. */
export interface TrainLayout {
  microBatch: number;
  gradAccum: number;
  /** Tokens per row. */
  seqLen: number;
  checkpointing: boolean;
  padId: number;
}

export interface StepReport {
  /** 1-based number of the optimizer step just taken (or skipped). */
  step: number;
  totalSteps: number;
  /** Epochs done, as a fraction (HF's `epoch`): 1.0 at the end of the first epoch. */
  epoch: number;
  /** Mean cross-entropy over the effective batch's target tokens. */
  loss: number;
  lr: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** ‖p‖ of all trainable parameters after the step. */
  paramNorm: number;
  /** The update was not applied: loss, gradient norm or the update itself was not finite. */
  skipped: boolean;
  /** Why it was skipped, in words. */
  reasons: string[];
  /** Updates applied so far, steps skipped so far. */
  applied: number;
  skippedSteps: number;
  targetTokens: number;
  /** Tokens processed (rows × length, padding included). */
  tokens: number;
  /** Wall time of this step as the CPU saw it finish (the first one includes compiling kernels). */
  stepMs: number;
  tokensPerSecond: number;
}

export interface TrainerOptions {
  /** Start from these adapter parameters (e.g. an existing adapter) instead of PEFT's init. */
  initParams?: Float32Array;
  /** Continue a run from its checkpoint state. */
  resume?: TrainState;
}

interface InFlight {
  step: number;
  lr: number;
  epoch: number;
  targets: number;
  tokens: number;
  read: Promise<ArrayBuffer>;
}

export class Trainer<D = TokenDataset, B extends BatchLike = Batch> {
  readonly layout: AdapterLayout;
  readonly optimizer: GpuOptimizer;
  readonly adapter: GpuAdapter;
  readonly totalSteps: number;
  readonly warmup: number;
  readonly stepsPerEpoch: number;
  private readonly ws: ModelWorkspace;
  private readonly batcher: BatchSource<B>;
  private readonly ring: ReadbackRing;
  private inflight: InFlight[] = [];
  /** Steps recorded (submitted). */
  private recorded: number;
  /** Updates applied as of the last step read back, and steps read back. */
  private knownApplied: number;
  private knownSkipped: number;
  private finished = false;
  private lastDone = performance.now();
  /** ‖p‖ of the trainable parameters when this run (or resume) started. */
  readonly initialParamNorm: number;

  constructor(
    readonly model: TrainableModel<D, B>,
    readonly data: D,
    readonly settings: RunSettings,
    readonly run: TrainLayout,
    options: TrainerOptions = {},
  ) {
    const t = settings.train;
    if (!(t.learningRate > 0)) throw new TrainError(`learning rate must be positive, got ${t.learningRate}`);
    if (!(run.gradAccum >= 1 && Number.isInteger(run.gradAccum))) throw new TrainError(`gradient accumulation must be a positive integer, got ${run.gradAccum}`);
    this.layout = model.adapterLayout(settings.lora);
    const resume = options.resume;
    this.batcher = model.createBatcher(data, {
      microBatch: run.microBatch,
      seqLen: run.seqLen,
      padId: run.padId,
      seed: t.seed,
      // maxSteps overrides epochs (as HF's max_steps does): the data repeats as long as needed.
      epochs: t.maxSteps > 0 ? Number.MAX_SAFE_INTEGER : t.epochs,
      packing: t.packing,
      shuffle: t.shuffle,
      cursor: resume ? (resume.dataCursor as BatchCursor) : undefined,
    });
    this.stepsPerEpoch = Math.ceil(this.batcher.batchesInEpoch(0) / run.gradAccum);
    this.totalSteps = t.maxSteps > 0 ? t.maxSteps : this.stepsPerEpoch * t.epochs;
    if (this.totalSteps < 1) throw new TrainError('the run has no optimizer steps: the dataset is empty or max steps is 0');
    this.warmup = warmupSteps(this.totalSteps, { warmupRatio: t.warmupRatio });
    this.optimizer = new GpuOptimizer(model.gpu, this.layout.size, { weightDecay: t.weightDecay, decayCount: this.layout.decayCount, beta1: 0.9, beta2: 0.999, eps: 1e-8, maxGradNorm: t.maxGradNorm });
    if (resume) {
      if (resume.params.length !== this.layout.size) throw new TrainError(`checkpoint holds ${resume.params.length} adapter values but this configuration needs ${this.layout.size}`);
      if (resume.totalSteps !== this.totalSteps) throw new TrainError(`checkpoint was planned for ${resume.totalSteps} steps but these settings and data give ${this.totalSteps}`);
      this.recorded = resume.step;
      this.knownSkipped = resume.skippedSteps;
      this.knownApplied = resume.step - resume.skippedSteps;
      this.optimizer.load({ params: resume.params, m: resume.m, v: resume.v, applied: this.knownApplied, skipped: this.knownSkipped, rolledBack: resume.rolledBackSteps });
      this.initialParamNorm = norm(resume.params);
    } else {
      const params = options.initParams ?? initAdapter(this.layout, t.seed);
      if (params.length !== this.layout.size) throw new TrainError(`initial adapter has ${params.length} values, this configuration needs ${this.layout.size}`);
      this.recorded = 0;
      this.knownApplied = 0;
      this.knownSkipped = 0;
      this.optimizer.load({ params });
      this.initialParamNorm = norm(params);
    }
    this.adapter = { layout: this.layout, params: this.optimizer.params, grads: this.optimizer.grads };
    this.ring = new ReadbackRing(model.gpu, STEP_CONTROL_BYTES, MAX_IN_FLIGHT + 1, 'step scalars');
    this.ws = model.createWorkspace({ maxTokens: run.microBatch * run.seqLen, layout: this.layout, checkpointing: run.checkpointing, stagedBatches: run.gradAccum });
  }

  /** Optimizer steps recorded so far (the next step's schedule position). */
  get step(): number {
    return this.recorded;
  }

  get done(): boolean {
    return this.finished || this.recorded >= this.totalSteps;
  }

  get inFlight(): number {
    return this.inflight.length;
  }

  lrAt(step: number): number {
    return learningRate({ kind: this.settings.train.schedule, lr: this.settings.train.learningRate, warmupSteps: this.warmup, totalSteps: this.totalSteps }, step);
  }

  /**
   * Records and submits the next optimizer step (all micro-batches, clipping and AdamW in one
   * submission). Returns false when the run is over. Call next() before more than MAX_IN_FLIGHT
   * steps are unread.
   */
  submit(): boolean {
    if (this.done) return false;
    if (this.inflight.length >= MAX_IN_FLIGHT) throw new TrainError(`${this.inflight.length} steps are unread; read one with next() first`);
    const micro: B[] = [];
    for (let i = 0; i < this.run.gradAccum; i++) {
      const b = this.batcher.next();
      if (!b) break;
      micro.push(b);
    }
    if (micro.length === 0) {
      this.finished = true;
      return false;
    }
    const { model, ws } = this;
    const targets = micro.reduce((s, b) => s + b.targetTokens, 0);
    const k = this.recorded;
    const lr = this.lrAt(k);
    micro.forEach((batch, i) => model.stageBatch(ws, i, batch));
    const rec = new Recorder(model.gpu, `step ${k + 1}`);
    this.recordStep(rec, micro, k, lr, targets);
    const slot = this.ring.capture(rec, this.optimizer.control);
    rec.submit();
    const read = this.ring.read(slot);
    // A run cancelled with steps in flight destroys the ring: their reads reject unobserved.
    read.catch(() => {});
    this.recorded++;
    this.inflight.push({
      step: this.recorded, lr, targets,
      epoch: Math.min(this.recorded / this.stepsPerEpoch, this.settings.train.maxSteps > 0 ? Infinity : this.settings.train.epochs),
      tokens: micro.length * this.run.microBatch * this.run.seqLen,
      read,
    });
    return true;
  }

  /** One optimizer step's commands: gradients cleared, every micro-batch's forward and backward, the optimizer. */
  private recordStep(rec: Recorder, micro: B[], k: number, lr: number, targets: number): void {
    this.optimizer.clearGrads(rec);
    micro.forEach((batch, i) => {
      // The dropout key's step counts micro-batches over the whole run, so a resumed run draws the same masks.
      // Every training pass gets one: the family decides which dropouts apply (LoRA's when p > 0, an encoder's hidden ones).
      const dropout = { seed: this.settings.train.seed, step: k * this.run.gradAccum + i };
      // Gradients are sums over target tokens: the step control divides by the step's token count.
      this.model.trainMicroBatch(rec, this.ws, i, batch, this.adapter, { gradScale: 1, dropout, accumulateLoss: i > 0 });
    });
    this.optimizer.recordStep(rec, { lossSum: this.ws.lossSum, tokenCount: Math.max(1, targets), lr, tMin: this.knownApplied + 1, tCount: this.inflight.length + 1 });
  }

  /**
   * Compiles every pipeline a step and an evaluation use before the first step, concurrently, with
   * progress: the step is recorded into a collecting recorder with this run's first micro-batches
   * (read from a copy of the batcher, so the run's own order is untouched). `queueBusyUntil`: the
   * weights still loading (PipelineCache.prepare).
   */
  async prepare(onProgress?: (done: number, total: number) => void, queueBusyUntil?: Promise<unknown>): Promise<void> {
    const t = this.settings.train;
    const peek = this.model.createBatcher(this.data, {
      microBatch: this.run.microBatch, seqLen: this.run.seqLen, padId: this.run.padId, seed: t.seed,
      epochs: t.maxSteps > 0 ? Number.MAX_SAFE_INTEGER : t.epochs, packing: t.packing, shuffle: t.shuffle, cursor: this.batcher.cursor,
    });
    const first = peek.next();
    if (!first) return;
    const micro = Array.from({ length: this.run.gradAccum }, () => first);
    const rec = Recorder.collecting(this.model.gpu, 'kernels of a step');
    this.recordStep(rec, micro, this.recorded, this.lrAt(this.recorded), 1);
    this.model.evalMicroBatch(rec, this.ws, 0, first, this.adapter, false);
    await this.model.gpu.pipelines.prepare(rec.collected, onProgress, queueBusyUntil);
  }

  /** The oldest submitted step's result (waits for the GPU to finish it). */
  async next(): Promise<StepReport> {
    const f = this.inflight[0];
    if (!f) throw new TrainError('no step is in flight');
    const c = decodeStepControl(await f.read);
    this.inflight.shift();
    this.knownApplied = c.applied;
    this.knownSkipped = c.skipped;
    const now = performance.now();
    const stepMs = now - this.lastDone;
    this.lastDone = now;
    return {
      step: f.step,
      totalSteps: this.totalSteps,
      epoch: f.epoch,
      loss: f.targets > 0 ? c.loss : NaN,
      lr: f.lr,
      gradNorm: c.gradNorm,
      paramNorm: Math.sqrt(c.paramSumSq),
      skipped: !c.updated,
      reasons: c.reasons,
      applied: c.applied,
      skippedSteps: c.skipped,
      targetTokens: f.targets,
      tokens: f.tokens,
      stepMs,
      tokensPerSecond: f.tokens / Math.max(1e-3, stepMs / 1000),
    };
  }

  /** Results of every step still in flight, oldest first. */
  async drain(): Promise<StepReport[]> {
    const out: StepReport[] = [];
    while (this.inflight.length) out.push(await this.next());
    return out;
  }

  /** Marks the start of a timed stretch (after a pause or an evaluation, so step times stay honest). */
  restartClock(): void {
    this.lastDone = performance.now();
  }

  /** Everything needed to continue this run to the same result (every step must have been read). */
  async state(run: Record<string, unknown> = {}): Promise<TrainState> {
    if (this.inflight.length) throw new TrainError('read every step in flight (drain) before taking the state');
    const s = await this.optimizer.snapshot();
    return {
      step: this.recorded,
      totalSteps: this.totalSteps,
      dataCursor: this.batcher.cursor,
      skippedSteps: s.skipped,
      rolledBackSteps: s.rolledBack,
      run,
      params: s.params,
      m: s.m,
      v: s.v,
    };
  }

  /** The current adapter parameters (read back after every step in flight). */
  async parameters(): Promise<Float32Array> {
    return (await this.optimizer.snapshot()).params;
  }

  destroy(): void {
    this.model.destroyWorkspace(this.ws);
    this.optimizer.destroy();
    this.ring.destroy();
  }
}
