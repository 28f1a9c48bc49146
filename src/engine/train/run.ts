/**
 * The run driver: the only code that sequences a training run — plan, data → micro-batches →
 * optimizer steps → evaluation → checkpoints → events — for every front end (the studio's worker,
 * the CLI, the bench, the tests). Front ends only say where events and checkpoints go, and may
 * pause, resume, stop (keeping the adapter) or cancel (an AbortSignal) between steps.
 *
 * Steps are pipelined: step k+1 is recorded and submitted before step k's scalars are read, so
 * the GPU never waits for the CPU; a pause, stop, evaluation or checkpoint first reads every step
 * in flight, so they all happen at a step boundary the events have already reported.
 */
import type { Batch, TokenDataset } from '../../data/batches';
import { assertValidSettings, canonicalJson, trainingKey, type RunSettings } from '../../settings/settings';
import type { BatchLike, TrainableModel } from '../model/model';
import type { Plannable } from '../model/families';
import type { AdapterLayout } from '../model/lora';
import { deserializeCheckpoint, serializeCheckpoint, type TrainState } from '../../formats/checkpoint';
import { evaluate, type EvalResult } from './evaluate';
import { PlanError, planRun, runSeqLen, type PlanLimits, type RunPlan } from './memory';
import { MAX_IN_FLIGHT, TrainError, Trainer, type StepReport } from './trainer';
import { DivergenceWatch } from './divergence';

export class RunCancelledError extends Error {
  constructor() {
    super('the training run was cancelled');
    this.name = 'AbortError';
  }
}

export class DivergedError extends Error {
  constructor(
    readonly step: number,
    detail: string,
  ) {
    super(`DivergedError: training diverged at step ${step}: ${detail}`);
    this.name = 'DivergedError';
  }
}

/** Pause, resume and stop between optimizer steps. */
export class RunControl {
  paused = false;
  stopRequested = false;
  private wake: (() => void) | null = null;

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.wake?.();
  }

  /** Ends the run after the step in progress; the adapter so far is kept. */
  stop(): void {
    this.stopRequested = true;
    this.wake?.();
  }

  async waitWhilePaused(signal?: AbortSignal): Promise<void> {
    while (this.paused && !this.stopRequested && !signal?.aborted) {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        const t = setTimeout(resolve, 250);
        signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
      });
    }
    this.wake = null;
  }
}

export interface RunData<D = TokenDataset> {
  train: D;
  validation: D | null;
  /** Longest training row in tokens (the run's rows are cut to it). */
  longestRow: number;
}

/** What a checkpoint belongs to: a resume refuses another model, dataset or settings. */
export interface RunIdentity {
  model: string;
  data: string;
}

export type RunEvent =
  | { type: 'plan'; plan: RunPlan; totalSteps: number; stepsPerEpoch: number; resumedAt: number }
  /**
   * While the step's GPU pipelines compile, before the first step (and while the weights still
   * load, when the request says they do): `done` of `total` compiled.
   */
  | { type: 'compile'; done: number; total: number }
  | { type: 'step'; report: StepReport; etaSeconds: number | null }
  /** Every logInterval steps: means over the interval, named as HF's Trainer logs them. */
  | { type: 'log'; step: number; metrics: Record<string, number> }
  | { type: 'eval'; step: number; result: EvalResult; metrics: Record<string, number> }
  | { type: 'checkpoint'; step: number; bytes: Uint8Array }
  | { type: 'paused'; step: number }
  | { type: 'resumed'; step: number };

export interface RunRequest<D = TokenDataset, B extends BatchLike = Batch> {
  model: TrainableModel<D, B>;
  data: RunData<D>;
  settings: RunSettings;
  identity: RunIdentity;
  /** Memory the run may use (WebGPU does not report it: the studio guesses, the CLI asks). */
  limits: PlanLimits;
  /** Pad token of the model's tokenizer. */
  padId: number;
  /**
   * The model's weights still streaming in (openModel's `loaded`): the run compiles its pipelines
   * meanwhile and takes no step (nor evaluation) before they are in. Its rejection ends the run
   * with the load's error.
   */
  loading?: Promise<unknown>;
  /** Continue from checkpoint bytes (its settings, plan and identity must match). */
  resume?: Uint8Array;
  /** Start from these adapter parameters instead of PEFT's initialization. */
  initParams?: Float32Array;
  control?: RunControl;
  signal?: AbortSignal;
  /** Events; a returned promise is awaited (checkpoints are saved before the run goes on). */
  onEvent?: (event: RunEvent) => void | Promise<void>;
}

export interface RunOutcome {
  status: 'done' | 'stopped';
  steps: number;
  totalSteps: number;
  /** Mean loss of the last logged interval (null if no step had target tokens). */
  finalLoss: number | null;
  finalEval: EvalResult | null;
  skippedSteps: number;
  layout: AdapterLayout;
  params: Float32Array;
  plan: RunPlan;
}

/**
 * The plan a run of these settings gets on this model (loaded, or known from its config: see
 * families.ts) and data: the base precision (the setting, or with auto the most precise the device
 * offers that fits), the micro-batch and checkpointing. The studio shows it before Start; a front
 * end loads the model in plan.weights before runTraining, which refuses a model stored otherwise.
 */
export function planTraining(model: Plannable, settings: RunSettings, data: Pick<RunData, 'longestRow'>, limits: PlanLimits): RunPlan {
  const maxPositions = model.description.maxPositions;
  const seqLen = settings.train.packing ? Math.min(settings.train.maxLength, maxPositions) : runSeqLen(settings, data.longestRow, maxPositions);
  return planRun({
    memory: (cfg, weights) => model.memoryPlan(settings.lora, cfg, weights),
    weights: settings.train.weights ?? 'auto',
    formats: model.description.weightFormats ?? [model.description.weightFormat],
    batchSize: settings.train.batchSize,
    microBatch: settings.train.microBatch,
    seqLen,
    checkpointing: settings.train.gradientCheckpointing,
    maxLength: settings.train.maxLength,
  }, limits);
}

/** The trainer of a run with this plan (checking that the model is stored as the plan says). */
function runTrainer<D, B extends BatchLike>(req: Pick<RunRequest<D, B>, 'model' | 'data' | 'settings' | 'padId' | 'initParams'>, plan: RunPlan, resume?: TrainState): Trainer<D, B> {
  const stored = req.model.description.weightFormat;
  if ((plan.weights ?? stored) !== stored) {
    throw new TrainError(`the run's plan stores the base as ${plan.weights} but the model was loaded as ${stored}: load the model in ${plan.weights} (planTraining says which, before loading)`);
  }
  const layout = { microBatch: plan.microBatch, gradAccum: plan.gradAccum, seqLen: plan.seqLen, checkpointing: plan.checkpointing, padId: req.padId };
  return new Trainer<D, B>(req.model, req.data.train, req.settings, layout, { resume, initParams: resume ? undefined : req.initParams });
}

/**
 * Compiles the trainer's pipelines while `loading` (the weights) goes on, and waits for both; a
 * failed load ends it at once with the load's error (the compilation left running is harmless: it
 * touches no buffer of the model).
 */
async function compileWhileLoading(trainer: Pick<Trainer, 'prepare'>, loading: Promise<unknown> | undefined, onProgress: (done: number, total: number) => void): Promise<void> {
  const compiled = trainer.prepare(onProgress, loading);
  if (!loading) return compiled;
  compiled.catch(() => {});
  await loading;
  await compiled;
}

/**
 * Compiles every pipeline a run of these settings will use, without training: the run's plan, its
 * trainer (workspace and optimizer, freed again) and its first micro-batch recorded, while
 * `loading` goes on. A front end calls it once a model and a dataset are chosen, so that a later
 * runTraining with the same shapes finds its pipelines compiled and its first step starts at once.
 * Throws PlanError when the settings do not fit (the run would refuse them too).
 */
export async function compileRun<D = TokenDataset, B extends BatchLike = Batch>(
  req: Pick<RunRequest<D, B>, 'model' | 'data' | 'settings' | 'limits' | 'padId' | 'loading' | 'signal'>,
  onProgress?: (done: number, total: number) => void,
): Promise<{ plan: RunPlan; pipelines: number }> {
  assertValidSettings(req.settings);
  const plan = planTraining(req.model, req.settings, req.data, req.limits);
  if (!plan.fits) throw new PlanError(plan);
  req.signal?.throwIfAborted();
  const trainer = runTrainer(req, plan);
  let pipelines = 0;
  try {
    await compileWhileLoading(trainer, req.loading, (done, total) => {
      pipelines = total;
      onProgress?.(done, total);
    });
  } finally {
    trainer.destroy();
  }
  return { plan, pipelines };
}

export async function runTraining<D = TokenDataset, B extends BatchLike = Batch>(req: RunRequest<D, B>): Promise<RunOutcome> {
  const { model, data, settings, control, signal } = req;
  assertValidSettings(settings);
  const emit = async (e: RunEvent) => {
    await req.onEvent?.(e);
  };
  let resume: TrainState | undefined;
  let plan: RunPlan;
  if (req.resume) {
    resume = deserializeCheckpoint(req.resume, 'checkpoint');
    const saved = resume.run as { identity?: RunIdentity; settings?: RunSettings; plan?: RunPlan };
    if (canonicalJson(saved.identity) !== canonicalJson(req.identity)) {
      throw new TrainError(`the checkpoint belongs to another model or dataset (${saved.identity?.model ?? '?'} on ${saved.identity?.data ?? '?'}); load the same ones to resume it`);
    }
    if (!saved.settings || trainingKey(saved.settings) !== trainingKey(settings)) {
      throw new TrainError('the checkpoint was made with other training settings; restore them (the run record holds them) to resume it');
    }
    if (!saved.plan) throw new TrainError('the checkpoint does not record its run plan');
    plan = saved.plan;
  } else {
    plan = planTraining(model, settings, data, req.limits);
    if (!plan.fits) throw new PlanError(plan);
  }
  const trainer = runTrainer(req, plan, resume);
  const runInfo = { identity: req.identity, settings, plan };
  const ev = settings.eval;
  const validate = async (step: number): Promise<EvalResult | null> => {
    if (!data.validation) return null;
    const result = await evaluate(model, data.validation, { microBatch: plan.microBatch, seqLen: plan.seqLen, padId: req.padId, adapter: trainer.adapter, signal });
    await emit({ type: 'eval', step, result, metrics: result.metrics });
    trainer.restartClock();
    return result;
  };
  let finalEval: EvalResult | null = null;
  let finalLoss: number | null = null;
  let stepEma: number | null = null;
  const watch = new DivergenceWatch(trainer.initialParamNorm);
  const interval = { loss: 0, targets: 0, gradNorm: 0, steps: 0 };
  try {
    await emit({ type: 'plan', plan, totalSteps: trainer.totalSteps, stepsPerEpoch: trainer.stepsPerEpoch, resumedAt: trainer.step });
    await compileWhileLoading(trainer, req.loading, (done, total) => void emit({ type: 'compile', done, total }));
    trainer.restartClock();
    if (!resume && ev.evalInterval > 0) await validate(0);
    let checkpointedAt = trainer.step;
    let evaluatedAt = resume ? trainer.step : 0;
    const report = async (r: StepReport) => {
      if (r.step > 1 || resume) stepEma = stepEma === null ? r.stepMs : 0.8 * stepEma + 0.2 * r.stepMs;
      const eta = stepEma === null || r.step - (resume?.step ?? 0) < 2 ? null : (stepEma * (r.totalSteps - r.step)) / 1000;
      await emit({ type: 'step', report: r, etaSeconds: eta });
      const diverged = watch.step(r);
      if (diverged) {
        const never = r.applied === (resume ? resume.step - resume.skippedSteps : 0);
        throw new DivergedError(r.step, never
          ? `${diverged}; no step could be applied since the run started: the base model or the data give non-finite values (check them with adapter-studio inspect and adapter-studio data)`
          : `${diverged}; the last checkpoint is kept: lower the learning rate (now ${settings.train.learningRate}), keep gradient clipping on, or check the data`);
      }
      if (!r.skipped && r.targetTokens > 0) {
        interval.loss += r.loss * r.targetTokens;
        interval.targets += r.targetTokens;
        const rising = watch.loss(r.loss, r.targetTokens);
        if (rising) throw new DivergedError(r.step, `${rising}; the last checkpoint is kept: lower the learning rate (now ${settings.train.learningRate})`);
      }
      interval.gradNorm += Number.isFinite(r.gradNorm) ? r.gradNorm : 0;
      interval.steps++;
      if (r.step % ev.logInterval === 0 || r.step === r.totalSteps) {
        const loss = interval.targets > 0 ? interval.loss / interval.targets : NaN;
        if (Number.isFinite(loss)) finalLoss = loss;
        await emit({ type: 'log', step: r.step, metrics: { loss, grad_norm: interval.gradNorm / interval.steps, learning_rate: r.lr, epoch: r.epoch, skipped_steps: r.skippedSteps } });
        Object.assign(interval, { loss: 0, targets: 0, gradNorm: 0, steps: 0 });
      }
    };
    // The step boundary: read every step in flight, then evaluate and checkpoint where due.
    const boundary = async (final: boolean) => {
      for (const r of await trainer.drain()) await report(r);
      const step = trainer.step;
      if (data.validation && step > evaluatedAt && (final || (ev.evalInterval > 0 && step % ev.evalInterval === 0))) {
        finalEval = (await validate(step)) ?? finalEval;
        evaluatedAt = step;
      }
      const due = final || (ev.checkpointInterval > 0 && step % ev.checkpointInterval === 0);
      if (due && step > checkpointedAt) {
        await emit({ type: 'checkpoint', step, bytes: serializeCheckpoint(await trainer.state(runInfo)) });
        checkpointedAt = step;
        trainer.restartClock();
      }
    };
    while (!trainer.done) {
      if (signal?.aborted) throw new RunCancelledError();
      if (control?.stopRequested) break;
      if (control?.paused) {
        await boundary(false);
        await emit({ type: 'paused', step: trainer.step });
        await control.waitWhilePaused(signal);
        if (!control.stopRequested && !signal?.aborted) await emit({ type: 'resumed', step: trainer.step });
        trainer.restartClock();
        continue;
      }
      if (!trainer.submit()) break;
      const step = trainer.step;
      const atBoundary = (ev.evalInterval > 0 && step % ev.evalInterval === 0) || (ev.checkpointInterval > 0 && step % ev.checkpointInterval === 0);
      if (atBoundary) await boundary(false);
      else if (trainer.inFlight >= MAX_IN_FLIGHT) await report(await trainer.next());
      // Let the event loop run, so that pause, stop and cancel messages arrive between steps.
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    await boundary(true);
    const params = await trainer.parameters();
    const state = await trainer.state(runInfo);
    return {
      status: trainer.done ? 'done' : 'stopped',
      steps: trainer.step,
      totalSteps: trainer.totalSteps,
      finalLoss,
      finalEval,
      skippedSteps: state.skippedSteps,
      layout: trainer.layout,
      params,
      plan,
    };
  } finally {
    trainer.destroy();
  }
}
