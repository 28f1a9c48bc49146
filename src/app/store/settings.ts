// The run's settings: which model, the LoRA adapter and the training hyperparameters. One plain,
// serialisable object; the share link (urlState.ts) and the worker both take it as is.

export const TARGET_MODULES = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export type TargetModule = (typeof TARGET_MODULES)[number];

export const SCHEDULES = ['linear', 'cosine', 'constant'] as const;
export type Schedule = (typeof SCHEDULES)[number];

/** A base model the studio can load. Local folders cannot travel in a link, so they are never encoded. */
export type ModelChoice = { kind: 'demo' } | { kind: 'hub'; id: string } | { kind: 'local'; name: string };

export const MODEL_PRESETS: { id: string; label: string; note: string }[] = [
  { id: 'HuggingFaceTB/SmolLM2-135M-Instruct', label: 'SmolLM2 135M Instruct', note: '≈270 MB download' },
  { id: 'HuggingFaceTB/SmolLM2-360M-Instruct', label: 'SmolLM2 360M Instruct', note: '≈720 MB download' },
  { id: 'Qwen/Qwen2.5-0.5B-Instruct', label: 'Qwen2.5 0.5B Instruct', note: '≈1 GB download' },
];

export interface LoraSettings {
  r: number;
  alpha: number;
  dropout: number;
  targets: TargetModule[];
  useRslora: boolean;
}

export interface TrainSettings {
  learningRate: number;
  epochs: number;
  /** Rows per forward/backward pass. */
  microBatch: number;
  /** Micro-batches per optimizer step; batch size = microBatch × accumulation. */
  accumulation: number;
  weightDecay: number;
  schedule: Schedule;
  /** Fraction of all optimizer steps spent warming the learning rate up from 0. */
  warmupRatio: number;
  maxLength: number;
  seed: number;
  /** Validation loss every this many optimizer steps (0 = never). */
  evalInterval: number;
  /** A checkpoint in IndexedDB every this many optimizer steps. */
  checkpointInterval: number;
  /** Cap on optimizer steps (0 = run all epochs). */
  maxSteps: number;
}

export interface StudioSettings {
  model: ModelChoice;
  lora: LoraSettings;
  train: TrainSettings;
}

/** The classic PEFT recipe (DESIGN.md §2). */
export const DEFAULT_SETTINGS: StudioSettings = {
  model: { kind: 'demo' },
  lora: { r: 8, alpha: 16, dropout: 0.05, targets: ['q_proj', 'v_proj'], useRslora: false },
  train: {
    learningRate: 1e-4,
    epochs: 3,
    microBatch: 4,
    accumulation: 4,
    weightDecay: 0.01,
    schedule: 'linear',
    warmupRatio: 0.03,
    maxLength: 256,
    seed: 42,
    evalInterval: 10,
    checkpointInterval: 10,
    maxSteps: 0,
  },
};

/** A numeric setting's bounds; the sliders and the URL parser share them. */
export interface NumericRange {
  min: number;
  max: number;
  step: number;
  integer: boolean;
  /** Sliders on a log scale (learning rate). */
  log?: boolean;
}

export const LORA_RANGES: Record<'r' | 'alpha' | 'dropout', NumericRange> = {
  r: { min: 1, max: 256, step: 1, integer: true },
  alpha: { min: 1, max: 512, step: 1, integer: true },
  dropout: { min: 0, max: 0.5, step: 0.01, integer: false },
};

export const TRAIN_RANGES: Record<Exclude<keyof TrainSettings, 'schedule'>, NumericRange> = {
  learningRate: { min: 1e-6, max: 1e-2, step: 1e-6, integer: false, log: true },
  epochs: { min: 1, max: 50, step: 1, integer: true },
  microBatch: { min: 1, max: 64, step: 1, integer: true },
  accumulation: { min: 1, max: 64, step: 1, integer: true },
  weightDecay: { min: 0, max: 0.5, step: 0.001, integer: false },
  warmupRatio: { min: 0, max: 0.5, step: 0.01, integer: false },
  maxLength: { min: 16, max: 4096, step: 16, integer: true },
  seed: { min: 0, max: 2 ** 31 - 1, step: 1, integer: true },
  evalInterval: { min: 0, max: 10_000, step: 1, integer: true },
  checkpointInterval: { min: 1, max: 10_000, step: 1, integer: true },
  maxSteps: { min: 0, max: 1_000_000, step: 1, integer: true },
};

/** Hub repository ids: `owner/name`, letters, digits, `-`, `_`, `.`; nothing that could be a path or a URL. */
const HUB_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}\/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$/;

export function isHubId(id: string): boolean {
  return HUB_ID.test(id) && !id.includes('..');
}

/** A value inside its range (and an integer where it must be), or null. */
export function checkNumber(value: number, range: NumericRange): number | null {
  if (!Number.isFinite(value)) return null;
  if (range.integer && !Number.isInteger(value)) return null;
  if (value < range.min || value > range.max) return null;
  return value;
}

/** Clamps (and rounds) a value into its range, for the sliders' numeric inputs. */
export function clampNumber(value: number, range: NumericRange): number {
  if (!Number.isFinite(value)) return range.min;
  const v = range.integer ? Math.round(value) : value;
  return Math.min(range.max, Math.max(range.min, v));
}

export function batchSize(train: Pick<TrainSettings, 'microBatch' | 'accumulation'>): number {
  return train.microBatch * train.accumulation;
}

export function modelLabel(model: ModelChoice): string {
  switch (model.kind) {
    case 'demo': return 'built-in demo model';
    case 'hub': return model.id;
    case 'local': return `local folder “${model.name}”`;
  }
}

export function cloneSettings(s: StudioSettings): StudioSettings {
  return { model: { ...s.model }, lora: { ...s.lora, targets: [...s.lora.targets] }, train: { ...s.train } };
}
