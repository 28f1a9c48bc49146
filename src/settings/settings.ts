/**
 * The run settings contract: every setting a run has, its default (the classic PEFT recipe), its
 * range, unit and one line of help, and the values derived from it. The studio's fields, the CLI's
 * flags and `--help`, the share link, the model card and `adapter_config.json` are all generated
 * from SETTING_DEFS; the engine takes RunSettings as they are.
 *
 * This module imports nothing of the project, so anything may import it (DESIGN.md §1).
 */

/** The projections LoRA may adapt, by their Llama-family names (each model family maps them to its own modules). */
export const TARGET_MODULES = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export type TargetModule = (typeof TARGET_MODULES)[number];

export const TARGET_HELP: Record<TargetModule, string> = {
  q_proj: 'attention query',
  k_proj: 'attention key',
  v_proj: 'attention value',
  o_proj: 'attention output',
  gate_proj: 'MLP gate',
  up_proj: 'MLP up',
  down_proj: 'MLP down',
};

export const SCHEDULES = ['linear', 'cosine', 'constant'] as const;
export type Schedule = (typeof SCHEDULES)[number];

export const CHECKPOINTING = ['auto', 'on', 'off'] as const;
export type Checkpointing = (typeof CHECKPOINTING)[number];

/**
 * How the frozen base is stored on the GPU: f32, f16 (devices with shader-f16), 8-bit per output
 * channel, or 4-bit NF4 in blocks of 64 with f16 scales (as QLoRA); auto lets the planner pick the
 * most precise one that fits the memory budget. LoRA parameters and the optimizer are f32 always.
 */
export const BASE_WEIGHTS = ['auto', 'f32', 'f16', 'q8', 'nf4'] as const;
export type BaseWeights = (typeof BASE_WEIGHTS)[number];

/** How a stored base precision reads on screen and in the CLI's lines. */
export const BASE_WEIGHTS_LABEL: Record<Exclude<BaseWeights, 'auto'>, string> = {
  f32: '32-bit float (f32)',
  f16: '16-bit float (f16)',
  q8: '8-bit (per output channel)',
  nf4: '4-bit NF4',
};

export const TRAIN_ON = ['response', 'all'] as const;
export type TrainOn = (typeof TRAIN_ON)[number];

export const BAD_ROWS = ['stop', 'skip'] as const;
export type BadRows = (typeof BAD_ROWS)[number];

/** What a classification head learns (Transformers' problem_type): auto reads it from the labels and the model's config. */
export const TASKS = ['auto', 'classification', 'regression', 'multi-label'] as const;
export type TaskSetting = (typeof TASKS)[number];

/**
 * A base model the studio can load: the built-in demo (the Llama-style decoder, or with variant
 * 'bert' the demo encoder for classification), a hub repository, or a local folder. Local folders
 * cannot travel in a link, so they are never encoded.
 */
export type ModelChoice = { kind: 'demo'; variant?: 'bert' } | { kind: 'hub'; id: string } | { kind: 'local'; name: string };

export interface LoraSettings {
  r: number;
  alpha: number;
  dropout: number;
  targets: TargetModule[];
  useRslora: boolean;
  /** Layers that get adapters (PEFT's layers_to_transform); null = all. */
  layers: number[] | null;
}

export interface TrainSettings {
  learningRate: number;
  epochs: number;
  /** Stop after this many optimizer steps; 0 runs all epochs (HF max_steps overrides epochs). */
  maxSteps: number;
  /** Rows per optimizer step (the effective batch, HF per_device_train_batch_size × accumulation). */
  batchSize: number;
  /** Rows per forward/backward pass; 0 lets the planner pick the largest that fits. Must divide batchSize. */
  microBatch: number;
  /** Tokens per row; longer rows are cut. */
  maxLength: number;
  weightDecay: number;
  schedule: Schedule;
  /** Fraction of all optimizer steps spent warming the learning rate up from 0. */
  warmupRatio: number;
  /** Global gradient-norm clip; 0 turns clipping off. */
  maxGradNorm: number;
  seed: number;
  shuffle: boolean;
  /** Several examples per row (segment-masked attention). */
  packing: boolean;
  /** Recompute each layer's activations in backward to save memory; auto lets the planner decide. */
  gradientCheckpointing: Checkpointing;
  /** How the frozen base is stored on the GPU; auto: the most precise that fits. */
  weights: BaseWeights;
  /** Encoders: hidden, attention and classifier dropout from the model's config while training (as Transformers trains). */
  encoderDropout: boolean;
}

export interface DataSettings {
  /** Which tokens the loss trains: the responses (assistant turns) or every token. */
  trainOn: TrainOn;
  /** Fraction of the rows held out for validation (0: none, unless a validation file is given). */
  validationFraction: number;
  /** Rows that cannot be read or rendered: stop (list them) or skip them and count. */
  onBadRows: BadRows;
  /** Encoders: the head's task; auto = from the labels (names or ids, floats, lists) and config.json's problem_type. */
  task: TaskSetting;
}

export interface EvalSettings {
  /** Validation every this many optimizer steps, and at the end (0: only at the end). */
  evalInterval: number;
  /** A progress line / chart point every this many optimizer steps (HF logging_steps). */
  logInterval: number;
  /** A resumable checkpoint every this many optimizer steps (0: only at the end). */
  checkpointInterval: number;
}

export interface RunSettings {
  model: ModelChoice;
  lora: LoraSettings;
  train: TrainSettings;
  data: DataSettings;
  eval: EvalSettings;
}

/** The classic PEFT recipe (DESIGN.md §2): the one set of defaults for every front end. */
export const DEFAULT_SETTINGS: RunSettings = {
  model: { kind: 'demo' },
  lora: { r: 8, alpha: 16, dropout: 0.05, targets: ['q_proj', 'v_proj'], useRslora: false, layers: null },
  train: {
    learningRate: 1e-4,
    epochs: 3,
    maxSteps: 0,
    batchSize: 16,
    microBatch: 0,
    maxLength: 512,
    weightDecay: 0.01,
    schedule: 'linear',
    warmupRatio: 0,
    maxGradNorm: 1,
    seed: 42,
    shuffle: true,
    packing: false,
    gradientCheckpointing: 'auto',
    weights: 'auto',
    encoderDropout: true,
  },
  data: { trainOn: 'response', validationFraction: 0.1, onBadRows: 'stop', task: 'auto' },
  eval: { evalInterval: 10, logInterval: 10, checkpointInterval: 10 },
};

type Group = 'lora' | 'train' | 'data' | 'eval';

interface DefBase {
  /** "group.name", e.g. "lora.r". */
  key: string;
  group: Group;
  name: string;
  label: string;
  /** One line: what the setting does. */
  help: string;
  /** CLI flag without the dashes. */
  cli: string;
  /** Share-link parameter. */
  url: string;
}

export interface NumberDef extends DefBase {
  kind: 'number';
  integer: boolean;
  min: number;
  max: number;
  /** Slider step (fields take any value in range). */
  step: number;
  /** Slider on a log scale. */
  log?: boolean;
  unit?: string;
  /** What 0 means where 0 is special ("auto", "off", "all epochs"). */
  zero?: string;
  /** A slider makes sense (a seed or a step cap is a plain field). */
  slider: boolean;
}

export interface BoolDef extends DefBase {
  kind: 'bool';
}

export interface ChoiceDef extends DefBase {
  kind: 'choice';
  choices: readonly string[];
}

export interface ListDef extends DefBase {
  kind: 'list';
  choices: readonly string[];
}

export type SettingDef = NumberDef | BoolDef | ChoiceDef | ListDef;
export type SettingValue = number | boolean | string | string[];

const num = (group: Group, name: string, o: Omit<NumberDef, 'kind' | 'key' | 'group' | 'name'>): NumberDef => ({ kind: 'number', key: `${group}.${name}`, group, name, ...o });

/** Every setting, in the order the studio shows them. */
export const SETTING_DEFS: readonly SettingDef[] = [
  num('lora', 'r', { label: 'Rank r', help: 'Rank of the low-rank update A·B: more capacity, more memory.', cli: 'rank', url: 'r', integer: true, min: 1, max: 512, step: 1, slider: true, log: true }),
  num('lora', 'alpha', { label: 'Alpha', help: 'Scales the update by alpha/r (alpha/√r with rsLoRA).', cli: 'alpha', url: 'alpha', integer: false, min: 0.01, max: 4096, step: 1, slider: true, log: true }),
  num('lora', 'dropout', { label: 'Dropout', help: 'Dropout on the adapter’s input while training.', cli: 'dropout', url: 'dropout', integer: false, min: 0, max: 0.9, step: 0.01, slider: true }),
  { kind: 'list', key: 'lora.targets', group: 'lora', name: 'targets', label: 'Target modules', help: 'Projections that get an adapter (the model’s own names are shown beside them).', cli: 'targets', url: 'targets', choices: TARGET_MODULES },
  { kind: 'bool', key: 'lora.useRslora', group: 'lora', name: 'useRslora', label: 'rsLoRA', help: 'Scale by alpha/√r instead of alpha/r (steadier at high rank).', cli: 'rslora', url: 'rslora' },
  num('train', 'learningRate', { label: 'Learning rate', help: 'Peak AdamW learning rate.', cli: 'lr', url: 'lr', integer: false, min: 1e-7, max: 1, step: 1e-7, slider: true, log: true }),
  num('train', 'epochs', { label: 'Epochs', help: 'Passes over the training rows.', cli: 'epochs', url: 'epochs', integer: true, min: 1, max: 1000, step: 1, slider: true }),
  num('train', 'maxSteps', { label: 'Max steps', help: 'Stop after this many optimizer steps (overrides epochs).', cli: 'steps', url: 'steps', integer: true, min: 0, max: 10_000_000, step: 1, zero: 'all epochs', slider: false, unit: 'steps' }),
  num('train', 'batchSize', { label: 'Batch size', help: 'Rows per optimizer step (micro-batch × accumulation).', cli: 'batch-size', url: 'batch', integer: true, min: 1, max: 1024, step: 1, slider: true, unit: 'rows' }),
  num('train', 'microBatch', { label: 'Micro-batch', help: 'Rows per forward/backward pass; must divide the batch size.', cli: 'micro-batch', url: 'micro', integer: true, min: 0, max: 1024, step: 1, zero: 'auto (the planner picks)', slider: true, unit: 'rows' }),
  num('train', 'maxLength', { label: 'Max length', help: 'Tokens per row; longer rows are cut.', cli: 'max-length', url: 'maxlen', integer: true, min: 8, max: 131072, step: 8, slider: true, log: true, unit: 'tokens' }),
  num('train', 'weightDecay', { label: 'Weight decay', help: 'AdamW decoupled weight decay.', cli: 'weight-decay', url: 'wd', integer: false, min: 0, max: 1, step: 0.001, slider: true }),
  { kind: 'choice', key: 'train.schedule', group: 'train', name: 'schedule', label: 'Schedule', help: 'How the learning rate moves after warmup.', cli: 'schedule', url: 'schedule', choices: SCHEDULES },
  num('train', 'warmupRatio', { label: 'Warmup', help: 'Fraction of the steps spent raising the learning rate from 0.', cli: 'warmup-ratio', url: 'warmup', integer: false, min: 0, max: 1, step: 0.01, slider: true }),
  num('train', 'maxGradNorm', { label: 'Gradient clip', help: 'Global gradient-norm clip.', cli: 'max-grad-norm', url: 'clip', integer: false, min: 0, max: 1000, step: 0.1, zero: 'off', slider: true }),
  num('train', 'seed', { label: 'Seed', help: 'Seeds the adapter init, shuffling, dropout and the validation split.', cli: 'seed', url: 'seed', integer: true, min: 0, max: 2 ** 31 - 1, step: 1, slider: false }),
  { kind: 'bool', key: 'train.shuffle', group: 'train', name: 'shuffle', label: 'Shuffle', help: 'Shuffle the rows every epoch.', cli: 'shuffle', url: 'shuffle' },
  { kind: 'bool', key: 'train.packing', group: 'train', name: 'packing', label: 'Packing', help: 'Pack several short rows into one (attention stays within each).', cli: 'packing', url: 'packing' },
  { kind: 'choice', key: 'train.gradientCheckpointing', group: 'train', name: 'gradientCheckpointing', label: 'Gradient checkpointing', help: 'Recompute activations in backward to save memory (auto: when needed).', cli: 'gradient-checkpointing', url: 'gc', choices: CHECKPOINTING },
  {
    kind: 'choice', key: 'train.weights', group: 'train', name: 'weights', label: 'Base precision',
    help: 'How the frozen base is stored on the GPU: f32, f16, q8 (8-bit per output channel) or nf4 (4-bit NF4, blocks of 64 with f16 scales, as QLoRA); auto: the most precise that fits.',
    cli: 'weights', url: 'weights', choices: BASE_WEIGHTS,
  },
  { kind: 'bool', key: 'train.encoderDropout', group: 'train', name: 'encoderDropout', label: 'Encoder dropout', help: 'Encoders: hidden, attention and classifier dropout from the model’s config while training.', cli: 'encoder-dropout', url: 'encdrop' },
  { kind: 'choice', key: 'data.trainOn', group: 'data', name: 'trainOn', label: 'Train on', help: 'Which tokens the loss counts: the responses only, or every token.', cli: 'train-on', url: 'trainon', choices: TRAIN_ON },
  { kind: 'choice', key: 'data.onBadRows', group: 'data', name: 'onBadRows', label: 'Bad rows', help: 'Rows that cannot be read or rendered: stop and list them, or skip them and count.', cli: 'on-bad-rows', url: 'badrows', choices: BAD_ROWS },
  { kind: 'choice', key: 'data.task', group: 'data', name: 'task', label: 'Task', help: 'Encoders: what the head learns (auto: from the labels and the model’s config).', cli: 'task', url: 'task', choices: TASKS },
  num('data', 'validationFraction', { label: 'Validation split', help: 'Fraction of the rows held out to measure validation loss.', cli: 'val-fraction', url: 'valfrac', integer: false, min: 0, max: 0.5, step: 0.01, slider: true }),
  num('eval', 'evalInterval', { label: 'Validate every', help: 'Validation metrics every N optimizer steps, and at the end.', cli: 'eval-every', url: 'eval', integer: true, min: 0, max: 1_000_000, step: 1, zero: 'only at the end', slider: false, unit: 'steps' }),
  num('eval', 'logInterval', { label: 'Log every', help: 'A logged metrics line every N optimizer steps.', cli: 'log-every', url: 'log', integer: true, min: 1, max: 1_000_000, step: 1, slider: false, unit: 'steps' }),
  num('eval', 'checkpointInterval', { label: 'Checkpoint every', help: 'A resumable checkpoint every N optimizer steps.', cli: 'save-every', url: 'ckpt', integer: true, min: 0, max: 1_000_000, step: 1, zero: 'only at the end', slider: false, unit: 'steps' }),
];

const BY_KEY = new Map(SETTING_DEFS.map((d) => [d.key, d]));

export function settingDef(key: string): SettingDef {
  const d = BY_KEY.get(key);
  if (!d) throw new Error(`unknown setting "${key}"`);
  return d;
}

export function numberDef(key: string): NumberDef {
  const d = settingDef(key);
  if (d.kind !== 'number') throw new Error(`setting "${key}" is not a number`);
  return d;
}

export function getSetting(s: RunSettings, key: string): SettingValue {
  const d = settingDef(key);
  return (s[d.group] as unknown as Record<string, SettingValue>)[d.name];
}

/** A copy of `s` with one setting changed (the value is not checked: see checkSetting). */
export function withSetting(s: RunSettings, key: string, value: SettingValue): RunSettings {
  const d = settingDef(key);
  const next = cloneSettings(s);
  (next[d.group] as unknown as Record<string, SettingValue>)[d.name] = Array.isArray(value) ? [...value] : value;
  return next;
}

export function cloneSettings(s: RunSettings): RunSettings {
  return {
    model: { ...s.model },
    lora: { ...s.lora, targets: [...s.lora.targets], layers: s.lora.layers ? [...s.lora.layers] : null },
    train: { ...s.train },
    data: { ...s.data },
    eval: { ...s.eval },
  };
}

/** Shortest readable form of a number (1e-4, not 0.00009999999). */
export function formatNumber(v: number): string {
  if (v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e6)) return v.toExponential().replace(/\.?0+e/, 'e').replace('e+', 'e');
  return String(Number(v.toPrecision(6)));
}

export function formatSettingValue(d: SettingDef, v: SettingValue): string {
  if (d.kind === 'number') {
    const n = v as number;
    if (n === 0 && d.zero) return `0 (${d.zero})`;
    return `${formatNumber(n)}${d.unit ? ` ${d.unit}` : ''}`;
  }
  if (d.kind === 'bool') return v ? 'on' : 'off';
  if (d.kind === 'list') return (v as string[]).join(', ');
  return String(v);
}

/** Why a value is not allowed for a setting (one line naming the setting and its range), or null. */
export function checkSetting(d: SettingDef, v: unknown): string | null {
  switch (d.kind) {
    case 'number': {
      if (typeof v !== 'number' || !Number.isFinite(v)) return `${d.label}: ${String(v)} is not a number`;
      if (d.integer && !Number.isInteger(v)) return `${d.label}: ${v} is not a whole number`;
      if (v < d.min || v > d.max) return `${d.label}: ${formatNumber(v)} is outside ${formatNumber(d.min)}–${formatNumber(d.max)}${d.unit ? ` ${d.unit}` : ''}`;
      return null;
    }
    case 'bool':
      return typeof v === 'boolean' ? null : `${d.label}: ${String(v)} is not on or off`;
    case 'choice':
      return typeof v === 'string' && d.choices.includes(v) ? null : `${d.label}: ${JSON.stringify(v)} is not one of ${d.choices.join(', ')}`;
    case 'list': {
      if (!Array.isArray(v) || v.length === 0) return `${d.label}: choose at least one of ${d.choices.join(', ')}`;
      const bad = v.find((x) => !d.choices.includes(x));
      return bad === undefined ? null : `${d.label}: "${String(bad)}" is not one of ${d.choices.join(', ')}`;
    }
  }
}

/**
 * Parses a setting from text (a CLI flag, a share-link parameter, a typed field): plain decimal or
 * exponent numbers only (no hex, no "Infinity"), on/off words for switches, comma lists. Out-of-range
 * values are errors, never clamped.
 */
export function parseSetting(d: SettingDef, text: string): { value: SettingValue } | { error: string } {
  const t = text.trim();
  switch (d.kind) {
    case 'number': {
      if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(t)) return { error: `${d.label}: "${t}" is not a number` };
      const v = Number(t);
      const why = checkSetting(d, v);
      return why ? { error: why } : { value: v };
    }
    case 'bool': {
      if (['1', 'true', 'on', 'yes'].includes(t.toLowerCase())) return { value: true };
      if (['0', 'false', 'off', 'no'].includes(t.toLowerCase())) return { value: false };
      return { error: `${d.label}: "${t}" is not on or off` };
    }
    case 'choice': {
      const why = checkSetting(d, t);
      return why ? { error: why } : { value: t };
    }
    case 'list': {
      const items = t.split(',').map((x) => x.trim()).filter(Boolean);
      const why = checkSetting(d, items);
      // Lists are kept in the contract's order, so a setting has one spelling.
      return why ? { error: why } : { value: d.choices.filter((c) => items.includes(c)) };
    }
  }
}

// ------------------------------------------------------------------ derived values

/** s = alpha/r, or alpha/√r with rsLoRA (PEFT's scaling). */
export function loraScale(lora: Pick<LoraSettings, 'r' | 'alpha' | 'useRslora'>): number {
  return lora.useRslora ? lora.alpha / Math.sqrt(lora.r) : lora.alpha / lora.r;
}

/** Micro-batches per optimizer step for a micro-batch size (which must divide the batch size). */
export function gradAccumulation(train: Pick<TrainSettings, 'batchSize'>, microBatch: number): number {
  return Math.max(1, Math.round(train.batchSize / microBatch));
}

/** Every micro-batch size the batch size allows, largest first (its divisors). */
export function microBatchChoices(batchSize: number): number[] {
  const out: number[] = [];
  for (let m = batchSize; m >= 1; m--) if (batchSize % m === 0) out.push(m);
  return out;
}

export interface SettingIssue {
  key: string;
  message: string;
}

/** Every problem with a settings object: each value against its range, then the rules between settings. */
export function validateSettings(s: RunSettings): SettingIssue[] {
  const issues: SettingIssue[] = [];
  for (const d of SETTING_DEFS) {
    const why = checkSetting(d, getSetting(s, d.key));
    if (why) issues.push({ key: d.key, message: why });
  }
  const mb = s.train.microBatch;
  if (Number.isInteger(mb) && mb > 0 && Number.isInteger(s.train.batchSize) && s.train.batchSize % mb !== 0) {
    issues.push({ key: 'train.microBatch', message: `Micro-batch: ${mb} does not divide the batch size ${s.train.batchSize} (choose one of ${microBatchChoices(s.train.batchSize).join(', ')}, or 0 for auto)` });
  }
  if (s.lora.layers !== null && !(Array.isArray(s.lora.layers) && s.lora.layers.length > 0 && s.lora.layers.every((l) => Number.isInteger(l) && l >= 0))) {
    issues.push({ key: 'lora.layers', message: 'Layers: must be a non-empty list of layer numbers, or all' });
  }
  return issues;
}

export class SettingsError extends Error {
  constructor(readonly issues: SettingIssue[]) {
    super(`SettingsError: ${issues.map((i) => i.message).join('; ')}`);
    this.name = 'SettingsError';
  }
}

/** Throws SettingsError listing every problem. */
export function assertValidSettings(s: RunSettings): RunSettings {
  const issues = validateSettings(s);
  if (issues.length) throw new SettingsError(issues);
  return s;
}

// ------------------------------------------------------------------ models

export const MODEL_PRESETS: { id: string; label: string; note: string }[] = [
  { id: 'HuggingFaceTB/SmolLM2-135M-Instruct', label: 'SmolLM2 135M Instruct', note: '≈270 MB download' },
  { id: 'HuggingFaceTB/SmolLM2-360M-Instruct', label: 'SmolLM2 360M Instruct', note: '≈720 MB download' },
  { id: 'Qwen/Qwen2.5-0.5B-Instruct', label: 'Qwen2.5 0.5B Instruct', note: '≈1 GB download' },
];

/** Hub repository ids: `owner/name`, letters, digits, `-`, `_`, `.`; nothing that could be a path or a URL. */
const HUB_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}\/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$/;

export function isHubId(id: string): boolean {
  return HUB_ID.test(id) && !id.includes('..');
}

/** The demo models' names in adapter files (base_model_name_or_path) and the library. */
export const DEMO_MODEL_NAME = 'adapter-studio/demo';
export const DEMO_ENCODER_MODEL_NAME = 'adapter-studio/demo-bert';

/** What adapter_config.json records as base_model_name_or_path for a model choice. */
export function baseModelName(model: ModelChoice): string {
  return model.kind === 'hub' ? model.id : model.kind === 'demo' ? (model.variant === 'bert' ? DEMO_ENCODER_MODEL_NAME : DEMO_MODEL_NAME) : model.name;
}

export function modelLabel(model: ModelChoice): string {
  switch (model.kind) {
    case 'demo': return model.variant === 'bert' ? 'built-in demo encoder (BERT)' : 'built-in demo model';
    case 'hub': return model.id;
    case 'local': return `local folder “${model.name}”`;
  }
}

// ------------------------------------------------------------------ the demo preset

/** Settings a preset changes, by group; everything it leaves out keeps its value. */
export interface SettingsPatch {
  lora?: Partial<LoraSettings>;
  train?: Partial<TrainSettings>;
  data?: Partial<DataSettings>;
  eval?: Partial<EvalSettings>;
}

/**
 * What the studio proposes for its built-in demo model, so that a newcomer who takes the sample
 * dataset and presses Start sees the loss fall and the answers change within a couple of minutes
 * on a software GPU (docs/studio.md, "The demo"). It is not a second set of defaults:
 * DEFAULT_SETTINGS (the PEFT recipe) stays the default of every front end, and the studio applies
 * this patch only while the demo model is chosen and the settings are otherwise untouched (see
 * settingsForModel). The share link then records its values explicitly, since they differ from
 * the defaults. Every setting it leaves out keeps the recipe's value.
 *
 * Why each value differs from the recipe, which is tuned for 100M+ parameter models trained for
 * thousands of steps, while the demo model has 0.17 M parameters and a run on a software GPU can
 * afford a couple of dozen steps. Measured on the sample dataset (24 rows) over 24 steps, counting
 * the rows whose greedy answer is then exactly the trained one (the recipe itself: 6 steps, loss
 * 4.7 → 4.8, no row):
 * - every projection, r 16, alpha 32: a 64-wide model has little room in q_proj and v_proj alone
 *   (q and v: loss 4.6 → 1.6, no row; all seven: 24 rows, and still 24 after 18 steps, where
 *   q, v, o and down_proj give 21).
 * - lr 1e-2: the adapter must move in 24 steps, not thousands (5e-3: 22 rows; 2e-2 overshoots,
 *   16 rows; 1e-2: loss 4.6 → 0.03, 24 rows).
 * - dropout 0: two dozen short rows seen eight times each; dropout only slows that down.
 * - batch 8, 8 epochs: 24 steps over the sample. A step of 24 rows learns no more per step here
 *   and costs three times as long (lavapipe: 10.6 s against 3.4 s for the 24 steps).
 * - no validation split: every row of a two-dozen-row sample teaches; a held-out handful would
 *   measure little and cost a pass.
 */
export const DEMO_PRESET: SettingsPatch = {
  lora: { r: 16, alpha: 32, dropout: 0, targets: [...TARGET_MODULES] },
  train: { learningRate: 1e-2, epochs: 8, batchSize: 8 },
  data: { validationFraction: 0 },
};

/** `s` with a patch applied (lists copied). */
export function applyPatch(s: RunSettings, patch: SettingsPatch): RunSettings {
  const next = cloneSettings(s);
  if (patch.lora) next.lora = { ...next.lora, ...patch.lora, targets: [...(patch.lora.targets ?? next.lora.targets)] };
  if (patch.train) next.train = { ...next.train, ...patch.train };
  if (patch.data) next.data = { ...next.data, ...patch.data };
  if (patch.eval) next.eval = { ...next.eval, ...patch.eval };
  return next;
}

const runPart = (s: RunSettings) => canonicalJson({ lora: s.lora, train: s.train, data: s.data, eval: s.eval });

/** Whether the settings (model aside) are exactly the defaults. */
export function isUntouchedDefaults(s: RunSettings): boolean {
  return runPart(s) === runPart(DEFAULT_SETTINGS);
}

/** Whether the settings (model aside) are exactly the defaults with the demo preset. */
export function isDemoPreset(s: RunSettings): boolean {
  return runPart(s) === runPart(applyPatch(DEFAULT_SETTINGS, DEMO_PRESET));
}

/**
 * The settings the studio proposes when `model` is chosen: the demo preset for the demo model (the
 * decoder; the demo encoder keeps the recipe) when
 * the settings are still the untouched defaults; the defaults again when the demo is left with its
 * preset untouched; otherwise the user's settings, as they are (a share link's or their own).
 */
export function settingsForModel(current: RunSettings, model: ModelChoice): RunSettings {
  const demo = model.kind === 'demo' && model.variant === undefined;
  let next = cloneSettings(current);
  if (demo && isUntouchedDefaults(current)) next = applyPatch(current, DEMO_PRESET);
  else if (!demo && isDemoPreset(current)) next = cloneSettings(DEFAULT_SETTINGS);
  next.model = { ...model };
  return next;
}

// ------------------------------------------------------------------ identity

/** JSON with object keys sorted, so equal settings always give equal text. */
export function canonicalJson(x: unknown): string {
  if (Array.isArray(x)) return `[${x.map(canonicalJson).join(',')}]`;
  if (x && typeof x === 'object') {
    return `{${Object.keys(x).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson((x as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(x) ?? 'null';
}

/**
 * The settings that decide a run's numbers (model, adapter, training, data): a checkpoint resumes
 * only under the same ones. How often it logs, validates or checkpoints may change.
 */
export function trainingKey(s: RunSettings): string {
  const full = withDefaults(s);
  return canonicalJson({ model: full.model, lora: full.lora, train: full.train, data: full.data });
}

/**
 * Settings saved by an earlier studio (a checkpoint, a run record, an adapter zip) lack the settings
 * added since: each missing one takes its default, which is what those runs used (e.g. the base
 * precision, which was f16 on shader-f16 devices and f32 elsewhere before `weights` existed: auto
 * picks the same where the run fitted). Values present are kept as they are (validate them apart).
 */
export function withDefaults(s: RunSettings): RunSettings {
  const out = cloneSettings(s);
  for (const d of SETTING_DEFS) {
    const group = out[d.group] as unknown as Record<string, SettingValue | undefined>;
    if (group[d.name] === undefined) group[d.name] = getSetting(DEFAULT_SETTINGS, d.key);
  }
  return out;
}
