/**
 * The transformers.js folder of a (merged) model, laid out as transformers.js loads it from a path
 * or a hub repo (an encoder classifier: the same, with onnx/model{suffix}.onnx the text-classification
 * graph of encoder.ts, config.json its …ForSequenceClassification config, no generation_config.json;
 * load it with `pipeline('text-classification', folder)`):
 *
 *   config.json               the model's config (+ "transformers.js_config" when weights are external)
 *   generation_config.json    copied, or made from the config's bos/eos ids
 *   tokenizer.json, tokenizer_config.json, special_tokens_map.json, …   copied as given
 *   onnx/model{suffix}.onnx   one decoder per variant: "" fp32, _fp16, _quantized (q8), _int8,
 *                             _uint8, _q4, _q4f16 (transformers.js's dtype → suffix table)
 *   onnx/model{suffix}.onnx_data[_N]   external weights, when a variant's weights pass the threshold
 *
 * Load it with `pipeline('text-generation', folder, { dtype: 'q4' })` or
 * AutoModelForCausalLM.from_pretrained(folder, { dtype }).
 */
import { ExportError, isEncoderSource, textPart, type AnySourceModel, type ExportedFiles, type ProgressCallback, type SourceModel } from '../types';
import { buildDecoder, ONNX_VARIANTS, type OnnxVariant } from './decoder';
import { buildEncoder } from './encoder';
import { serializeModel } from './graph';

export interface OnnxExportOptions {
  /** Variants to write (default fp32, q8 and q4). */
  variants?: OnnxVariant[];
  /** Move a variant's weights to external data files past this many bytes (default 2 GB, protobuf's limit). */
  externalDataThreshold?: number;
  /** Largest external data file (default 2 GB). */
  maxChunkBytes?: number;
  onProgress?: ProgressCallback;
  /** Add the optional num_logits_to_keep input (see DecoderOptions.logitsToKeep); default off, as Optimum exports. */
  logitsToKeep?: boolean;
  /** Filled per variant with the weights its runtime computes with (tests). */
  effectiveWeights?: Map<OnnxVariant, Map<string, Float32Array>>;
}

export const DEFAULT_ONNX_VARIANTS: OnnxVariant[] = ['fp32', 'q8', 'q4'];
const TWO_GB = 2_000_000_000;

/** Files transformers.js needs besides the graphs, copied from the source as they are. */
const SKIP_TEXT = new Set(['config.json', 'generation_config.json', 'model.safetensors.index.json']);

export async function exportOnnx(model: AnySourceModel, options: OnnxExportOptions = {}): Promise<ExportedFiles> {
  const variants = options.variants ?? DEFAULT_ONNX_VARIANTS;
  for (const v of variants) if (!(v in ONNX_VARIANTS)) throw new ExportError(`ONNX variant "${v}" is not one of ${Object.keys(ONNX_VARIANTS).join(', ')}`);
  if (!model.textFiles.has('tokenizer.json')) throw new ExportError('tokenizer.json is required: transformers.js tokenizes with it');
  const files: ExportedFiles = new Map();
  const external: Record<string, number> = {};
  const encoder = isEncoderSource(model);
  // Tensors read per variant: the progress total.
  const perVariant = encoder
    ? 4 + (model.spec.typeVocabSize > 0 ? 1 : 0) + model.spec.numLayers * 16 + 4
    : 5 + model.spec.numLayers * (9 + (model.spec.attentionBias ? 3 : 0) + (model.spec.qkNorm ? 2 : 0));
  let done = 0;
  const total = perVariant * variants.length;

  for (const variant of variants) {
    const fileName = `model${ONNX_VARIANTS[variant]}.onnx`;
    const eff = options.effectiveWeights ? new Map<string, Float32Array>() : undefined;
    const onTensor = (name: string) => options.onProgress?.({ stage: `onnx/${fileName}: ${name}`, done: done++, total });
    const graph = encoder
      ? await buildEncoder(model.spec, model.weights, variant, { effectiveWeights: eff, onTensor })
      : await buildDecoder(model.spec, model.weights, variant, { effectiveWeights: eff, logitsToKeep: options.logitsToKeep, onTensor });
    if (eff) options.effectiveWeights!.set(variant, eff);
    const serialized = serializeModel(graph, {
      fileName,
      externalDataThreshold: options.externalDataThreshold ?? TWO_GB,
      maxChunkBytes: options.maxChunkBytes ?? TWO_GB,
      opsets: [
        { domain: '', version: 17 },
        { domain: 'com.microsoft', version: 1 },
      ],
      graphName: encoder ? `${model.spec.architecture}` : `${model.spec.architecture}-decoder`,
      producerVersion: '1',
    });
    for (const [name, parts] of serialized.files) files.set(`onnx/${name}`, parts);
    if (serialized.externalChunks > 0) external[fileName] = serialized.externalChunks;
  }

  const config: Record<string, unknown> = encoder ? { ...model.config } : { ...model.config, use_cache: true };
  if (Object.keys(external).length) {
    const tjs = (typeof config['transformers.js_config'] === 'object' && config['transformers.js_config']) || {};
    config['transformers.js_config'] = { ...(tjs as object), use_external_data_format: external };
  }
  files.set('config.json', textPart(JSON.stringify(config, null, 2) + '\n'));
  if (!encoder) files.set('generation_config.json', textPart(model.textFiles.get('generation_config.json') ?? generationConfig(model)));
  for (const [name, text] of model.textFiles) if (!SKIP_TEXT.has(name)) files.set(name, textPart(text));
  options.onProgress?.({ stage: 'done', done: total, total });
  return files;
}

function generationConfig(model: SourceModel): string {
  const { spec } = model;
  const g: Record<string, unknown> = { _from_model_config: true };
  if (spec.bosTokenId !== null) g.bos_token_id = spec.bosTokenId;
  if (spec.eosTokenIds.length) g.eos_token_id = spec.eosTokenIds.length === 1 ? spec.eosTokenIds[0] : spec.eosTokenIds;
  if (spec.padTokenId !== null) g.pad_token_id = spec.padTokenId;
  return JSON.stringify(g, null, 2) + '\n';
}
