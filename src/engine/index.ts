/**
 * The engine's public API: one object over a GPU that loads a model, plans memory, trains,
 * evaluates, generates, and moves adapters and checkpoints in and out. It knows nothing of the
 * DOM or React; a Web Worker exposes it through comlink, the CLI and the tests call it directly.
 * Every long call takes an AbortSignal; training can also be paused, resumed and stopped
 * between optimizer steps.
 */
import type { Checkpoint, ModelFiles } from '../formats/checkpoint';
import { openCheckpoint } from '../formats/checkpoint';
import type { ModelSpec } from '../formats/hfConfig';
import type { TokenDataset } from '../data/batches';
import type { Gpu } from './gpu/device';
import { LlamaGpu, createGpuAdapter, destroyGpuAdapter, type GpuAdapter } from './model/llama';
import { exportAdapter as writeAdapterFiles, importAdapter as readAdapterFiles, type AdapterFiles } from './model/adapterFiles';
import { DEFAULT_SAMPLING, generateTokens, type SamplingOptions } from './model/generate';
import type { AdapterLayout, LoraSettings } from './model/lora';
import { DEFAULT_TRAIN_CONFIG, Trainer, evaluate, type EvalResult, type StepReport, type TrainConfig } from './train/trainer';
import { MemoryPlanError, checkMemory, logitsChunkTokens, type MemoryPlan } from './train/memory';
import { deserializeCheckpoint, serializeCheckpoint, type TrainState } from './train/checkpoint';

export class EngineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EngineError';
  }
}

export interface LoadProgress {
  loaded: number;
  total: number;
  tensor: string;
}

export interface MemoryRequest {
  lora: LoraSettings;
  batchSize: number;
  seqLen: number;
  gradientCheckpointing: boolean;
  /** Bytes the run may use; WebGPU does not report device memory, so the UI asks or guesses. */
  budgetBytes: number;
  /** Generation KV cache tokens to include (default 0). */
  kvCacheTokens?: number;
}

export interface MemoryEstimate extends MemoryPlan {
  fits: boolean;
  /** Why it does not fit and which setting to lower to what. */
  message: string | null;
}

/** One progress event per optimizer step (valLoss on evaluation steps). */
export interface TrainProgress extends StepReport {
  valLoss?: number;
  valPerplexity?: number;
}

export interface TrainData {
  train: TokenDataset;
  validation?: TokenDataset;
}

export interface TrainOptions {
  onProgress?: (p: TrainProgress) => void;
  signal?: AbortSignal;
  /** Validation every N steps (and at the end) when validation data is given. */
  evalEvery?: number;
  /** Continue from checkpoint bytes (engine.checkpoint()). */
  resume?: Uint8Array;
  /** Start from an existing PEFT adapter. */
  initAdapter?: AdapterFiles;
  /** Called every checkpointEvery steps with the checkpoint bytes (e.g. to store in IndexedDB). */
  onCheckpoint?: (bytes: Uint8Array, step: number) => void;
  checkpointEvery?: number;
}

export interface TrainSummary {
  steps: number;
  totalSteps: number;
  finalLoss: number | null;
  skippedSteps: number;
  /** Ended by stop() or the signal before the last step. */
  stopped: boolean;
}

export interface GenerateOptions extends Partial<SamplingOptions> {
  /** Use the current adapter (trained or imported); false compares with the base model. */
  adapter?: boolean;
  onToken?: (token: number) => void;
  signal?: AbortSignal;
}

export function createEngine(gpu: Gpu) {
  let model: LlamaGpu | null = null;
  let checkpointFile: Checkpoint | null = null;
  let modelName = '';
  let trainer: Trainer | null = null;
  /** An adapter imported for inference (when no trainer holds one). */
  let imported: GpuAdapter | null = null;
  let paused = false;
  let stopRequested = false;
  let wake: (() => void) | null = null;

  const requireModel = (): LlamaGpu => {
    if (!model) throw new EngineError('no model is loaded: call loadModel first');
    return model;
  };
  const currentAdapter = (): GpuAdapter | null => trainer?.adapter ?? imported;
  const releaseAdapters = () => {
    trainer?.destroy();
    trainer = null;
    if (imported) destroyGpuAdapter(imported);
    imported = null;
  };

  return {
    get spec(): ModelSpec | null {
      return model?.spec ?? null;
    },

    /** Opens a checkpoint (any ModelFiles: folder, URL, hub, dropped files) and uploads its weights. */
    async loadModel(files: ModelFiles, onProgress?: (p: LoadProgress) => void, signal?: AbortSignal): Promise<{ spec: ModelSpec; name: string; f16: boolean }> {
      releaseAdapters();
      model?.destroy();
      model = null;
      checkpointFile = await openCheckpoint(files);
      const ckpt = checkpointFile;
      model = await LlamaGpu.load(gpu, ckpt.spec, (n) => ckpt.readTensorF32(n), {
        signal,
        onProgress: (loaded, total, tensor) => onProgress?.({ loaded, total, tensor }),
      });
      modelName = files.name;
      return { spec: ckpt.spec, name: files.name, f16: model.f16 };
    },

    /** The planner's numbers, and whether (and why not) the configuration fits. */
    estimateMemory(req: MemoryRequest): MemoryEstimate {
      const m = requireModel();
      const cfg = { batchSize: req.batchSize, seqLen: req.seqLen, gradientCheckpointing: req.gradientCheckpointing, weightsF16: m.f16, logitsChunkTokens: logitsChunkTokens(m.spec.vocabSize, req.batchSize * req.seqLen, gpu.limits.maxStorageBufferBindingSize), kvCacheTokens: req.kvCacheTokens ?? 0 };
      try {
        return { ...checkMemory(m.spec, req.lora, cfg, { budgetBytes: req.budgetBytes, maxBufferSize: gpu.limits.maxBufferSize }), fits: true, message: null };
      } catch (error) {
        if (error instanceof MemoryPlanError) return { ...error.plan, fits: false, message: error.message };
        throw error;
      }
    },

    /** Trains until the schedule ends, stop() is called or the signal aborts; progress per step. */
    async train(config: Partial<TrainConfig>, data: TrainData, opts: TrainOptions = {}): Promise<TrainSummary> {
      const m = requireModel();
      const cfg: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, ...config, padId: config.padId ?? m.spec.padTokenId ?? m.spec.eosTokenIds[0] ?? 0 };
      let initParams: Float32Array | undefined;
      if (opts.initAdapter) {
        const a = await readAdapterFiles(m.spec, opts.initAdapter);
        cfg.lora = a.settings;
        initParams = a.params;
      }
      const resume: TrainState | undefined = opts.resume ? deserializeCheckpoint(opts.resume) : undefined;
      releaseAdapters();
      trainer = new Trainer(gpu, m, data.train, cfg, { initParams, resume });
      paused = false;
      stopRequested = false;
      let last: StepReport | null = null;
      const t = trainer;
      while (!t.done) {
        while (paused && !stopRequested && !opts.signal?.aborted) await new Promise<void>((r) => (wake = r));
        if (stopRequested || opts.signal?.aborted) break;
        const report = await t.trainStep(opts.signal);
        if (!report) break;
        last = report;
        const progress: TrainProgress = { ...report };
        if (data.validation && opts.evalEvery && (report.step % opts.evalEvery === 0 || report.step === report.totalSteps)) {
          const ev = await evaluate(gpu, m, data.validation, { batchSize: cfg.batchSize, seqLen: cfg.seqLen, padId: cfg.padId, adapter: t.adapter, signal: opts.signal });
          progress.valLoss = ev.loss;
          progress.valPerplexity = ev.perplexity;
        }
        opts.onProgress?.(progress);
        if (opts.onCheckpoint && opts.checkpointEvery && report.step % opts.checkpointEvery === 0) {
          opts.onCheckpoint(serializeCheckpoint(t.state({ model: modelName })), report.step);
        }
      }
      return { steps: t.step, totalSteps: t.totalSteps, finalLoss: last?.loss ?? null, skippedSteps: t.state().skippedSteps, stopped: !t.done };
    },

    pause(): void {
      paused = true;
    },
    resume(): void {
      paused = false;
      wake?.();
    },
    stop(): void {
      stopRequested = true;
      wake?.();
    },

    /** Validation loss and perplexity, with the current adapter or the base model. */
    async evaluate(data: TokenDataset, opts: { batchSize: number; seqLen: number; adapter?: boolean; signal?: AbortSignal }): Promise<EvalResult> {
      const m = requireModel();
      const adapter = opts.adapter === false ? null : currentAdapter();
      return evaluate(gpu, m, data, { batchSize: opts.batchSize, seqLen: opts.seqLen, padId: m.spec.padTokenId ?? 0, adapter, signal: opts.signal });
    },

    /** New token ids after the prompt (KV cache; EOS ends it). */
    async generate(promptIds: ArrayLike<number>, opts: GenerateOptions = {}): Promise<number[]> {
      const m = requireModel();
      const { adapter: _useAdapter, onToken: _onToken, signal: _signal, ...given } = opts;
      const sampling: SamplingOptions = { ...DEFAULT_SAMPLING, eosTokenIds: m.spec.eosTokenIds, ...stripUndefined(given) };
      const adapter = opts.adapter === false ? null : currentAdapter();
      return generateTokens(m, adapter, promptIds, sampling, { onToken: opts.onToken, signal: opts.signal });
    },

    /** The current adapter as a PEFT folder's two files. */
    exportAdapter(): AdapterFiles {
      const m = requireModel();
      if (trainer) return writeAdapterFiles(m.spec, trainer.layout, trainer.parameters(), modelName);
      throw new EngineError('there is no trained adapter to export (train first, or export the imported files as they are)');
    },

    /** Loads a PEFT adapter for evaluation and generation (validated against the model). */
    async importAdapter(files: AdapterFiles): Promise<{ settings: LoraSettings; layout: AdapterLayout }> {
      const m = requireModel();
      const a = await readAdapterFiles(m.spec, files);
      releaseAdapters();
      imported = createGpuAdapter(gpu, a.layout, a.params);
      return { settings: a.settings, layout: a.layout };
    },

    /** The run's full state as bytes (IndexedDB, files). */
    checkpoint(): Uint8Array {
      if (!trainer) throw new EngineError('there is no training run to checkpoint');
      return serializeCheckpoint(trainer.state({ model: modelName }));
    },

    /** Checks checkpoint bytes and returns their state; pass the bytes to train({ resume }) to continue. */
    restore(bytes: Uint8Array): { step: number; totalSteps: number; epoch: number; config: Record<string, unknown> } {
      const s = deserializeCheckpoint(bytes);
      return { step: s.step, totalSteps: s.totalSteps, epoch: s.epoch, config: s.config };
    },

    /** Frees every GPU buffer the engine holds. */
    dispose(): void {
      releaseAdapters();
      model?.destroy();
      model = null;
    },
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export type Engine = ReturnType<typeof createEngine>;

export { DEFAULT_TRAIN_CONFIG, type TrainConfig, type StepReport, type EvalResult } from './train/trainer';
export { DEFAULT_LORA, LORA_MODULES, type LoraModule, type LoraSettings } from './model/lora';
export { planMemory, checkMemory, MemoryPlanError, formatBytes, type MemoryPlan } from './train/memory';
export { DEFAULT_SAMPLING, type SamplingOptions } from './model/generate';
export type { AdapterFiles } from './model/adapterFiles';
