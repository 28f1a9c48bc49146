// Types that cross the worker boundary. Plain data only (structured-clone friendly); no classes.
import type { RunSettings } from '../settings/settings';
import type { RunEvent } from '../engine/train/run';
import type { RunPlan } from '../engine/train/memory';

export type { RunSettings };

export interface ModelInfo {
  /** What the user picked, e.g. "HuggingFaceTB/SmolLM2-135M-Instruct" or "demo". */
  name: string;
  source: 'demo' | 'hub' | 'local';
  architecture: string;
  layers: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  vocab: number;
  parameters: number;
  /** Bytes of weights as stored on disk. */
  bytes: number;
  /** Which training backend will run this model. */
  backend: string;
  /** How its frozen base is stored on the GPU (the base precision the load resolved). */
  weights: 'f32' | 'f16' | 'q8' | 'nf4';
  /** 'llama' (a decoder: generation, causal-LM adapters) or an encoder family ('bert', 'roberta', 'distilbert': classification). */
  family: string;
  /** An encoder: the settings' target names and the modules they adapt (query, attention.output.dense …). */
  targetModules?: { target: string; module: string | null }[];
  /** An encoder: its config's labels and problem type (the head before any data sets it). */
  labels?: string[];
}

export interface LoadProgress {
  phase: 'config' | 'weights' | 'tokenizer' | 'ready';
  file: string;
  loaded: number;
  total: number;
}

export type { ColumnMapping, SchemaKind } from '../data/schema';
// The dataset report the Dataset screen shows is defined with the data layer that produces it.
export type { DatasetInfo, DatasetIssue, DatasetStats, DatasetReport, PreviewRow, RowView } from '../data/report';

/** How the studio asks for a dataset to be read (the data layer's preparation options). */
export interface DatasetOptions {
  /** 'stop' (default): bad rows make the file unusable, listed by line; 'skip': train on the good rows, the bad ones listed. */
  onBadRows?: 'stop' | 'skip';
  /** A separate validation file (instead of holding out the validation fraction). */
  validationFile?: { file: Blob; name: string };
}

/** The run planner's answer for the current settings, with what it assumed. */
export interface PlanInfo extends RunPlan {
  /** Bytes the run may use (WebGPU does not report memory: a stated guess). */
  budget: number;
  maxBufferSize: number;
  /** Longest row of the loaded dataset in tokens (0: no dataset yet). */
  longestRow: number;
}

/** A hub model described from its config alone (a share link's model, before Load). */
export interface HubModelSummary {
  id: string;
  architecture: string;
  layers: number;
  parameters: number;
  /** Bytes of the weights to download, when the repository says. */
  bytes: number | null;
  /** The memory plan of the current settings on this device. */
  plan: PlanInfo;
}

/**
 * The engine's run events, forwarded as they are, and the worker's own: `weights` while a run
 * reloads the model in its plan's precision (the run compiles its kernels meanwhile), and `model`
 * once that reload is in: the loaded model is now this one (its precision, what it runs on).
 */
export type TrainEvent = RunEvent | { type: 'weights'; loaded: number; total: number } | { type: 'model'; info: ModelInfo };

/**
 * A background compile's answer (the worker's `compile`): the kernels of a run of these settings are
 * compiled — `pipelines` of them by this call, 0 when all already were — or it did not compile,
 * saying why (the run compiles them when it starts).
 */
export type CompileResult =
  | { status: 'ready'; pipelines: number }
  | { status: 'skipped'; reason: string };

export interface TrainResult {
  /** 'done': all steps; 'stopped': the user stopped early (the adapter is still usable). */
  status: 'done' | 'stopped';
  steps: number;
  finalLoss: number | null;
  finalValidationLoss: number | null;
  /** adapter_model.safetensors */
  adapterModel: Uint8Array;
  /** adapter_config.json text */
  adapterConfig: string;
  /** An encoder adapter's labels: the …ForSequenceClassification config.json written beside it. */
  labelsConfig?: string;
  /** The final evaluation's metrics (eval_loss, eval_accuracy, eval_f1 …), when there was one. */
  finalMetrics: Record<string, number> | null;
}

/** The playground's classification of one text: probabilities (or outputs) of the base head and the tuned adapter. */
export interface ClassifyResult {
  problemType: 'single_label_classification' | 'regression' | 'multi_label_classification';
  labels: string[];
  base: number[];
  tuned: number[] | null;
  tokens: number;
  truncated: boolean;
}

export interface GenerateOptions {
  maxNewTokens: number;
  temperature: number;
  seed: number;
}

/** A validation example as the playground's per-example view shows it: the prompt the model sees and the answer it was trained toward. */
export interface ValidationExample {
  /** Index among the validation examples. */
  index: number;
  /** The file row it came from (1-based; 0 when unknown). */
  row: number;
  /** The tokens before the first trained token, decoded without special tokens (the template's text and role lines remain). */
  prompt: string;
  /** The first run of trained tokens, decoded: the answer the data teaches. */
  reference: string;
}

/** A run restarted from a stored checkpoint must see the same data, settings and model. */
export interface TrainRequest {
  settings: RunSettings;
  /** Engine checkpoint bytes to continue from (a reloaded tab's run). */
  resumeFrom?: Uint8Array;
  /** An adapter to continue training (from the library). */
  initialAdapter?: { adapterModel: Uint8Array; adapterConfig: string; labelsConfig?: string };
}
