// One training run inside the worker: the engine's Trainer driven step by step, with pause,
// resume, stop and cancel between steps, a progress event per step, validation loss every
// `evalInterval` steps, and the engine's checkpoint bytes every `checkpointInterval` steps.
import { Trainer, evaluate, type TrainConfig, DEFAULT_TRAIN_CONFIG } from '../engine/train/trainer';
import { deserializeCheckpoint, serializeCheckpoint } from '../engine/train/checkpoint';
import type { Gpu } from '../engine/gpu/device';
import type { StudioSettings } from '../app/store/settings';
import type { LoadedModel } from './model';
import type { PreparedDataset } from './dataset';
import type { TrainEvent, TrainResult } from './protocol';
import { engineLora, writeAdapter } from './adapterFiles';
import { CancelledError, yieldToEvents } from './cancel';

export class RunConfigError extends Error {
  constructor(message: string) {
    super(`RunConfigError: ${message}`);
    this.name = 'RunConfigError';
  }
}

/** What the UI can do to a running run (between optimizer steps). */
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

  stop(): void {
    this.stopRequested = true;
    this.wake?.();
  }

  /** Waits while paused (returns at once otherwise). */
  async waitWhilePaused(signal: AbortSignal): Promise<void> {
    while (this.paused && !this.stopRequested && !signal.aborted) {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        const t = setTimeout(resolve, 250);
        signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
      });
    }
    this.wake = null;
  }
}

export function trainConfig(settings: StudioSettings, padId: number): TrainConfig {
  const t = settings.train;
  return {
    ...DEFAULT_TRAIN_CONFIG,
    lora: engineLora(settings.lora),
    lr: t.learningRate,
    epochs: t.epochs,
    maxSteps: t.maxSteps > 0 ? t.maxSteps : null,
    batchSize: t.microBatch,
    gradAccum: t.accumulation,
    seqLen: t.maxLength,
    schedule: t.schedule,
    warmupSteps: null,
    warmupRatio: t.warmupRatio,
    weightDecay: t.weightDecay,
    seed: t.seed,
    padId,
  };
}

/** Identity of a run: a checkpoint resumes only with the same model, data and settings. */
export function runIdentity(model: LoadedModel, data: PreparedDataset, settings: StudioSettings): string {
  return JSON.stringify({ model: model.key, data: data.key, lora: settings.lora, train: settings.train });
}

export interface RunArgs {
  gpu: Gpu;
  model: LoadedModel;
  data: PreparedDataset;
  settings: StudioSettings;
  resumeFrom?: Uint8Array;
  initParams?: Float32Array;
  control: RunControl;
  signal: AbortSignal;
  onEvent: (event: TrainEvent) => void;
}

export interface RunOutcome extends TrainResult {
  params: Float32Array;
}

export async function runTraining(args: RunArgs): Promise<RunOutcome> {
  const { gpu, model, data, settings, control, signal, onEvent } = args;
  if (!data.train) throw new RunConfigError('the dataset has no training rows (fix its errors first)');
  const identity = runIdentity(model, data, settings);
  const config = trainConfig(settings, model.padId);
  let resume;
  if (args.resumeFrom) {
    resume = deserializeCheckpoint(args.resumeFrom, 'stored checkpoint');
    if (resume.config.identity !== identity) {
      throw new RunConfigError('the stored checkpoint belongs to another model, dataset or settings; load the same ones to resume it');
    }
  }
  let lost: Error | null = null;
  const unsubscribe = gpu.onLost((error) => (lost = error));
  const trainer = new Trainer(gpu, model.gpuModel, data.train, config, { resume, initParams: args.initParams });
  let finalLoss: number | null = null;
  let finalValidationLoss: number | null = null;
  const validate = async (step: number) => {
    if (!data.validation) return;
    const r = await evaluate(gpu, model.gpuModel, data.validation, { batchSize: config.batchSize, seqLen: config.seqLen, padId: config.padId, adapter: trainer.adapter, signal });
    finalValidationLoss = r.loss;
    onEvent({ type: 'eval', step, validationLoss: r.loss });
  };
  try {
    if (!resume && settings.train.evalInterval > 0) await validate(0);
    while (!trainer.done) {
      if (lost) throw lost;
      if (signal.aborted) throw new CancelledError('training');
      if (control.paused) {
        onEvent({ type: 'paused', step: trainer.step });
        await control.waitWhilePaused(signal);
        if (!control.stopRequested && !signal.aborted) onEvent({ type: 'resumed', step: trainer.step });
        continue;
      }
      if (control.stopRequested) break;
      const report = await trainer.trainStep(signal);
      if (lost) throw lost;
      if (!report) break;
      if (Number.isFinite(report.loss)) finalLoss = report.loss;
      onEvent({
        type: 'step',
        step: report.step,
        totalSteps: report.totalSteps,
        epoch: report.epoch,
        loss: report.loss,
        learningRate: report.lr,
        gradNorm: report.gradNorm,
        tokensPerSecond: report.tokensPerSecond,
        etaSeconds: report.etaMs / 1000,
        skipped: report.skipped,
      });
      const ev = settings.train.evalInterval;
      if (ev > 0 && (report.step % ev === 0 || report.step === report.totalSteps)) await validate(report.step);
      const ck = settings.train.checkpointInterval;
      if (ck > 0 && report.step % ck === 0 && report.step < report.totalSteps) {
        onEvent({ type: 'checkpoint', step: report.step, bytes: serializeCheckpoint(trainer.state({ identity })) });
      }
      await yieldToEvents();
    }
    const params = trainer.parameters();
    const files = writeAdapter(model.spec, trainer.layout, params, settings.lora, model.info.source === 'hub' ? model.info.name : model.info.name);
    return {
      status: trainer.done ? 'done' : 'stopped',
      steps: trainer.step,
      finalLoss,
      finalValidationLoss,
      ...files,
      params,
    };
  } catch (error) {
    // On a lost device the step in flight fails with whatever the driver says (often before the
    // device's lost promise settles): give the loss a moment to be reported, then report it.
    if (!lost) await Promise.race([gpu.device.lost, new Promise((resolve) => setTimeout(resolve, 1000))]);
    await yieldToEvents();
    if (lost) throw lost;
    throw error;
  } finally {
    unsubscribe();
    if (!lost) trainer.destroy();
  }
}
