/**
 * Hugging Face config.json → ModelSpec for the Llama family (llama, mistral, qwen2, qwen3).
 * Defaults follow the transformers config classes; anything the engine cannot run exactly
 * (another architecture, another activation, MLP biases, another rope scaling) is refused.
 */
import { isJsonObject, parseJsonStrict } from './json';
import { TARGET_MODULES, type TargetModule } from '../settings/settings';

export type Architecture = 'llama' | 'mistral' | 'qwen2' | 'qwen3';
export const ARCHITECTURES: readonly Architecture[] = ['llama', 'mistral', 'qwen2', 'qwen3'];

export interface RopeScaling {
  type: 'llama3';
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositionEmbeddings: number;
}

export interface ModelSpec {
  architecture: Architecture;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  intermediateSize: number;
  vocabSize: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling | null;
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  attentionBias: boolean; // q/k/v biases (qwen2)
  qkNorm: boolean; // per-head RMSNorm on q and k (qwen3)
  bosTokenId: number | null;
  eosTokenIds: number[];
  padTokenId: number | null;
  torchDtype: string;
}

/** The Llama family's linear layers LoRA may wrap: the settings' target names are theirs. */
export const LORA_TARGETS = TARGET_MODULES;
export type LoraTarget = TargetModule;

export function isLoraTarget(x: unknown): x is LoraTarget {
  return typeof x === 'string' && (LORA_TARGETS as readonly string[]).includes(x);
}

/** Input and output features of the linear layer a LoRA target wraps (W is [out, in]). */
export function moduleShape(spec: ModelSpec, target: LoraTarget): { in: number; out: number } {
  const q = spec.numHeads * spec.headDim;
  const kv = spec.numKvHeads * spec.headDim;
  switch (target) {
    case 'q_proj':
      return { in: spec.hiddenSize, out: q };
    case 'k_proj':
    case 'v_proj':
      return { in: spec.hiddenSize, out: kv };
    case 'o_proj':
      return { in: q, out: spec.hiddenSize };
    case 'gate_proj':
    case 'up_proj':
      return { in: spec.hiddenSize, out: spec.intermediateSize };
    case 'down_proj':
      return { in: spec.intermediateSize, out: spec.hiddenSize };
  }
}

/** Whether a target sits in self_attn or mlp (its module path in HF and PEFT names). */
export function moduleGroup(target: LoraTarget): 'self_attn' | 'mlp' {
  return target === 'gate_proj' || target === 'up_proj' || target === 'down_proj' ? 'mlp' : 'self_attn';
}

/** The module's path in the model ("model.layers.3.self_attn.q_proj"): PEFT keys and weight names derive from it. */
export function modulePath(layer: number, target: LoraTarget): string {
  return `model.layers.${layer}.${moduleGroup(target)}.${target}`;
}

/** Hugging Face name of the frozen weight of a target module. */
export function moduleWeightName(layer: number, target: LoraTarget): string {
  return `${modulePath(layer, target)}.weight`;
}

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly field: string | null,
    readonly detail: string,
  ) {
    super(`ConfigError: ${file}${field ? `: field "${field}"` : ''}: ${detail}`);
    this.name = 'ConfigError';
  }
}

const DEFAULTS: Record<Architecture, { rmsNormEps: number; ropeTheta: number; maxPos: number }> = {
  llama: { rmsNormEps: 1e-6, ropeTheta: 10000, maxPos: 2048 },
  mistral: { rmsNormEps: 1e-6, ropeTheta: 10000, maxPos: 4096 * 32 },
  qwen2: { rmsNormEps: 1e-6, ropeTheta: 10000, maxPos: 32768 },
  qwen3: { rmsNormEps: 1e-6, ropeTheta: 10000, maxPos: 32768 },
};

/** Parses config.json (text or already-parsed JSON) into a ModelSpec; throws ConfigError naming the file and field. */
export function parseHfConfig(json: unknown, fileName = 'config.json'): ModelSpec {
  if (typeof json === 'string') {
    try {
      json = parseJsonStrict(json, fileName);
    } catch (e) {
      throw new ConfigError(fileName, null, (e as Error).message);
    }
  }
  const fail = (field: string | null, detail: string): never => {
    throw new ConfigError(fileName, field, detail);
  };
  if (!isJsonObject(json)) return fail(null, 'config.json must be a JSON object');
  const c = json as Record<string, unknown>;
  const has = (k: string) => Object.prototype.hasOwnProperty.call(c, k) && c[k] !== undefined;

  const modelType = c.model_type;
  if (typeof modelType !== 'string') return fail('model_type', `missing or not a string (supported: ${ARCHITECTURES.join(', ')})`);
  if (!(ARCHITECTURES as readonly string[]).includes(modelType)) {
    return fail('model_type', `architecture "${modelType}" is not supported (supported: ${ARCHITECTURES.join(', ')})`);
  }
  const architecture = modelType as Architecture;
  const defaults = DEFAULTS[architecture];

  const posInt = (k: string, fallback?: number): number => {
    if (!has(k) || c[k] === null) {
      if (fallback !== undefined) return fallback;
      return fail(k, 'missing (a positive integer is required)');
    }
    const v = c[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) return fail(k, `${JSON.stringify(v)} is not a positive integer`);
    return v;
  };
  const posNum = (k: string, fallback: number): number => {
    if (!has(k) || c[k] === null) return fallback;
    const v = c[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) return fail(k, `${JSON.stringify(v)} is not a positive number`);
    return v;
  };
  const bool = (k: string, fallback: boolean): boolean => {
    if (!has(k) || c[k] === null) return fallback;
    if (typeof c[k] !== 'boolean') return fail(k, `${JSON.stringify(c[k])} is not true or false`);
    return c[k] as boolean;
  };
  const tokenId = (k: string): number | null => {
    if (!has(k) || c[k] === null) return null;
    const v = c[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) return fail(k, `${JSON.stringify(v)} is not a token id`);
    return v;
  };

  const hiddenSize = posInt('hidden_size');
  const numLayers = posInt('num_hidden_layers');
  const numHeads = posInt('num_attention_heads');
  const numKvHeads = posInt('num_key_value_heads', numHeads);
  if (numHeads % numKvHeads !== 0) {
    fail('num_key_value_heads', `${numKvHeads} does not divide num_attention_heads ${numHeads}`);
  }
  let headDim: number;
  if (has('head_dim') && c.head_dim !== null) headDim = posInt('head_dim');
  else {
    if (hiddenSize % numHeads !== 0) fail('head_dim', `missing, and hidden_size ${hiddenSize} is not divisible by num_attention_heads ${numHeads}`);
    headDim = hiddenSize / numHeads;
  }
  if (headDim % 2 !== 0) fail('head_dim', `${headDim} is odd; rotary embeddings need an even head size`);
  const intermediateSize = posInt('intermediate_size');
  const vocabSize = posInt('vocab_size');

  const act = has('hidden_act') ? c.hidden_act : 'silu';
  if (act !== 'silu') fail('hidden_act', `${JSON.stringify(act)} is not supported (only "silu")`);
  if (bool('mlp_bias', false)) fail('mlp_bias', 'MLP biases are not supported');

  let attentionBias: boolean;
  if (architecture === 'qwen2') attentionBias = true;
  else if (architecture === 'mistral') attentionBias = false;
  else attentionBias = bool('attention_bias', false);

  let ropeScaling: RopeScaling | null = null;
  if (has('rope_scaling') && c.rope_scaling !== null) {
    const rs = c.rope_scaling;
    if (!isJsonObject(rs)) return fail('rope_scaling', 'must be an object or null');
    const kind = rs.rope_type ?? rs.type;
    if (kind === 'default') ropeScaling = null;
    else if (kind !== 'llama3') return fail('rope_scaling', `rope type ${JSON.stringify(kind)} is not supported (only "llama3" and "default")`);
    else {
      const num = (k: string): number => {
        const v = rs[k];
        if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) return fail(`rope_scaling.${k}`, `${JSON.stringify(v)} is not a positive number`);
        return v;
      };
      ropeScaling = {
        type: 'llama3',
        factor: num('factor'),
        lowFreqFactor: num('low_freq_factor'),
        highFreqFactor: num('high_freq_factor'),
        originalMaxPositionEmbeddings: num('original_max_position_embeddings'),
      };
      if (ropeScaling.highFreqFactor <= ropeScaling.lowFreqFactor) {
        fail('rope_scaling.high_freq_factor', `must be above low_freq_factor (${ropeScaling.lowFreqFactor})`);
      }
    }
  }

  let eosTokenIds: number[] = [];
  if (has('eos_token_id') && c.eos_token_id !== null) {
    const e = c.eos_token_id;
    const list = Array.isArray(e) ? e : [e];
    for (const v of list) {
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail('eos_token_id', `${JSON.stringify(e)} is not a token id or list of token ids`);
    }
    eosTokenIds = list as number[];
  }
  for (const [field, ids] of [['eos_token_id', eosTokenIds], ['bos_token_id', [tokenId('bos_token_id')]], ['pad_token_id', [tokenId('pad_token_id')]]] as const) {
    for (const id of ids) {
      if (id !== null && id >= vocabSize) fail(field, `${id} is outside the vocabulary of ${vocabSize} tokens (vocab_size): generation and padding would read past the embedding table`);
    }
  }
  const dtypeField = has('torch_dtype') ? 'torch_dtype' : 'dtype';
  const torchDtype = has(dtypeField) && c[dtypeField] !== null ? c[dtypeField] : 'float32';
  if (typeof torchDtype !== 'string') fail(dtypeField, `${JSON.stringify(torchDtype)} is not a string`);

  return {
    architecture,
    hiddenSize,
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    intermediateSize,
    vocabSize,
    rmsNormEps: posNum('rms_norm_eps', defaults.rmsNormEps),
    ropeTheta: posNum('rope_theta', defaults.ropeTheta),
    ropeScaling,
    maxPositionEmbeddings: posInt('max_position_embeddings', defaults.maxPos),
    tieWordEmbeddings: bool('tie_word_embeddings', false),
    attentionBias,
    qkNorm: architecture === 'qwen3',
    bosTokenId: tokenId('bos_token_id'),
    eosTokenIds,
    padTokenId: tokenId('pad_token_id'),
    torchDtype: torchDtype as string,
  };
}

/**
 * The token that fills empty positions of a batch: the tokenizer's pad token, else config.json's,
 * else the first EOS (what HF recipes set pad_token to), else 0. Padded positions are never
 * trained and are masked out of attention, so only its being in the vocabulary matters.
 */
export function padTokenId(spec: ModelSpec, tokenizerPad: number | null | undefined): number {
  return tokenizerPad ?? spec.padTokenId ?? spec.eosTokenIds[0] ?? 0;
}

/** The tokens that end generation: config.json's, else the tokenizer's EOS. */
export function eosTokenIds(spec: ModelSpec, tokenizerEos: number | null | undefined): number[] {
  return spec.eosTokenIds.length ? spec.eosTokenIds : tokenizerEos != null ? [tokenizerEos] : [];
}
