// Types that cross the worker boundary. Plain data only (structured-clone friendly); no classes.
import type { StudioSettings } from '../app/store/settings';

export type { StudioSettings };

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

export interface MemoryEstimateInfo {
  total: number;
  weights: number;
  adapter: number;
  activations: number;
  workspace: number;
  /** What we assume the device can give (WebGPU does not report memory). */
  budget: number;
  maxBufferSize: number;
  largestBuffer: number;
  fits: boolean;
  warning: string | null;
}

export type TrainEvent =
  | {
      type: 'step';
      step: number;
      totalSteps: number;
      epoch: number;
      loss: number;
      learningRate: number;
      gradNorm: number;
      tokensPerSecond: number;
      etaSeconds: number;
      skipped: boolean;
    }
  | { type: 'eval'; step: number; validationLoss: number }
  | { type: 'checkpoint'; step: number; bytes: Uint8Array }
  | { type: 'paused'; step: number }
  | { type: 'resumed'; step: number };

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
  settings: StudioSettings;
  /** Engine checkpoint bytes to continue from (a reloaded tab's run). */
  resumeFrom?: Uint8Array;
  /** An adapter to continue training (from the library). */
  initialAdapter?: { adapterModel: Uint8Array; adapterConfig: string };
}
