/**
 * Hugging Face config.json → EncoderConfig for the BERT-family encoders (BERT, RoBERTa,
 * XLM-RoBERTa, DistilBERT) as Transformers' BertConfig, RobertaConfig, XLMRobertaConfig and
 * DistilBertConfig read them, defaults included; and the checkpoint's tensors checked against it
 * (legacy LayerNorm gamma/beta names, checkpoints saved without the model prefix, the pre-training
 * heads a base checkpoint carries, a classification head present or not).
 *
 * Anything the engine cannot run exactly is refused with the field named: another activation than
 * GELU (erf), relative position embeddings, a hidden size that does not split into heads.
 */
import { isJsonObject, parseJsonStrict } from './json';
import { ConfigError } from './hfConfig';

export type EncoderFamily = 'bert' | 'roberta' | 'distilbert';

/** model_type values read as an encoder, and the family (tensor layout) each one has. */
export const ENCODER_MODEL_TYPES: Record<string, EncoderFamily> = {
  bert: 'bert',
  roberta: 'roberta',
  'xlm-roberta': 'roberta',
  distilbert: 'distilbert',
};

/** Transformers' problem_type values (PEFT SEQ_CLS heads). */
export type ClassificationProblem = 'single_label_classification' | 'regression' | 'multi_label_classification';
export const CLASSIFICATION_PROBLEMS: readonly ClassificationProblem[] = ['single_label_classification', 'regression', 'multi_label_classification'];

/** The task of a classification head: Transformers' problem_type and the name of each output (num_labels = labels.length). */
export interface SequenceClassificationTask {
  problemType: ClassificationProblem;
  labels: string[];
}

export interface EncoderConfig {
  family: EncoderFamily;
  /** config.json's model_type (xlm-roberta keeps its own). */
  modelType: string;
  /** The …ForSequenceClassification class this model trains as (merge writes it in `architectures`). */
  architecture: string;
  /** hidden_size (DistilBERT: dim) */
  hiddenSize: number;
  /** num_hidden_layers (DistilBERT: n_layers) */
  numLayers: number;
  /** num_attention_heads (DistilBERT: n_heads) */
  numHeads: number;
  /** intermediate_size (DistilBERT: hidden_dim) */
  intermediateSize: number;
  vocabSize: number;
  maxPositionEmbeddings: number;
  /** 0 for DistilBERT (no token-type table). */
  typeVocabSize: number;
  /** layer_norm_eps (DistilBERT: 1e-12, fixed in its code). */
  layerNormEps: number;
  padTokenId: number;
  /** hidden_dropout_prob (DistilBERT: dropout) */
  hiddenDropout: number;
  /** attention_probs_dropout_prob (DistilBERT: attention_dropout) */
  attentionDropout: number;
  /** classifier_dropout ?? hidden_dropout_prob (DistilBERT: seq_classif_dropout) */
  classifierDropout: number;
  initializerRange: number;
  /** num_labels (len(id2label) when only id2label is given; Transformers' default 2). */
  numLabels: number;
  /** Label names by id (Transformers' default LABEL_0, LABEL_1, …). */
  id2label: string[];
  /** config.problem_type, or null (Transformers then infers it from num_labels and the labels' dtype). */
  problemType: ClassificationProblem | null;
}

const DEFAULTS: Record<EncoderFamily, { eps: number; pad: number; types: number; maxPos: number }> = {
  bert: { eps: 1e-12, pad: 0, types: 2, maxPos: 512 },
  roberta: { eps: 1e-12, pad: 1, types: 2, maxPos: 512 },
  distilbert: { eps: 1e-12, pad: 0, types: 0, maxPos: 512 },
};

const ARCHITECTURES: Record<string, string> = {
  bert: 'BertForSequenceClassification',
  roberta: 'RobertaForSequenceClassification',
  'xlm-roberta': 'XLMRobertaForSequenceClassification',
  distilbert: 'DistilBertForSequenceClassification',
};

export function isEncoderModelType(modelType: unknown): boolean {
  return typeof modelType === 'string' && Object.prototype.hasOwnProperty.call(ENCODER_MODEL_TYPES, modelType);
}

/** Parses an encoder's config.json (text or parsed JSON); throws ConfigError naming the file and field. */
export function parseEncoderConfig(json: unknown, fileName = 'config.json'): EncoderConfig {
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
  const has = (k: string) => Object.prototype.hasOwnProperty.call(c, k) && c[k] !== undefined && c[k] !== null;
  const modelType = c.model_type;
  if (!isEncoderModelType(modelType)) return fail('model_type', `${JSON.stringify(modelType)} is not an encoder (supported: ${Object.keys(ENCODER_MODEL_TYPES).join(', ')})`);
  const family = ENCODER_MODEL_TYPES[modelType as string];
  const d = DEFAULTS[family];
  const distil = family === 'distilbert';
  /** The field as this family spells it (DistilBERT's own names first, then the common alias). */
  const key = (common: string, distilName: string) => (distil && has(distilName) ? distilName : common);
  const posInt = (k: string, fallback?: number): number => {
    if (!has(k)) {
      if (fallback !== undefined) return fallback;
      return fail(k, 'missing (a positive integer is required)');
    }
    const v = c[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) return fail(k, `${JSON.stringify(v)} is not a positive integer`);
    return v;
  };
  const nonNegInt = (k: string, fallback: number): number => {
    if (!has(k)) return fallback;
    const v = c[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) return fail(k, `${JSON.stringify(v)} is not a non-negative integer`);
    return v;
  };
  const prob = (k: string, fallback: number): number => {
    if (!has(k)) return fallback;
    const v = c[k];
    if (typeof v !== 'number' || !(v >= 0 && v < 1)) return fail(k, `${JSON.stringify(v)} is not a probability in [0, 1)`);
    return v;
  };
  const posNum = (k: string, fallback: number): number => {
    if (!has(k)) return fallback;
    const v = c[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) return fail(k, `${JSON.stringify(v)} is not a positive number`);
    return v;
  };

  const hiddenSize = posInt(key('hidden_size', 'dim'), distil ? 768 : undefined);
  const numLayers = posInt(key('num_hidden_layers', 'n_layers'), distil ? 6 : undefined);
  const numHeads = posInt(key('num_attention_heads', 'n_heads'), distil ? 12 : undefined);
  if (hiddenSize % numHeads !== 0) fail(key('num_attention_heads', 'n_heads'), `hidden size ${hiddenSize} is not a multiple of ${numHeads} heads`);
  const headSize = hiddenSize / numHeads;
  if (headSize % 4 !== 0 || headSize > 256) fail(key('num_attention_heads', 'n_heads'), `head size ${headSize} is not supported (a multiple of 4, at most 256)`);
  const intermediateSize = posInt(key('intermediate_size', 'hidden_dim'), distil ? 3072 : undefined);
  const vocabSize = posInt('vocab_size', distil ? 30522 : undefined);
  const actField = distil ? 'activation' : 'hidden_act';
  const act = has(actField) ? c[actField] : 'gelu';
  if (act !== 'gelu') fail(actField, `${JSON.stringify(act)} is not supported (only "gelu", the erf form)`);
  if (has('position_embedding_type') && c.position_embedding_type !== 'absolute') {
    fail('position_embedding_type', `${JSON.stringify(c.position_embedding_type)} is not supported (only "absolute")`);
  }
  if (has('is_decoder') && c.is_decoder === true) fail('is_decoder', 'a decoder configuration is not an encoder for classification');
  const hiddenDropout = prob(key('hidden_dropout_prob', 'dropout'), 0.1);
  const attentionDropout = prob(key('attention_probs_dropout_prob', 'attention_dropout'), 0.1);
  const classifierDropout = distil ? prob('seq_classif_dropout', 0.2) : prob('classifier_dropout', hiddenDropout);

  // Labels: num_labels wins; else id2label's size; else Transformers' default of 2.
  let id2label: string[] | null = null;
  if (has('id2label')) {
    const m = c.id2label;
    if (!isJsonObject(m)) return fail('id2label', 'is not an object of id → label name');
    const entries = Object.entries(m);
    const names: string[] = [];
    for (const [k, v] of entries) {
      const i = Number(k);
      if (!/^(0|[1-9]\d*)$/.test(k) || i >= entries.length) fail('id2label', `key ${JSON.stringify(k)} is not an id in 0..${entries.length - 1}`);
      if (typeof v !== 'string') fail('id2label', `label ${JSON.stringify(v)} of id ${k} is not a string`);
      names[i] = v as string;
    }
    id2label = names;
  }
  const numLabels = has('num_labels') ? posInt('num_labels') : (id2label?.length ?? 2);
  if (id2label && id2label.length !== numLabels) fail('id2label', `has ${id2label.length} labels but num_labels is ${numLabels}`);
  let problemType: ClassificationProblem | null = null;
  if (has('problem_type')) {
    if (!(CLASSIFICATION_PROBLEMS as readonly unknown[]).includes(c.problem_type)) fail('problem_type', `${JSON.stringify(c.problem_type)} is not one of ${CLASSIFICATION_PROBLEMS.join(', ')}`);
    problemType = c.problem_type as ClassificationProblem;
  }

  return {
    family,
    modelType: modelType as string,
    architecture: ARCHITECTURES[modelType as string],
    hiddenSize,
    numLayers,
    numHeads,
    intermediateSize,
    vocabSize,
    maxPositionEmbeddings: posInt('max_position_embeddings', d.maxPos),
    typeVocabSize: distil ? 0 : nonNegInt('type_vocab_size', d.types),
    layerNormEps: distil ? 1e-12 : posNum('layer_norm_eps', d.eps),
    padTokenId: nonNegInt('pad_token_id', d.pad),
    hiddenDropout,
    attentionDropout,
    classifierDropout,
    initializerRange: posNum('initializer_range', 0.02),
    numLabels,
    id2label: id2label ?? Array.from({ length: numLabels }, (_, i) => `LABEL_${i}`),
    problemType,
  };
}

// ---------------------------------------------------------------- tensor names

/** The projections of a layer LoRA may adapt, by role, in the adapter layout's order. */
export const ENCODER_MODULES = ['query', 'key', 'value', 'attention.output', 'intermediate', 'output'] as const;
export type EncoderModule = (typeof ENCODER_MODULES)[number];

/** Module path of each role inside a layer, as Transformers names it. */
export const ENCODER_MODULE_PATHS: Record<EncoderFamily, Record<EncoderModule, string>> = {
  bert: {
    query: 'attention.self.query', key: 'attention.self.key', value: 'attention.self.value',
    'attention.output': 'attention.output.dense', intermediate: 'intermediate.dense', output: 'output.dense',
  },
  roberta: {
    query: 'attention.self.query', key: 'attention.self.key', value: 'attention.self.value',
    'attention.output': 'attention.output.dense', intermediate: 'intermediate.dense', output: 'output.dense',
  },
  distilbert: {
    query: 'attention.q_lin', key: 'attention.k_lin', value: 'attention.v_lin',
    'attention.output': 'attention.out_lin', intermediate: 'ffn.lin1', output: 'ffn.lin2',
  },
};

/** `bert.encoder.layer.{i}` / `roberta.encoder.layer.{i}` / `distilbert.transformer.layer.{i}` */
export function encoderLayerPrefix(family: EncoderFamily, layer: number): string {
  return family === 'distilbert' ? `distilbert.transformer.layer.${layer}` : `${family}.encoder.layer.${layer}`;
}

/** Full module path of a projection, e.g. `bert.encoder.layer.0.attention.self.query`. */
export function encoderModulePath(family: EncoderFamily, layer: number, module: EncoderModule): string {
  return `${encoderLayerPrefix(family, layer)}.${ENCODER_MODULE_PATHS[family][module]}`;
}

/** The two LayerNorms of a layer: after attention, after the FFN. */
export function encoderLayerNormNames(family: EncoderFamily, layer: number): [string, string] {
  const pre = encoderLayerPrefix(family, layer);
  return family === 'distilbert' ? [`${pre}.sa_layer_norm`, `${pre}.output_layer_norm`] : [`${pre}.attention.output.LayerNorm`, `${pre}.output.LayerNorm`];
}

/** Linear modules of each family's classification head, in forward order. */
export const ENCODER_HEAD_MODULES: Record<EncoderFamily, [string, string]> = {
  bert: ['bert.pooler.dense', 'classifier'],
  roberta: ['classifier.dense', 'classifier.out_proj'],
  distilbert: ['pre_classifier', 'classifier'],
};

/**
 * What PEFT SEQ_CLS writes as modules_to_save (peft_model.py, PeftModelForSequenceClassification:
 * ["classifier", "score"] appended to the user's list), matched against module names by suffix.
 */
export const SEQ_CLS_MODULES_TO_SAVE = ['classifier', 'score'] as const;

/** Whether PEFT's modules_to_save matching (name == m or name ends with m, per dotted path) trains `module`. */
function matchesModulesToSave(module: string, modulesToSave: readonly string[]): boolean {
  // PEFT wraps the first module on the path whose name ends with an entry; that wrapper trains everything inside it.
  const parts = module.split('.');
  for (let i = 1; i <= parts.length; i++) {
    const name = parts.slice(0, i).join('.');
    if (modulesToSave.some((m) => name === m || name.endsWith(m))) return true;
  }
  return false;
}

/** Head modules PEFT trains in full for these modules_to_save (BERT: classifier; RoBERTa: both; DistilBERT: both). */
export function trainedHeadModules(family: EncoderFamily, modulesToSave: readonly string[] = SEQ_CLS_MODULES_TO_SAVE): string[] {
  return ENCODER_HEAD_MODULES[family].filter((m) => matchesModulesToSave(m, modulesToSave));
}

/** Every tensor an encoder for sequence classification needs, with its shape (head modules separately). */
export function expectedEncoderTensors(cfg: EncoderConfig): { name: string; shape: number[] }[] {
  const { family } = cfg;
  const C = cfg.hiddenSize;
  const emb = `${family}.embeddings`;
  const out: { name: string; shape: number[] }[] = [
    { name: `${emb}.word_embeddings.weight`, shape: [cfg.vocabSize, C] },
    { name: `${emb}.position_embeddings.weight`, shape: [cfg.maxPositionEmbeddings, C] },
  ];
  if (cfg.typeVocabSize > 0) out.push({ name: `${emb}.token_type_embeddings.weight`, shape: [cfg.typeVocabSize, C] });
  out.push({ name: `${emb}.LayerNorm.weight`, shape: [C] }, { name: `${emb}.LayerNorm.bias`, shape: [C] });
  for (let l = 0; l < cfg.numLayers; l++) {
    for (const m of ENCODER_MODULES) {
      const IN = m === 'output' ? cfg.intermediateSize : C;
      const OUT = m === 'intermediate' ? cfg.intermediateSize : C;
      const path = encoderModulePath(family, l, m);
      out.push({ name: `${path}.weight`, shape: [OUT, IN] }, { name: `${path}.bias`, shape: [OUT] });
    }
    for (const ln of encoderLayerNormNames(family, l)) out.push({ name: `${ln}.weight`, shape: [C] }, { name: `${ln}.bias`, shape: [C] });
  }
  return out;
}

/** Shapes of the head's tensors for `numLabels` outputs. */
export function encoderHeadTensors(cfg: Pick<EncoderConfig, 'family' | 'hiddenSize'>, numLabels: number): { name: string; module: string; shape: number[] }[] {
  const [m0, m1] = ENCODER_HEAD_MODULES[cfg.family];
  const C = cfg.hiddenSize;
  return [
    { name: `${m0}.weight`, module: m0, shape: [C, C] },
    { name: `${m0}.bias`, module: m0, shape: [C] },
    { name: `${m1}.weight`, module: m1, shape: [numLabels, C] },
    { name: `${m1}.bias`, module: m1, shape: [numLabels] },
  ];
}

/**
 * The stored name of `name`: itself; the legacy `.gamma` / `.beta` of a LayerNorm's `.weight` /
 * `.bias` (bert-base-uncased's original checkpoint); or either without the model prefix (a bare
 * BertModel checkpoint). Null when none is stored; `tried` lists what was looked for.
 */
export function findEncoderTensor(has: (name: string) => boolean, family: EncoderFamily, name: string, tried: string[] = []): string | null {
  const variants = [name];
  if (/(LayerNorm|layer_norm)\.weight$/.test(name)) variants.push(name.replace(/weight$/, 'gamma'));
  if (/(LayerNorm|layer_norm)\.bias$/.test(name)) variants.push(name.replace(/bias$/, 'beta'));
  const prefix = `${family}.`;
  for (const v of [...variants]) if (v.startsWith(prefix)) variants.push(v.slice(prefix.length));
  for (const v of variants) {
    tried.push(v);
    if (has(v)) return v;
  }
  return null;
}

const FLOAT_DTYPES = new Set(['BF16', 'F16', 'F32', 'F64']);

export interface EncoderWeightCheck {
  /** Logical name → stored name, for every tensor found (body and head). */
  names: Map<string, string>;
  problems: string[];
  /** The head as stored: all four tensors with the config's num_labels, none, or a partial / other-sized one. */
  head: 'present' | 'absent' | 'partial';
  /** Stored tensors the model does not use (pre-training heads, position_ids buffers, …). */
  ignored: string[];
}

/**
 * Checks a checkpoint's tensors against the encoder config: every body tensor present (under any
 * accepted spelling) with its shape and a float dtype; the head's state reported, not required (a
 * base checkpoint has none and gets a new one, as Transformers does).
 */
export function checkEncoderWeights(cfg: EncoderConfig, tensors: { name: string; dtype: string; shape: number[] }[]): EncoderWeightCheck {
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const names = new Map<string, string>();
  const problems: string[] = [];
  const check = (name: string, shape: number[], required: boolean): boolean => {
    const tried: string[] = [];
    const stored = findEncoderTensor((n) => byName.has(n), cfg.family, name, tried);
    if (!stored) {
      if (required) problems.push(`missing tensor "${name}" (expected ${JSON.stringify(shape)}; looked for ${tried.map((t) => `"${t}"`).join(', ')})`);
      return false;
    }
    const t = byName.get(stored)!;
    if (t.shape.length !== shape.length || t.shape.some((x, i) => x !== shape[i])) {
      if (required) problems.push(`tensor "${stored}" has shape ${JSON.stringify(t.shape)}, expected ${JSON.stringify(shape)}`);
      return false;
    }
    if (!FLOAT_DTYPES.has(t.dtype)) {
      problems.push(`tensor "${stored}" has dtype ${t.dtype}, expected BF16, F16, F32 or F64`);
      return false;
    }
    names.set(name, stored);
    return true;
  };
  for (const e of expectedEncoderTensors(cfg)) check(e.name, e.shape, true);
  const head = encoderHeadTensors(cfg, cfg.numLabels);
  const found = head.map((h) => check(h.name, h.shape, false));
  const headState = found.every(Boolean) ? 'present' : found.some(Boolean) ? 'partial' : 'absent';
  // BERT's pooler is part of the base model: keep it whenever it is stored, even without a classifier.
  if (cfg.family === 'bert' && headState !== 'present') {
    for (const h of head.slice(0, 2)) if (!names.has(h.name)) check(h.name, h.shape, false);
  }
  const used = new Set(names.values());
  const ignored = tensors.map((t) => t.name).filter((n) => !used.has(n));
  return { names, problems, head: headState, ignored };
}

// ---------------------------------------------------------------- the labels' config.json

/**
 * config.json of the …ForSequenceClassification model an adapter (or a merged folder) makes: the
 * base's config.json with architectures, id2label, label2id and problem_type of the task, written
 * as Transformers' PretrainedConfig.to_json_file writes them (sorted keys, 2 spaces).
 */
export function sequenceClassificationConfig(
  base: Record<string, unknown>,
  cfg: Pick<EncoderConfig, 'architecture' | 'modelType'>,
  task: SequenceClassificationTask,
): string {
  const out: Record<string, unknown> = { ...base };
  delete out.num_labels; // derived from id2label, as Transformers saves it
  out.architectures = [cfg.architecture];
  out.model_type = base.model_type ?? cfg.modelType;
  out.id2label = Object.fromEntries(task.labels.map((l, i) => [String(i), l]));
  out.label2id = Object.fromEntries(task.labels.map((l, i) => [l, i]));
  out.problem_type = task.problemType;
  const sorted = Object.fromEntries(Object.keys(out).sort().map((k) => [k, out[k]]));
  return JSON.stringify(sorted, null, 2) + '\n';
}

/** The task a config.json records (id2label and problem_type); null when it records none. */
export function labelsFromConfig(text: string, file = 'config.json'): SequenceClassificationTask | null {
  let json: unknown;
  try {
    json = parseJsonStrict(text, file);
  } catch (e) {
    throw new ConfigError(file, null, (e as Error).message);
  }
  if (!isJsonObject(json)) throw new ConfigError(file, null, 'must be a JSON object');
  if (json.id2label === undefined && json.num_labels === undefined) return null;
  const cfg = parseEncoderConfig({ model_type: 'bert', hidden_size: 4, num_hidden_layers: 1, num_attention_heads: 1, intermediate_size: 4, vocab_size: 1, ...pick(json, ['id2label', 'num_labels', 'problem_type']) }, file);
  return { problemType: cfg.problemType ?? (cfg.numLabels === 1 ? 'regression' : 'single_label_classification'), labels: cfg.id2label };
}

function pick(o: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
}
