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

/** The engine's run events, forwarded as they are. */
export type TrainEvent = RunEvent;

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
}

export interface GenerateOptions {
  maxNewTokens: number;
  temperature: number;
  seed: number;
}

/** A run restarted from a stored checkpoint must see the same data, settings and model. */
export interface TrainRequest {
  settings: RunSettings;
  /** Engine checkpoint bytes to continue from (a reloaded tab's run). */
  resumeFrom?: Uint8Array;
  /** An adapter to continue training (from the library). */
  initialAdapter?: { adapterModel: Uint8Array; adapterConfig: string };
}
