/**
 * What every exporter takes and gives back. The exporters run in a worker or in Node alike: bytes
 * in, bytes out, no DOM and no Node APIs.
 */
import type { ModelSpec } from '../hfConfig';
import type { EncoderConfig } from '../encoderConfig';

/** Reads one tensor of the (merged) model by its Hugging Face name, as f32 values in HF's layout. */
export type WeightReader = (name: string) => Float32Array | Promise<Float32Array>;

/** The model to export: its spec, config.json (parsed), tokenizer files by name, and weights. */
export interface SourceModel {
  spec: ModelSpec;
  /** config.json as parsed JSON. */
  config: Record<string, unknown>;
  /**
   * Text files that travel with the model, by file name: tokenizer.json and tokenizer_config.json
   * (required), special_tokens_map.json, generation_config.json, … (copied when present).
   */
  textFiles: Map<string, string>;
  weights: WeightReader;
}

/**
 * A BERT-family encoder for sequence classification to export: `spec` with num_labels, id2label and
 * problem_type of the head being exported, `config` the …ForSequenceClassification config.json
 * (formats/encoderConfig.ts sequenceClassificationConfig), `weights` by Transformers' canonical
 * names (LayerNorm .weight/.bias, the model prefix), the head's tensors included.
 */
export interface EncoderSourceModel {
  spec: EncoderConfig;
  config: Record<string, unknown>;
  textFiles: Map<string, string>;
  weights: WeightReader;
}

/** Either kind of model an exporter may be given. */
export type AnySourceModel = SourceModel | EncoderSourceModel;

export function isEncoderSource(model: AnySourceModel): model is EncoderSourceModel {
  return 'family' in model.spec;
}

export interface ExportProgress {
  /** What is being done, e.g. "onnx/model_q4.onnx" or "blk.3.attn_q.weight". */
  stage: string;
  done: number;
  total: number;
}

export type ProgressCallback = (p: ExportProgress) => void;

/**
 * Exported files by relative path. Each file is a list of parts to be written one after the
 * other (a Blob takes the list as it is); small files have one part.
 */
export type ExportedFiles = Map<string, Uint8Array[]>;

export class ExportError extends Error {
  constructor(message: string) {
    super(`ExportError: ${message}`);
    this.name = 'ExportError';
  }
}

export function textPart(text: string): Uint8Array[] {
  return [new TextEncoder().encode(text)];
}

/** Total size in bytes of a file's parts. */
export function partsSize(parts: Uint8Array[]): number {
  return parts.reduce((a, p) => a + p.byteLength, 0);
}
