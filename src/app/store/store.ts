// The studio's state in one zustand store. Pure state and setters: talking to the worker and to
// IndexedDB lives in ../controller.ts, so the store can be tested without either.
import { createStore, type StoreApi } from 'zustand/vanilla';
import { useStore } from 'zustand';
import { canonicalJson, cloneSettings, DEFAULT_SETTINGS, trainingKey, withSetting, type ModelChoice, type RunSettings, type SettingValue } from '../../settings/settings';
import type { DatasetInfo, HubModelSummary, LoadProgress, ModelInfo, PlanInfo, TrainEvent } from '../../worker/protocol';
import type { GpuStatus } from '../../worker/api';
import type { AdapterMeta } from '../../storage/adapters';
import type { RunMeta } from '../../storage/checkpoints';
import type { ExportTarget } from '../exportTargets';

export const SCREENS = ['model', 'dataset', 'hyperparameters', 'training', 'playground', 'library'] as const;
export type Screen = (typeof SCREENS)[number];

export interface Notice {
  id: number;
  kind: 'info' | 'warning' | 'error';
  text: string;
}

export type ModelState =
  | { status: 'idle' }
  | { status: 'loading'; progress: LoadProgress | null }
  | { status: 'ready'; info: ModelInfo }
  | { status: 'error'; message: string };

/**
 * A model being loaded while the working one stays in use (a hub card clicked): it becomes the
 * model only once it is ready; a failure leaves the working model and its selection as they were.
 */
export type PendingModel =
  | { status: 'loading'; choice: ModelChoice; progress: LoadProgress | null }
  | { status: 'error'; choice: ModelChoice; message: string };

export type DatasetState =
  | { status: 'empty' }
  | { status: 'reading'; name: string }
  | { status: 'ready'; info: DatasetInfo }
  | { status: 'error'; info: DatasetInfo | null; message: string };

export interface LossPoint {
  step: number;
  loss: number;
}

export type TrainingStatus = 'idle' | 'starting' | 'running' | 'paused' | 'stopping' | 'done' | 'stopped' | 'cancelled' | 'failed';

/**
 * What a run is doing before its first optimizer step. Compiling and a reload's weights may go on
 * together: the compile phase then carries the weights' progress too.
 */
export type StartupPhase =
  | { kind: 'previous' }
  | { kind: 'model'; loaded: number; total: number }
  | { kind: 'dataset' }
  | { kind: 'planning' }
  | { kind: 'compile'; done: number; total: number; weights?: { loaded: number; total: number } }
  | { kind: 'validating' };

/**
 * The background compile of the next run's GPU kernels, before Start (the worker's `compile`), for
 * the state `key` names (kernelsKey): compiling with progress, ready (`pipelines` compiled by it, 0
 * when all already were), skipped with the reason, or failed. None of them blocks Start: the run
 * compiles whatever is missing and reports its own errors.
 */
export type KernelsState =
  | { status: 'idle' }
  | { status: 'compiling'; key: string; done: number; total: number }
  | { status: 'ready'; key: string; pipelines: number }
  | { status: 'skipped'; key: string; reason: string }
  | { status: 'failed'; key: string; message: string };

/** Validation metrics of one evaluation, named as HF logs them (eval_loss, eval_perplexity, eval_accuracy, …). */
export interface EvalPoint {
  step: number;
  metrics: Record<string, number>;
}

export interface TrainingState {
  status: TrainingStatus;
  runId: string | null;
  step: number;
  totalSteps: number;
  /** Optimizer steps per epoch (from the plan event; 0 until it arrives). */
  stepsPerEpoch: number;
  /** Epochs done, as a fraction (HF's epoch). */
  epoch: number;
  /** Whether this run has reported a step: until then no step field (lr, grad norm, tokens/s) shows a number. */
  stepped: boolean;
  /** Before the first step: what the run is doing (null once steps arrive). */
  startup: StartupPhase | null;
  /**
   * GPU kernels compiled after Start, before the first step: the run's own, or those of a background
   * compile it waited for. 0 when every kernel was ready at Start.
   */
  startupKernels: number;
  learningRate: number;
  gradNorm: number;
  tokensPerSecond: number;
  /** Null until a step time has been measured. */
  etaSeconds: number | null;
  skippedSteps: number;
  /** Micro-batch, accumulation, checkpointing and memory of the running run. */
  plan: PlanInfo | null;
  train: LossPoint[];
  validation: LossPoint[];
  /** Every evaluation's metrics, oldest first. */
  evals: EvalPoint[];
  /** The latest logged metrics line (HF's logging_steps). */
  lastLog: EvalPoint | null;
  lastCheckpointStep: number | null;
  error: string | null;
  /** The run stopped because the GPU device was lost; it can resume from the last checkpoint. */
  deviceLost: boolean;
  /** Library id of the adapter the run produced. */
  adapterId: string | null;
}

export const IDLE_TRAINING: TrainingState = {
  status: 'idle',
  runId: null,
  step: 0,
  totalSteps: 0,
  stepsPerEpoch: 0,
  epoch: 0,
  stepped: false,
  startup: null,
  startupKernels: 0,
  learningRate: 0,
  gradNorm: 0,
  tokensPerSecond: 0,
  etaSeconds: null,
  skippedSteps: 0,
  plan: null,
  train: [],
  validation: [],
  evals: [],
  lastLog: null,
  lastCheckpointStep: null,
  error: null,
  deviceLost: false,
  adapterId: null,
};

export interface StudioState {
  screen: Screen;
  settings: RunSettings;
  notices: Notice[];
  /** Settings whose field holds text that is not a valid value (not applied): Start waits for them. */
  fieldErrors: Record<string, string>;
  gpu: GpuStatus | null;
  model: ModelState;
  pendingModel: PendingModel | null;
  /** A hub model a share link names: described (size, memory plan) but not loaded until the user presses Load. */
  linkModel: { id: string; summary: HubModelSummary | null; error: string | null } | null;
  /** Hugging Face access token for gated repositories: memory only, unless `remember` (then this device's storage). */
  hubToken: { token: string; remember: boolean };
  dataset: DatasetState;
  /** Name of a separate validation file dropped on the Dataset screen (null: the validation split is used). */
  validationFile: string | null;
  /** The planner's answer (memory, micro-batch, fix), and what it was asked for (see planKey). */
  plan: PlanInfo | null;
  planKey: string | null;
  /** The next run's kernels compiling in the background (see currentKernels). */
  kernels: KernelsState;
  training: TrainingState;
  library: AdapterMeta[];
  /** Runs with a stored checkpoint that did not finish (a reloaded tab, a lost device). */
  interrupted: RunMeta[];
  storage: { persisted: boolean | null; usage: number | null; quota: number | null };
  /** The Library's "Export for…" at work: which adapter, where to, and how far. */
  exporting: ExportState | null;

  setScreen(screen: Screen): void;
  setModelChoice(model: ModelChoice): void;
  /** Sets one setting by its contract key ("lora.r"). */
  setSetting(key: string, value: SettingValue): void;
  replaceSettings(settings: RunSettings): void;
  notify(kind: Notice['kind'], text: string): void;
  dismiss(id: number): void;
  setFieldError(key: string, message: string | null): void;
  setGpu(gpu: GpuStatus): void;
  setModel(model: ModelState): void;
  setPendingModel(pending: PendingModel | null): void;
  setLinkModel(linkModel: StudioState['linkModel']): void;
  setHubToken(token: { token: string; remember: boolean }): void;
  setDataset(dataset: DatasetState): void;
  setValidationFile(name: string | null): void;
  setPlan(plan: PlanInfo | null, key?: string | null): void;
  setKernels(kernels: KernelsState): void;
  startTraining(runId: string, resumedFrom?: { train: LossPoint[]; validation: LossPoint[]; step: number }): void;
  setStartup(phase: StartupPhase | null): void;
  applyTrainEvent(event: TrainEvent): void;
  patchTraining(patch: Partial<TrainingState>): void;
  setLibrary(library: AdapterMeta[]): void;
  setInterrupted(runs: RunMeta[]): void;
  setStorage(storage: Partial<StudioState['storage']>): void;
  setExporting(exporting: ExportState | null): void;
}

export interface ExportState {
  adapterId: string;
  target: ExportTarget;
  /** What the exporter is writing ("onnx/model_q4.onnx", "blk.3.attn_q.weight"), and how far. */
  stage: string;
  done: number;
  total: number;
}

/** Notices shown at once: older ones make way (errors last longest, see notify). */
export const MAX_NOTICES = 4;

/** Keeps the chart cheap on long runs: at most this many points, thinned evenly. */
export const MAX_CHART_POINTS = 2000;

function appendPoint(points: LossPoint[], point: LossPoint): LossPoint[] {
  const next = [...points.filter((p) => p.step < point.step), point];
  if (next.length <= MAX_CHART_POINTS) return next;
  // Keep every other point of the older half.
  const half = next.length >> 1;
  return [...next.slice(0, half).filter((_, i) => i % 2 === 0), ...next.slice(half)];
}

let noticeIds = 0;

export function createStudioStore(initial: Partial<Pick<StudioState, 'settings' | 'screen'>> = {}): StoreApi<StudioState> {
  return createStore<StudioState>()((set) => ({
    screen: initial.screen ?? 'model',
    settings: cloneSettings(initial.settings ?? DEFAULT_SETTINGS),
    notices: [],
    fieldErrors: {},
    gpu: null,
    model: { status: 'idle' },
    pendingModel: null,
    linkModel: null,
    hubToken: { token: '', remember: false },
    dataset: { status: 'empty' },
    validationFile: null,
    plan: null,
    planKey: null,
    kernels: { status: 'idle' },
    training: IDLE_TRAINING,
    library: [],
    interrupted: [],
    storage: { persisted: null, usage: null, quota: null },
    exporting: null,

    setScreen: (screen) => set({ screen }),
    setModelChoice: (model) => set((s) => ({ settings: { ...s.settings, model } })),
    setSetting: (key, value) => set((s) => ({ settings: withSetting(s.settings, key, value) })),
    replaceSettings: (settings) => set({ settings: cloneSettings(settings) }),
    notify: (kind, text) =>
      set((s) => {
        // The same text again replaces the old notice (a repeated failure does not stack).
        let next = [...s.notices.filter((n) => n.text !== text), { id: ++noticeIds, kind, text }];
        // Over the cap, the oldest info notice goes first, then the oldest of any kind.
        while (next.length > MAX_NOTICES) {
          const i = next.findIndex((n) => n.kind === 'info');
          next = next.filter((_, j) => j !== (i >= 0 && i < next.length - 1 ? i : 0));
        }
        return { notices: next };
      }),
    dismiss: (id) => set((s) => ({ notices: s.notices.filter((n) => n.id !== id) })),
    setFieldError: (key, message) =>
      set((s) => {
        if ((s.fieldErrors[key] ?? null) === message) return {};
        const next = { ...s.fieldErrors };
        if (message === null) delete next[key];
        else next[key] = message;
        return { fieldErrors: next };
      }),
    setGpu: (gpu) => set({ gpu }),
    setModel: (model) => set({ model }),
    setPendingModel: (pendingModel) => set({ pendingModel }),
    setLinkModel: (linkModel) => set({ linkModel }),
    setHubToken: (hubToken) => set({ hubToken }),
    setDataset: (dataset) => set({ dataset }),
    setValidationFile: (validationFile) => set({ validationFile }),
    setPlan: (plan, key = null) => set({ plan, planKey: plan ? key : null }),
    setKernels: (kernels) => set({ kernels }),
    startTraining: (runId, resumedFrom) =>
      set({
        training: {
          ...IDLE_TRAINING,
          status: 'starting',
          runId,
          step: resumedFrom?.step ?? 0,
          train: resumedFrom?.train ?? [],
          validation: resumedFrom?.validation ?? [],
        },
      }),
    setStartup: (startup) => set((s) => ({ training: { ...s.training, startup } })),
    applyTrainEvent: (event) =>
      set((s) => {
        const t = s.training;
        switch (event.type) {
          case 'plan':
            return {
              training: {
                ...t,
                plan: { ...event.plan, budget: s.plan?.budget ?? 0, maxBufferSize: s.plan?.maxBufferSize ?? 0, longestRow: s.plan?.longestRow ?? 0 },
                totalSteps: event.totalSteps,
                stepsPerEpoch: event.stepsPerEpoch,
                step: event.resumedAt,
                epoch: event.stepsPerEpoch > 0 ? event.resumedAt / event.stepsPerEpoch : 0,
                startup: t.stepped ? t.startup : { kind: 'planning' },
              },
            };
          case 'compile': {
            // Nothing to compile (a background compile did it all): the start-up goes straight on to the first step.
            if (t.stepped || event.total === 0) return {};
            const p = t.startup;
            const weights = p?.kind === 'compile' ? p.weights : p?.kind === 'model' && p.loaded < p.total ? { loaded: p.loaded, total: p.total } : undefined;
            return { training: { ...t, startupKernels: Math.max(t.startupKernels, event.total), startup: { kind: 'compile', done: event.done, total: event.total, ...(weights ? { weights } : {}) } } };
          }
          case 'model':
            // The run reloaded the model in its plan's precision: that is the loaded model now.
            return s.model.status === 'ready' ? { model: { status: 'ready', info: event.info } } : {};
          case 'weights': {
            if (t.stepped) return {};
            const p = t.startup;
            const weights = { loaded: event.loaded, total: event.total };
            return { training: { ...t, startup: p?.kind === 'compile' && p.done < p.total ? { ...p, weights } : { kind: 'model', ...weights } } };
          }
          case 'step': {
            const r = event.report;
            return {
              training: {
                ...t,
                status: t.status === 'starting' ? 'running' : t.status,
                stepped: true,
                startup: null,
                step: r.step,
                totalSteps: r.totalSteps,
                epoch: r.epoch,
                learningRate: r.lr,
                gradNorm: r.gradNorm,
                tokensPerSecond: r.tokensPerSecond,
                etaSeconds: event.etaSeconds,
                skippedSteps: r.skippedSteps,
                train: Number.isFinite(r.loss) && !r.skipped ? appendPoint(t.train, { step: r.step, loss: r.loss }) : t.train,
              },
            };
          }
          case 'log':
            return { training: { ...t, lastLog: { step: event.step, metrics: event.metrics } } };
          case 'eval': {
            const metrics = { eval_loss: event.result.loss, ...event.metrics };
            return {
              training: {
                ...t,
                startup: t.stepped ? t.startup : { kind: 'validating' },
                validation: Number.isFinite(metrics.eval_loss) ? appendPoint(t.validation, { step: event.step, loss: metrics.eval_loss }) : t.validation,
                evals: [...t.evals.filter((e) => e.step < event.step), { step: event.step, metrics }].slice(-MAX_CHART_POINTS),
              },
            };
          }
          case 'checkpoint':
            return { training: { ...t, lastCheckpointStep: event.step } };
          case 'paused':
            return { training: { ...t, status: 'paused' } };
          case 'resumed':
            return { training: { ...t, status: 'running' } };
        }
      }),
    patchTraining: (patch) => set((s) => ({ training: { ...s.training, ...patch } })),
    setLibrary: (library) => set({ library }),
    setInterrupted: (interrupted) => set({ interrupted }),
    setStorage: (storage) => set((s) => ({ storage: { ...s.storage, ...storage } })),
    setExporting: (exporting) => set({ exporting }),
  }));
}

export type StudioStore = StoreApi<StudioState>;

/**
 * What a plan answers: the settings that decide a run's memory, the model and the dataset's longest
 * row. A plan whose key differs from the state's is stale (the planner has not answered yet).
 */
export function planKey(s: Pick<StudioState, 'settings' | 'model' | 'dataset'>): string {
  const model = s.model.status === 'ready' ? `${s.model.info.source}:${s.model.info.name}` : '-';
  const longest = s.dataset.status === 'ready' ? (s.dataset.info.stats?.maxTokens ?? 0) : 0;
  return `${trainingKey(s.settings)}|${model}|${longest}`;
}

/**
 * What the next run's kernels depend on: the plan's key (training settings, model, longest row), the
 * base's precision and the dataset (its kernels' shapes come from its rows).
 */
export function kernelsKey(s: Pick<StudioState, 'settings' | 'model' | 'dataset'>): string {
  const weights = s.model.status === 'ready' ? s.model.info.weights : '-';
  const d = s.dataset.status === 'ready' ? s.dataset.info : null;
  const data = d ? canonicalJson({ name: d.name, bytes: d.bytes, mapping: d.mapping, rows: d.stats?.rows ?? 0, tokens: d.stats?.tokens ?? 0 }) : '-';
  return `${planKey(s)}|${weights}|${data}`;
}

/** The background compile of the current state's kernels, or null when none was made for it. */
export function currentKernels(s: Pick<StudioState, 'settings' | 'model' | 'dataset' | 'kernels'>): Exclude<KernelsState, { status: 'idle' }> | null {
  return s.kernels.status !== 'idle' && s.kernels.key === kernelsKey(s) ? s.kernels : null;
}

/** The plan for the current state, or null while the planner has not answered for it. */
export function currentPlan(s: Pick<StudioState, 'settings' | 'model' | 'dataset' | 'plan' | 'planKey'>): PlanInfo | null {
  return s.plan && s.planKey === planKey(s) ? s.plan : null;
}

/** React hook over a store instance. */
export function useStudio<T>(store: StudioStore, selector: (s: StudioState) => T): T {
  return useStore(store, selector);
}
