/**
 * GGUF exports for llama.cpp, Ollama and LM Studio:
 *
 * - `exportGgufModel`: the (merged) model with its tokenizer, laid out as convert_hf_to_gguf.py
 *   writes it (F32 / F16 / Q8_0; norms and biases stay F32; Llama q/k rows permuted for
 *   llama.cpp's RoPE; rope_freqs for Llama 3 rope scaling; no output.weight when embeddings are tied).
 * - `exportGgufAdapter`: a PEFT LoRA adapter as convert_lora_to_gguf.py writes it (general.type
 *   "adapter", adapter.type "lora", adapter.lora.alpha, "<base tensor>.lora_a" ne [in, r] and
 *   ".lora_b" ne [r, out], lora_b rows permuted like the base's q/k rows).
 */
import { moduleGroup, moduleShape, type ModelSpec } from '../../hfConfig';
import { expectedAdapterTensors, loraScale, rankOf } from '../../peft';
import { expectedTensors } from '../../weightMap';
import { ropeInvFreq } from '../../rope';
import { checkAdapter, type LoraAdapter } from '../merge';
import { ExportError, type ProgressCallback, type SourceModel } from '../types';
import { GgmlType, kv, writeGguf, type GgufTensor, type GgufValue } from './format';
import { ggufArchitecture, ggufProjectionName, ggufTensorName, llamaPermuteHeads, permuteRowsForLlamaRope } from './names';
import { encodeGgml } from './quants';
import { tokenizerMetadata } from './tokenizer';

export type GgufModelType = 'f32' | 'f16' | 'q8_0';

/** gguf-py's LlamaFileType of each export type (general.file_type). */
const FILE_TYPE: Record<GgufModelType, number> = { f32: 0, f16: 1, q8_0: 7 };
const TENSOR_TYPE: Record<GgufModelType, GgmlType> = { f32: GgmlType.F32, f16: GgmlType.F16, q8_0: GgmlType.Q8_0 };

/** gguf-py's GGML_QUANT_VERSION. */
export const GGML_QUANT_VERSION = 2;

export interface GgufModelOptions {
  /** Weight encoding of the matrices (default f16). */
  type?: GgufModelType;
  /** general.name (default: "model"). */
  name?: string;
  onProgress?: ProgressCallback;
}

/** The ggml type of a tensor in a file of this type: 1-D tensors and norms F32, Q8_0 falling back to F16 for rows that are not whole blocks. */
export function ggufTensorType(type: GgufModelType, ggufName: string, ne: number[]): GgmlType {
  if (ne.length <= 1 || ggufName.endsWith('_norm.weight') || !ggufName.endsWith('.weight')) return GgmlType.F32;
  const t = TENSOR_TYPE[type];
  if (t === GgmlType.Q8_0 && ne[0] % 32 !== 0) return GgmlType.F16;
  return t;
}

/** Llama 3 rope factors (rope_freqs.weight): base inverse frequency / scaled one, per frequency. */
function ropeFactors(spec: ModelSpec): Float32Array | null {
  if (!spec.ropeScaling || ggufArchitecture(spec.architecture) !== 'llama') return null;
  const scaled = ropeInvFreq({ headSize: spec.headDim, theta: spec.ropeTheta, scaling: { ...spec.ropeScaling, type: 'llama3' } });
  const base = ropeInvFreq({ headSize: spec.headDim, theta: spec.ropeTheta });
  return Float32Array.from(base, (b, i) => b / scaled[i]);
}

/** Architecture hyperparameters as TextModel / LlamaModel.set_gguf_parameters write them. */
function modelMetadata(spec: ModelSpec, config: Record<string, unknown>, type: GgufModelType, name: string): Map<string, GgufValue> {
  const arch = ggufArchitecture(spec.architecture);
  const m = new Map<string, GgufValue>();
  m.set('general.architecture', kv.str(arch));
  m.set('general.type', kv.str('model'));
  m.set('general.name', kv.str(name));
  m.set(`${arch}.block_count`, kv.u32(spec.numLayers));
  m.set(`${arch}.context_length`, kv.u32(spec.maxPositionEmbeddings));
  m.set(`${arch}.embedding_length`, kv.u32(spec.hiddenSize));
  m.set(`${arch}.feed_forward_length`, kv.u32(spec.intermediateSize));
  m.set(`${arch}.attention.head_count`, kv.u32(spec.numHeads));
  m.set(`${arch}.attention.head_count_kv`, kv.u32(spec.numKvHeads));
  m.set(`${arch}.rope.freq_base`, kv.f32(spec.ropeTheta));
  m.set(`${arch}.attention.layer_norm_rms_epsilon`, kv.f32(spec.rmsNormEps));
  // The converter writes key/value length when config.json has head_dim; llama.cpp otherwise
  // derives it as hidden/heads, which is wrong whenever head_dim differs, so write it then too.
  if (config.head_dim != null || spec.headDim * spec.numHeads !== spec.hiddenSize) {
    m.set(`${arch}.attention.key_length`, kv.u32(spec.headDim));
    m.set(`${arch}.attention.value_length`, kv.u32(spec.headDim));
  }
  m.set('general.file_type', kv.u32(FILE_TYPE[type]));
  if (arch === 'llama') {
    m.set(`${arch}.vocab_size`, kv.u32(spec.vocabSize));
    m.set(`${arch}.rope.dimension_count`, kv.u32(spec.headDim));
  }
  m.set('general.quantization_version', kv.u32(GGML_QUANT_VERSION));
  return m;
}

/** HF [rows, cols] → ggml ne [cols, rows]. */
function neOf(shape: number[]): number[] {
  return [...shape].reverse();
}

/** The merged model as one GGUF file (returned as parts). */
export async function exportGgufModel(model: SourceModel, options: GgufModelOptions = {}): Promise<Uint8Array[]> {
  const { spec } = model;
  const type = options.type ?? 'f16';
  if (!(type in FILE_TYPE)) throw new ExportError(`GGUF type "${type}" is not supported (f32, f16, q8_0)`);
  const metadata = modelMetadata(spec, model.config, type, options.name ?? 'model');
  for (const [k, v] of tokenizerMetadata(spec, model.textFiles).metadata) metadata.set(k, v);

  const tensors: GgufTensor[] = [];
  const factors = ropeFactors(spec);
  if (factors) tensors.push({ name: 'rope_freqs.weight', ne: [factors.length], type: GgmlType.F32, data: encodeGgml(GgmlType.F32, factors) });
  const list = expectedTensors(spec);
  let done = 0;
  for (const t of list) {
    options.onProgress?.({ stage: t.name, done, total: list.length });
    let data = await model.weights(t.name);
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (data.length !== n) throw new ExportError(`tensor "${t.name}" has ${data.length} values, expected ${t.shape.join('×')}`);
    const heads = llamaPermuteHeads(spec, t.name);
    if (heads !== null) data = permuteRowsForLlamaRope(data, heads, t.shape[0], t.shape.length > 1 ? t.shape[1] : 1);
    const name = ggufTensorName(t.name);
    const ne = neOf(t.shape);
    const ggmlType = ggufTensorType(type, name, ne);
    tensors.push({ name, ne, type: ggmlType, data: encodeGgml(ggmlType, data) });
    done++;
  }
  options.onProgress?.({ stage: 'done', done, total: list.length });
  return writeGguf(metadata, tensors);
}

export interface GgufAdapterOptions {
  /** Encoding of lora_a / lora_b (default f32, as convert_lora_to_gguf.py's default). */
  type?: 'f32' | 'f16';
  name?: string;
}

/**
 * The LoRA adapter as a GGUF adapter. llama.cpp applies scale = alpha / r with r read from lora_a;
 * a module whose PEFT scale differs from adapter.lora.alpha / r (rsLoRA, rank_pattern,
 * alpha_pattern) gets the ratio folded into its lora_b, so every module keeps PEFT's exact scale
 * (convert_lora_to_gguf.py ignores use_rslora; this exporter does not).
 */
export function exportGgufAdapter(spec: ModelSpec, adapter: LoraAdapter, options: GgufAdapterOptions = {}): Uint8Array[] {
  checkAdapter(spec, adapter);
  const arch = ggufArchitecture(spec.architecture);
  const alpha = adapter.config.alpha;
  if (!(alpha > 0)) throw new ExportError(`lora_alpha ${alpha} must be positive for a GGUF adapter`);
  const metadata = new Map<string, GgufValue>();
  metadata.set('general.architecture', kv.str(arch));
  metadata.set('general.type', kv.str('adapter'));
  metadata.set('general.name', kv.str(options.name ?? 'adapter'));
  metadata.set('adapter.type', kv.str('lora'));
  metadata.set('adapter.lora.alpha', kv.f32(alpha));
  metadata.set('general.quantization_version', kv.u32(GGML_QUANT_VERSION));
  const ggmlType = options.type === 'f16' ? GgmlType.F16 : GgmlType.F32;

  const tensors: GgufTensor[] = [];
  for (const e of expectedAdapterTensors(spec, adapter.config)) {
    if (e.which !== 'A') continue;
    const { in: inF, out: outF } = moduleShape(spec, e.target);
    const r = rankOf(adapter.config, e.layer, e.target);
    const a = adapter.tensors.get(e.key)!;
    let b = adapter.tensors.get(e.key.replace('.lora_A.', '.lora_B.'))!;
    const fold = (loraScale(adapter.config, e.layer, e.target) * r) / alpha;
    if (fold !== 1) b = Float32Array.from(b, (x) => x * fold);
    const heads = llamaPermuteHeads(spec, `model.layers.${e.layer}.${moduleGroup(e.target)}.${e.target}.weight`);
    if (heads !== null) b = permuteRowsForLlamaRope(b, heads, outF, r);
    const base = ggufProjectionName(e.layer, e.target);
    tensors.push({ name: `${base}.lora_a`, ne: [inF, r], type: ggmlType, data: encodeGgml(ggmlType, a) });
    tensors.push({ name: `${base}.lora_b`, ne: [r, outF], type: ggmlType, data: encodeGgml(ggmlType, b) });
  }
  return writeGguf(metadata, tensors);
}
