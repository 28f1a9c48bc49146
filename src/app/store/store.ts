// The studio's state in one zustand store. Pure state and setters: talking to the worker and to
// IndexedDB lives in ../controller.ts, so the store can be tested without either.
import { createStore, type StoreApi } from 'zustand/vanilla';
import { useStore } from 'zustand';
import { cloneSettings, DEFAULT_SETTINGS, withSetting, type ModelChoice, type RunSettings, type SettingValue } from '../../settings/settings';
import type { DatasetInfo, LoadProgress, ModelInfo, PlanInfo, TrainEvent } from '../../worker/protocol';
import type { GpuStatus } from '../../worker/api';
import type { AdapterMeta } from '../../storage/adapters';
import type { RunMeta } from '../../storage/checkpoints';

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

export type DatasetState =
  | { status: 'empty' }
  | { status: 'reading'; name: string }
  | { status: 'ready'; info: DatasetInfo }
  | { status: 'error'; info: DatasetInfo | null; message: string };

export interface LossPoint {
  step: number;
  loss: number;
}

export type TrainingStatus = 'idle' | 'starting' | 'running' | 'paused' | 'stopping' | 'done' | 'stopped' | 'failed';

export interface TrainingState {
  status: TrainingStatus;
  runId: string | null;
  step: number;
  totalSteps: number;
  epoch: number;
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
  epoch: 0,
  learningRate: 0,
  gradNorm: 0,
  tokensPerSecond: 0,
  etaSeconds: null,
  skippedSteps: 0,
  plan: null,
  train: [],
  validation: [],
  lastCheckpointStep: null,
  error: null,
  deviceLost: false,
  adapterId: null,
};

export interface StudioState {
  screen: Screen;
  settings: RunSettings;
  notices: Notice[];
  gpu: GpuStatus | null;
  model: ModelState;
  dataset: DatasetState;
  /** The planner's answer for the current settings (memory, micro-batch, fix). */
  plan: PlanInfo | null;
  training: TrainingState;
  library: AdapterMeta[];
  /** Runs with a stored checkpoint that did not finish (a reloaded tab, a lost device). */
  interrupted: RunMeta[];
  storage: { persisted: boolean | null; usage: number | null; quota: number | null };

  setScreen(screen: Screen): void;
  setModelChoice(model: ModelChoice): void;
  /** Sets one setting by its contract key ("lora.r"). */
  setSetting(key: string, value: SettingValue): void;
  replaceSettings(settings: RunSettings): void;
  notify(kind: Notice['kind'], text: string): void;
  dismiss(id: number): void;
  setGpu(gpu: GpuStatus): void;
  setModel(model: ModelState): void;
  setDataset(dataset: DatasetState): void;
  setPlan(plan: PlanInfo | null): void;
  startTraining(runId: string, resumedFrom?: { train: LossPoint[]; validation: LossPoint[]; step: number }): void;
  applyTrainEvent(event: TrainEvent): void;
  patchTraining(patch: Partial<TrainingState>): void;
  setLibrary(library: AdapterMeta[]): void;
  setInterrupted(runs: RunMeta[]): void;
  setStorage(storage: Partial<StudioState['storage']>): void;
}

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
    gpu: null,
    model: { status: 'idle' },
    dataset: { status: 'empty' },
    plan: null,
    training: IDLE_TRAINING,
    library: [],
    interrupted: [],
    storage: { persisted: null, usage: null, quota: null },

    setScreen: (screen) => set({ screen }),
    setModelChoice: (model) => set((s) => ({ settings: { ...s.settings, model } })),
    setSetting: (key, value) => set((s) => ({ settings: withSetting(s.settings, key, value) })),
    replaceSettings: (settings) => set({ settings: cloneSettings(settings) }),
    notify: (kind, text) => set((s) => ({ notices: [...s.notices, { id: ++noticeIds, kind, text }].slice(-6) })),
    dismiss: (id) => set((s) => ({ notices: s.notices.filter((n) => n.id !== id) })),
    setGpu: (gpu) => set({ gpu }),
    setModel: (model) => set({ model }),
    setDataset: (dataset) => set({ dataset }),
    setPlan: (plan) => set({ plan }),
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
    applyTrainEvent: (event) =>
      set((s) => {
        const t = s.training;
        switch (event.type) {
          case 'plan':
            return { training: { ...t, plan: { ...event.plan, budget: s.plan?.budget ?? 0, maxBufferSize: s.plan?.maxBufferSize ?? 0, longestRow: s.plan?.longestRow ?? 0 }, totalSteps: event.totalSteps } };
          case 'step': {
            const r = event.report;
            return {
              training: {
                ...t,
                status: t.status === 'starting' ? 'running' : t.status,
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
          case 'compile':
            return {};
          case 'eval':
            return { training: { ...t, validation: appendPoint(t.validation, { step: event.step, loss: event.result.loss }) } };
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
  }));
}

export type StudioStore = StoreApi<StudioState>;

/** React hook over a store instance. */
export function useStudio<T>(store: StudioStore, selector: (s: StudioState) => T): T {
  return useStore(store, selector);
}
