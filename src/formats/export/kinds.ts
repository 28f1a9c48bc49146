/**
 * The model exports by destination, with their quantization choices: what `export --format/--quant`
 * take and the studio's "Export for…" offers. No exporter code here, so the page can name the
 * choices without loading the exporters.
 */
import { ExportError } from './types';

/** transformers.js dtypes this exporter writes, with the file suffix transformers.js loads for each (utils/dtypes.js). */
export const ONNX_VARIANTS = {
  fp32: '',
  fp16: '_fp16',
  q8: '_quantized',
  int8: '_int8',
  uint8: '_uint8',
  q4: '_q4',
  q4f16: '_q4f16',
} as const;
export type OnnxVariant = keyof typeof ONNX_VARIANTS;

/** A model export by destination: what `export --format` takes and the studio's "Export for…" offers. */
export type ModelExportFormat = 'onnx' | 'gguf' | 'gguf-adapter' | 'hf';

export interface ModelExportKind {
  /** The `--quant` values (the studio's choices); onnx takes a comma-separated list of them. */
  quants: readonly string[];
  /** Without `--quant` (null: from config.json's torch_dtype). */
  defaultQuant: string | null;
  /** Several variants in one export (onnx). */
  list: boolean;
  /** What `quant` chooses, for messages. */
  quantIs: string;
  needsAdapter: boolean;
  /** Whether an encoder classifier (BERT, RoBERTa, DistilBERT + a SEQ_CLS adapter) exports to it. */
  encoders: boolean;
}

export const MODEL_EXPORTS: Record<ModelExportFormat, ModelExportKind> = {
  onnx: { quants: Object.keys(ONNX_VARIANTS), defaultQuant: 'fp32,q8,q4', list: true, quantIs: 'an ONNX variant', needsAdapter: false, encoders: true },
  // llama.cpp runs BERT-family models for embeddings only: no sequence-classification head.
  gguf: { quants: ['f16', 'q8_0', 'f32'], defaultQuant: 'f16', list: false, quantIs: 'a GGUF type', needsAdapter: false, encoders: false },
  'gguf-adapter': { quants: ['f32', 'f16'], defaultQuant: 'f32', list: false, quantIs: 'a GGUF LoRA tensor type', needsAdapter: true, encoders: false },
  hf: { quants: ['F32', 'BF16', 'F16'], defaultQuant: null, list: false, quantIs: 'a safetensors dtype for hf', needsAdapter: false, encoders: true },
};

export function isModelExportFormat(format: string): format is ModelExportFormat {
  return Object.hasOwn(MODEL_EXPORTS, format);
}

/** The model exports of a decoder (causal LM) or of an encoder classifier. */
export function exportFormatsFor(kind: 'decoder' | 'encoder'): ModelExportFormat[] {
  return (Object.keys(MODEL_EXPORTS) as ModelExportFormat[]).filter((f) => kind === 'decoder' || MODEL_EXPORTS[f].encoders);
}

/** The quantization choices of `quant` for `format` (its default when absent); an ExportError names a value it does not know. */
export function exportQuants(format: ModelExportFormat, quant: string | null | undefined): string[] {
  const kind = MODEL_EXPORTS[format];
  const given = quant ?? kind.defaultQuant;
  if (given === null) return [];
  const values = kind.list ? given.split(',').map((v) => v.trim()) : [given];
  for (const v of values) {
    if (!kind.quants.includes(v)) throw new ExportError(`"${v}" is not ${kind.quantIs} (${kind.quants.join(', ')})`);
  }
  return values;
}

