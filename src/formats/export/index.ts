/**
 * Deploy exports of a fine-tuned model: bytes in, files out, in a worker or in Node.
 *
 *   exportOnnx(model, opts)          transformers.js / onnxruntime-web folder (config, tokenizer, onnx/model*.onnx)
 *   exportGguf(model, opts)          merged GGUF model (f16 | q8_0 | f32) + Ollama Modelfile
 *   exportGgufLora(spec, adapter, …) LoRA adapter GGUF (+ base GGUF when given) + Ollama Modelfile
 *   exportHf(model, opts)            merged Hugging Face checkpoint (safetensors, sharded past 2 GB)
 *
 * `model` is a SourceModel whose `weights` reader returns the merged weights:
 * `mergedWeights(spec, baseReader, adapter)` makes one from a base checkpoint and a PEFT adapter.
 * Every file comes back as a list of parts (ExportedFiles), so a multi-GB file never needs one
 * buffer: `new Blob(parts)` in a browser, sequential writes in Node.
 */
import type { ModelSpec } from '../hfConfig';
import type { LoraAdapter } from './merge';
import { exportGgufAdapter, exportGgufModel, type GgufModelType } from './gguf/export';
import { ollamaModelfile } from './gguf/modelfile';
import { chatTemplateOf } from './gguf/tokenizer';
import { ExportError, textPart, type ExportedFiles, type ProgressCallback, type SourceModel } from './types';
import { exportHf } from './hf/export';
import { exportOnnx } from './onnx/export';
import { exportQuants, MODEL_EXPORTS, type ModelExportFormat } from './kinds';
import type { OnnxVariant } from './onnx/decoder';
import { isEncoderExport, type OpenedSource } from './source';

export { exportHf, type HfExportOptions } from './hf/export';
export { exportOnnx, DEFAULT_ONNX_VARIANTS, type OnnxExportOptions } from './onnx/export';
export { ONNX_VARIANTS, type OnnxVariant, MODEL_EXPORTS, exportQuants, isModelExportFormat, exportFormatsFor, type ModelExportFormat, type ModelExportKind } from './kinds';
export { exportGgufModel, exportGgufAdapter, type GgufModelType, type GgufModelOptions, type GgufAdapterOptions } from './gguf/export';
export { readGguf, writeGguf, concatParts, ggufPlain, GgufError, GgmlType, type GgufFile } from './gguf/format';
export { ollamaModelfile, ollamaTemplate } from './gguf/modelfile';
export { mergedWeights, checkAdapter, type LoraAdapter, type MergeBase } from './merge';
export { openExportSource, readExportAdapter, isEncoderExport, MODEL_TEXT_FILES, type OpenedSource, type DecoderSource, type EncoderSource } from './source';
export {
  ExportError, partsSize, isEncoderSource, type AnySourceModel, type EncoderSourceModel, type ExportedFiles, type ExportProgress, type ProgressCallback, type SourceModel, type WeightReader,
} from './types';

/** Token texts that end a turn: the EOS ids' texts, for Ollama's stop parameters. */
function stopTokens(spec: ModelSpec, textFiles: Map<string, string>): string[] {
  const tok = textFiles.get('tokenizer.json');
  if (!tok) return [];
  const added = (JSON.parse(tok).added_tokens ?? []) as { id: number; content: string }[];
  return spec.eosTokenIds.map((id) => added.find((a) => a.id === id)?.content).filter((t): t is string => !!t);
}

function chatTemplate(textFiles: Map<string, string>): string | null {
  return chatTemplateOf(JSON.parse(textFiles.get('tokenizer_config.json') ?? '{}'), textFiles);
}

export interface GgufBundleOptions {
  type?: GgufModelType;
  /** File name stem and general.name (default "model"). */
  name?: string;
  onProgress?: ProgressCallback;
}

/** `{name}-{type}.gguf` (the merged model with its tokenizer) and a Modelfile that runs it in Ollama. */
export async function exportGguf(model: SourceModel, options: GgufBundleOptions = {}): Promise<ExportedFiles> {
  const type = options.type ?? 'f16';
  const name = options.name ?? 'model';
  const file = `${name}-${type}.gguf`;
  const files: ExportedFiles = new Map();
  files.set(file, await exportGgufModel(model, { type, name, onProgress: options.onProgress }));
  files.set('Modelfile', textPart(ollamaModelfile({ from: `./${file}`, chatTemplate: chatTemplate(model.textFiles), stop: stopTokens(model.spec, model.textFiles) })));
  return files;
}

export interface GgufLoraBundleOptions {
  /** File name stem of the adapter (default "adapter"). */
  name?: string;
  /** lora_a / lora_b encoding (default f32). */
  type?: 'f32' | 'f16';
  /**
   * The base model to include as a GGUF beside the adapter (FROM ./{base name}-{type}.gguf), or,
   * when absent, `baseFrom`: what the Modelfile's FROM names (an Ollama model or a GGUF path the
   * user converted the base to with llama.cpp's convert_hf_to_gguf.py). With neither, FROM is
   * ./base-f16.gguf under a comment saying what to put there.
   */
  base?: { model: SourceModel; type?: GgufModelType; name?: string };
  baseFrom?: string;
  onProgress?: ProgressCallback;
}

/** The adapter as `{name}-lora-{type}.gguf`, optionally the base GGUF, and a Modelfile (FROM base, ADAPTER the LoRA). */
export async function exportGgufLora(spec: ModelSpec, adapter: LoraAdapter, textFiles: Map<string, string>, options: GgufLoraBundleOptions = {}): Promise<ExportedFiles> {
  const name = options.name ?? 'adapter';
  const type = options.type ?? 'f32';
  const files: ExportedFiles = new Map();
  const loraFile = `${name}-lora-${type}.gguf`;
  files.set(loraFile, exportGgufAdapter(spec, adapter, { type, name }));
  let from = options.baseFrom ?? './base-f16.gguf';
  const comments: string[] = [];
  if (!options.base && !options.baseFrom) {
    comments.push(
      `FROM must be the base model the adapter was trained on (${adapter.config.baseModelNameOrPath || 'see adapter_config.json'}) as a GGUF`,
      "converted by llama.cpp's convert_hf_to_gguf.py (e.g. --outtype f16), saved here as base-f16.gguf, or an Ollama model of exactly those weights.",
    );
  }
  if (options.base) {
    const baseType = options.base.type ?? 'f16';
    const baseName = options.base.name ?? 'base';
    const baseFile = `${baseName}-${baseType}.gguf`;
    files.set(baseFile, await exportGgufModel(options.base.model, { type: baseType, name: baseName, onProgress: options.onProgress }));
    from = `./${baseFile}`;
  }
  files.set('Modelfile', textPart(ollamaModelfile({ from, adapter: `./${loraFile}`, chatTemplate: chatTemplate(textFiles), stop: stopTokens(spec, textFiles), comments })));
  return files;
}

export interface ModelExportOptions {
  /** As exportQuants takes it. */
  quant?: string | null;
  /** File name stem and general.name of GGUF files. */
  name?: string;
  /** gguf-adapter: also write the base model as GGUF, which the Modelfile's FROM names. */
  includeBase?: boolean;
  onProgress?: ProgressCallback;
}

/**
 * One export of `source` (opened by openExportSource) in `format`. An encoder classifier exports as
 * ONNX (transformers.js text-classification) and as a merged Hugging Face folder; GGUF is refused:
 * llama.cpp runs BERT-family models for embeddings only, with no sequence-classification head.
 */
export async function exportModel(format: ModelExportFormat, source: OpenedSource, adapter: LoraAdapter | null, options: ModelExportOptions = {}): Promise<ExportedFiles> {
  const quants = exportQuants(format, options.quant);
  const { onProgress, name } = options;
  if (isEncoderExport(source)) {
    if (!MODEL_EXPORTS[format].encoders) {
      throw new ExportError(`--format ${format}: llama.cpp has no sequence-classification head for ${source.folder.spec.architecture} (it runs BERT-family models for embeddings only); export the classifier as onnx (transformers.js) or hf (Transformers)`);
    }
    if (format === 'onnx') return exportOnnx(source.merged, { variants: quants as OnnxVariant[], onProgress });
    return exportHf(source.merged, { dtype: quants[0] as 'F32' | 'BF16' | 'F16' | undefined, onProgress });
  }
  switch (format) {
    case 'onnx':
      return exportOnnx(source.merged, { variants: quants as OnnxVariant[], onProgress });
    case 'gguf':
      return exportGguf(source.merged, { type: quants[0] as GgufModelType, name, onProgress });
    case 'gguf-adapter':
      if (!adapter) throw new ExportError('a GGUF adapter export needs an adapter');
      return exportGgufLora(source.folder.spec, adapter, source.base.textFiles, {
        name, type: quants[0] as 'f32' | 'f16', onProgress, base: options.includeBase ? { model: source.base, name: 'base' } : undefined,
      });
    case 'hf':
      return exportHf(source.merged, { dtype: quants[0] as 'F32' | 'BF16' | 'F16' | undefined, onProgress });
  }
}
