/**
 * Deterministic generator of Llama-family checkpoints, saved as Hugging Face saves them:
 * config.json, generation_config.json, model.safetensors (or shards + model.safetensors.index.json)
 * and, by default, a real small byte-level BPE tokenizer. Same options → same bytes.
 *
 * Weights are seeded random: projections and embeddings ~ N(0, initializerRange) (HF's init),
 * norm weights 1 + small noise and biases small noise, so that a test which ignores a norm
 * weight or a bias fails instead of passing by accident.
 */
import { fromF32, toF32 } from './dtype';
import { hashName, seededRandom } from './gen/random';
import { generateTokenizer } from './gen/tokenizer';
import type { Architecture, ModelSpec } from './hfConfig';
import { serializeSafetensors, type TensorToWrite } from './safetensors';
import { expectedTensors } from './weightMap';

export interface GenerateOptions {
  architecture?: Architecture;
  seed?: number;
  hiddenSize?: number;
  numLayers?: number;
  numHeads?: number;
  numKvHeads?: number;
  /** Defaults to hiddenSize / numHeads; written to config.json when it differs (or for qwen3). */
  headDim?: number;
  intermediateSize?: number;
  /** Defaults to the tokenizer's size when a tokenizer is generated, else 256. */
  vocabSize?: number;
  tieWordEmbeddings?: boolean;
  dtype?: 'F32' | 'F16' | 'BF16';
  rmsNormEps?: number;
  ropeTheta?: number;
  maxPositionEmbeddings?: number;
  /** Llama 3 rope scaling block, written as HF writes it. */
  ropeScaling?: { factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositionEmbeddings: number } | null;
  /** q/k/v biases; default true for qwen2, false otherwise. */
  attentionBias?: boolean;
  /** Per-head q/k RMSNorm; default true for qwen3, false otherwise. */
  qkNorm?: boolean;
  initializerRange?: number;
  /**
   * Standard deviation of the token embedding (default: initializerRange). With tied embeddings it
   * also bounds the logits (|logit| ≤ |final hidden|·|embedding row| ≈ √C·√C·std), so a model whose
   * embedding stays frozen needs a larger one than HF's 0.02 to ever be confident.
   */
  embeddingStd?: number;
  /** Generate tokenizer files (default true). */
  tokenizer?: boolean;
  /** Tokenizer vocabulary size when a tokenizer is generated (default 512). */
  tokenizerVocabSize?: number;
  /** Text the tokenizer's merges are learned from (default: the built-in English corpus, gen/corpus.ts). */
  tokenizerCorpus?: string;
  /** Split the weights into shards of at most this many data bytes (HF's max_shard_size); default: one file. */
  maxShardBytes?: number;
}

/**
 * The values of one generated tensor, in order, a chunk per call (`fill` writes the next
 * out.length values): the same stream whether a tensor is made whole (generateModelWithTensors) or
 * written a chunk at a time (nodeCheckpoint.ts).
 */
export function tensorValues(name: string, kind: 'embedding' | 'matrix' | 'norm' | 'bias', seed: number, std: number): (out: Float32Array) => void {
  const r = seededRandom((seed * 0x9e3779b1) ^ hashName(name));
  return (out) => {
    for (let i = 0; i < out.length; i++) {
      if (kind === 'norm') out[i] = 1 + 0.1 * (r.uniform() * 2 - 1);
      else if (kind === 'bias') out[i] = 0.05 * (r.uniform() * 2 - 1);
      else out[i] = std * r.normal();
    }
  };
}

export interface GeneratedModel {
  spec: ModelSpec;
  files: Map<string, Uint8Array | string>;
  /** The f32 values of every tensor, after rounding to the stored dtype (what a reader gets back). */
  tensors: Map<string, { shape: number[]; data: Float32Array }>;
}

export function generateModelWithTensors(options: GenerateOptions = {}): GeneratedModel {
  const architecture = options.architecture ?? 'llama';
  const seed = options.seed ?? 0;
  const hiddenSize = options.hiddenSize ?? 64;
  const numHeads = options.numHeads ?? 4;
  const numKvHeads = options.numKvHeads ?? 2;
  const headDim = options.headDim ?? hiddenSize / numHeads;
  if (!Number.isInteger(headDim)) throw new RangeError(`hiddenSize ${hiddenSize} is not divisible by numHeads ${numHeads}; pass headDim`);
  const tok = options.tokenizer === false ? null : generateTokenizer({ vocabSize: options.tokenizerVocabSize ?? 512, corpus: options.tokenizerCorpus });
  const vocabSize = options.vocabSize ?? tok?.vocab.size ?? 256;
  const eosId = tok ? tok.vocab.get('<|im_end|>')! : 0;
  const bosId = tok ? tok.vocab.get('<|im_start|>')! : 0;
  const dtype = options.dtype ?? 'F32';
  const spec: ModelSpec = {
    architecture,
    hiddenSize,
    numLayers: options.numLayers ?? 2,
    numHeads,
    numKvHeads,
    headDim,
    intermediateSize: options.intermediateSize ?? 128,
    vocabSize,
    rmsNormEps: options.rmsNormEps ?? (architecture === 'qwen2' || architecture === 'qwen3' ? 1e-6 : 1e-5),
    ropeTheta: options.ropeTheta ?? (architecture === 'qwen2' || architecture === 'qwen3' ? 1000000 : 10000),
    ropeScaling: options.ropeScaling ? { type: 'llama3', ...options.ropeScaling } : null,
    maxPositionEmbeddings: options.maxPositionEmbeddings ?? 2048,
    tieWordEmbeddings: options.tieWordEmbeddings ?? true,
    attentionBias: options.attentionBias ?? architecture === 'qwen2',
    qkNorm: options.qkNorm ?? architecture === 'qwen3',
    bosTokenId: bosId,
    eosTokenIds: [eosId],
    padTokenId: null,
    torchDtype: dtype === 'BF16' ? 'bfloat16' : dtype === 'F16' ? 'float16' : 'float32',
  };
  const std = options.initializerRange ?? 0.02;
  const embeddingStd = options.embeddingStd ?? std;

  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  const toWrite = new Map<string, TensorToWrite>();
  for (const { name, shape, kind } of expectedTensors(spec)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(n);
    tensorValues(name, kind, seed, name === 'model.embed_tokens.weight' ? embeddingStd : std)(values);
    const bytes = fromF32(dtype, values);
    toWrite.set(name, { dtype, shape, data: bytes });
    // Give back exactly what a reader decodes from the stored dtype.
    const stored = dtype === 'F32' ? values : toF32(dtype, bytes);
    tensors.set(name, { shape, data: stored });
  }

  const files = new Map<string, Uint8Array | string>();
  files.set('config.json', JSON.stringify(hfConfigJson(spec, options, std), null, 2) + '\n');
  files.set(
    'generation_config.json',
    JSON.stringify({ _from_model_config: true, bos_token_id: spec.bosTokenId, eos_token_id: spec.eosTokenIds[0], transformers_version: '4.46.0' }, null, 2) + '\n',
  );
  writeWeights(files, toWrite, options.maxShardBytes);
  if (tok) for (const [k, v] of Object.entries(tok.files)) files.set(k, v);
  return { spec, files, tensors };
}

/** The checkpoint's files by name (config.json, generation_config.json, model.safetensors, tokenizer…). */
export function generateModel(options: GenerateOptions = {}): Map<string, Uint8Array | string> {
  return generateModelWithTensors(options).files;
}

const MODEL_TYPES: Record<Architecture, { arch: string; modelType: string }> = {
  llama: { arch: 'LlamaForCausalLM', modelType: 'llama' },
  mistral: { arch: 'MistralForCausalLM', modelType: 'mistral' },
  qwen2: { arch: 'Qwen2ForCausalLM', modelType: 'qwen2' },
  qwen3: { arch: 'Qwen3ForCausalLM', modelType: 'qwen3' },
};

/** config.json with the fields transformers writes for each architecture (keys sorted, as HF does). */
function hfConfigJson(spec: ModelSpec, options: GenerateOptions, std: number): Record<string, unknown> {
  const { arch, modelType } = MODEL_TYPES[spec.architecture];
  const c: Record<string, unknown> = {
    architectures: [arch],
    attention_dropout: 0.0,
    bos_token_id: spec.bosTokenId,
    eos_token_id: spec.eosTokenIds[0],
    hidden_act: 'silu',
    hidden_size: spec.hiddenSize,
    initializer_range: std,
    intermediate_size: spec.intermediateSize,
    max_position_embeddings: spec.maxPositionEmbeddings,
    model_type: modelType,
    num_attention_heads: spec.numHeads,
    num_hidden_layers: spec.numLayers,
    num_key_value_heads: spec.numKvHeads,
    rms_norm_eps: spec.rmsNormEps,
    rope_theta: spec.ropeTheta,
    tie_word_embeddings: spec.tieWordEmbeddings,
    torch_dtype: spec.torchDtype,
    transformers_version: '4.46.0',
    use_cache: true,
    vocab_size: spec.vocabSize,
  };
  if (spec.architecture === 'llama') {
    c.attention_bias = spec.attentionBias;
    c.mlp_bias = false;
    c.pretraining_tp = 1;
    c.rope_scaling = spec.ropeScaling
      ? {
          factor: spec.ropeScaling.factor,
          high_freq_factor: spec.ropeScaling.highFreqFactor,
          low_freq_factor: spec.ropeScaling.lowFreqFactor,
          original_max_position_embeddings: spec.ropeScaling.originalMaxPositionEmbeddings,
          rope_type: 'llama3',
        }
      : null;
  } else if (spec.architecture === 'mistral') {
    c.sliding_window = null;
  } else {
    c.rope_scaling = null;
    c.sliding_window = null;
    c.use_sliding_window = false;
    c.max_window_layers = spec.numLayers;
    if (spec.architecture === 'qwen3') c.attention_bias = spec.attentionBias;
  }
  if (spec.architecture === 'qwen3' || options.headDim !== undefined || spec.headDim * spec.numHeads !== spec.hiddenSize) {
    c.head_dim = spec.headDim;
  }
  return Object.fromEntries(Object.entries(c).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** One model.safetensors, or HF-style shards with model.safetensors.index.json when maxShardBytes is set. */
function writeWeights(files: Map<string, Uint8Array | string>, tensors: Map<string, TensorToWrite>, maxShardBytes?: number): void {
  if (!maxShardBytes) {
    files.set('model.safetensors', serializeSafetensors(tensors, { format: 'pt' }));
    return;
  }
  const shards: Map<string, TensorToWrite>[] = [];
  let current = new Map<string, TensorToWrite>();
  let bytes = 0;
  for (const [name, t] of tensors) {
    if (current.size > 0 && bytes + t.data.byteLength > maxShardBytes) {
      shards.push(current);
      current = new Map();
      bytes = 0;
    }
    current.set(name, t);
    bytes += t.data.byteLength;
  }
  if (current.size) shards.push(current);
  const total = shards.length;
  const weightMap: Record<string, string> = {};
  let totalSize = 0;
  shards.forEach((shard, i) => {
    const file = `model-${String(i + 1).padStart(5, '0')}-of-${String(total).padStart(5, '0')}.safetensors`;
    files.set(file, serializeSafetensors(shard, { format: 'pt' }));
    for (const [name, t] of shard) {
      weightMap[name] = file;
      totalSize += t.data.byteLength;
    }
  });
  const sortedMap = Object.fromEntries(Object.entries(weightMap).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  files.set('model.safetensors.index.json', JSON.stringify({ metadata: { total_size: totalSize }, weight_map: sortedMap }, null, 2) + '\n');
}
