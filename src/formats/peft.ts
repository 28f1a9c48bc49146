/**
 * PEFT LoRA adapter folders, exactly as `PeftModel.save_pretrained` writes them and
 * `PeftModel.from_pretrained(base, dir)` loads them (DESIGN.md §4):
 *
 *   adapter_model.safetensors  F32, __metadata__ {"format":"pt"}, keys without an adapter name:
 *     base_model.model.model.layers.{i}.self_attn.{q,k,v,o}_proj.lora_A.weight  [r, in]
 *     base_model.model.model.layers.{i}.self_attn.{q,k,v,o}_proj.lora_B.weight  [out, r]
 *     base_model.model.model.layers.{i}.mlp.{gate,up,down}_proj.lora_{A,B}.weight
 *   adapter_config.json        the fields below and no others (PEFT < 0.14 fails on unknown keys)
 *
 * Sequence classification (task_type SEQ_CLS, a BERT-family encoder): LoRA keys under the
 * encoder's own module paths (base_model.model.bert.encoder.layer.{i}.attention.self.query.lora_A.weight,
 * …distilbert.transformer.layer.{i}.attention.q_lin…), target_modules in the family's own names
 * (query, value; q_lin, v_lin), and the head trained in full under PEFT's modules_to_save key names
 * (peft/utils/save_and_load.py, get_peft_model_state_dict: the ModulesToSaveWrapper's keys with
 * "modules_to_save.default." removed, i.e. base_model.model.classifier.weight), with
 * "modules_to_save": ["classifier", "score"] as PeftModelForSequenceClassification records it.
 *
 * PEFT loads with strict=False, so a misnamed key only warns and the adapter silently does nothing
 * (B starts at zero). The reader here therefore treats every missing or unexpected key as an error.
 */
import type { ByteSource } from './byteSource';
import { LORA_TARGETS, type LoraTarget, type ModelSpec, isLoraTarget, moduleGroup, modulePath, moduleShape } from './hfConfig';
import {
  ENCODER_HEAD_MODULES, ENCODER_MODULE_PATHS, SEQ_CLS_MODULES_TO_SAVE, encoderHeadTensors, encoderLayerPrefix, labelsFromConfig, trainedHeadModules,
  type EncoderConfig, type EncoderFamily, type EncoderModule, type SequenceClassificationTask,
} from './encoderConfig';
import { isJsonObject, parseJsonStrict } from './json';
import { openSafetensors, serializeSafetensors, type TensorToWrite } from './safetensors';

export type TaskType = 'CAUSAL_LM' | 'SEQ_CLS';

export interface LoraConfig {
  /** CAUSAL_LM (a Llama-family decoder) or SEQ_CLS (an encoder with a classification head). */
  taskType: TaskType;
  /** PEFT modules_to_save: null for CAUSAL_LM, ["classifier", "score"] for SEQ_CLS. */
  modulesToSave: string[] | null;
  r: number;
  alpha: number;
  dropout: number;
  targetModules: LoraTarget[];
  useRslora: boolean;
  /** Layers that carry adapters (PEFT's layers_to_transform); null = all layers. */
  layers: number[] | null;
  baseModelNameOrPath: string;
  revision: string | null;
  /** PEFT rank_pattern / alpha_pattern: pattern → value, matched as PEFT matches them. */
  rankPattern: Record<string, number>;
  alphaPattern: Record<string, number>;
}

export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';
export const ADAPTER_CONFIG_FILE = 'adapter_config.json';

export class AdapterError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`AdapterError: ${file}: ${problems.length === 1 ? problems[0] : `${problems.length} problems:\n  - ${problems.join('\n  - ')}`}`);
    this.name = 'AdapterError';
  }
}

/** The model an adapter belongs to: a Llama-family decoder, or an encoder whose head has `numLabels` outputs. */
export type AdapterBase = ModelSpec | EncoderConfig;

function isEncoder(b: AdapterBase | null | undefined): b is EncoderConfig {
  return !!b && 'family' in b;
}

/** The safetensors key PEFT uses for a LoRA matrix (of a Llama-family model). */
export function peftKey(layer: number, target: LoraTarget, which: 'A' | 'B'): string {
  return `base_model.model.${modulePath(layer, target)}.lora_${which}.weight`;
}

/** The module name PEFT matches target_modules, rank_pattern and alpha_pattern against (Llama family). */
export const moduleName = modulePath;

// ---------------------------------------------------------------- families: module names and keys

/** The settings' target names → an encoder's roles (q_proj → query …; an encoder's MLP has no gate). */
export const ENCODER_ROLE: Record<LoraTarget, EncoderModule | null> = {
  q_proj: 'query', k_proj: 'key', v_proj: 'value', o_proj: 'attention.output', gate_proj: null, up_proj: 'intermediate', down_proj: 'output',
};

/** How one family names and shapes its adaptable modules (the one thing the validator needs of a model). */
interface Scheme {
  taskType: TaskType;
  /** For messages: "a Llama-family model", "a bert encoder". */
  what: string;
  targets: readonly LoraTarget[];
  numLayers: number | null;
  /** Module path of a target in a layer: PEFT keys and pattern matching use it. */
  path(layer: number, t: LoraTarget): string;
  shape(t: LoraTarget): { in: number; out: number } | null;
  /** A LoRA key → its layer, target and matrix; a string explains why it is not one of this family; null: not a LoRA key at all. */
  parseKey(name: string): { layer: number; target: LoraTarget; which: 'A' | 'B' } | string | null;
  /** target_modules as adapter_config.json writes it for these targets (the family's own names). */
  targetModules(targets: readonly LoraTarget[]): string[] | string;
}

const LLAMA_KEY = /^base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\.(\w+)\.lora_(A|B)\.weight$/;

function llamaScheme(spec: ModelSpec | null): Scheme {
  return {
    taskType: 'CAUSAL_LM',
    what: 'a Llama-family model',
    targets: LORA_TARGETS,
    numLayers: spec?.numLayers ?? null,
    path: modulePath,
    shape: (t) => (spec ? moduleShape(spec, t) : null),
    parseKey(name) {
      const m = LLAMA_KEY.exec(name);
      if (!m) return null;
      const [, layer, group, target, which] = m;
      if (!isLoraTarget(target)) return `"${target}" is not one of ${LORA_TARGETS.join(', ')}`;
      if (moduleGroup(target) !== group) return `${target} lives under ${moduleGroup(target)}, not ${group}`;
      return { layer: Number(layer), target, which: which as 'A' | 'B' };
    },
    targetModules: (targets) => LORA_TARGETS.filter((t) => targets.includes(t)),
  };
}

function encoderScheme(family: EncoderFamily, cfg: EncoderConfig | null): Scheme {
  const paths = ENCODER_MODULE_PATHS[family];
  const targets = LORA_TARGETS.filter((t) => ENCODER_ROLE[t] !== null);
  const inner = targets.map((t) => paths[ENCODER_ROLE[t]!].replace(/\./g, '\\.')).join('|');
  const prefix = encoderLayerPrefix(family, 0).replace(/0$/, '').replace(/\./g, '\\.');
  const key = new RegExp(`^base_model\\.model\\.${prefix}(\\d+)\\.(${inner})\\.lora_(A|B)\\.weight$`);
  const byInner = new Map(targets.map((t) => [paths[ENCODER_ROLE[t]!], t]));
  const path = (layer: number, t: LoraTarget) => {
    const role = ENCODER_ROLE[t];
    if (!role) throw new AdapterError(ADAPTER_CONFIG_FILE, [`an encoder has no ${t} module`]);
    return `${encoderLayerPrefix(family, layer)}.${paths[role]}`;
  };
  return {
    taskType: 'SEQ_CLS',
    what: `a ${family} encoder`,
    targets,
    numLayers: cfg?.numLayers ?? null,
    path,
    shape: (t) => {
      if (!cfg) return null;
      const role = ENCODER_ROLE[t];
      const C = cfg.hiddenSize;
      return { in: role === 'output' ? cfg.intermediateSize : C, out: role === 'intermediate' ? cfg.intermediateSize : C };
    },
    parseKey(name) {
      const m = key.exec(name);
      if (!m) return null;
      return { layer: Number(m[1]), target: byInner.get(m[2])!, which: m[3] as 'A' | 'B' };
    },
    targetModules(chosen) {
      // PEFT matches a list entry against a module name by equality or a ".entry" suffix: the shortest
      // suffix that names exactly the chosen modules, else (BERT's output.dense without
      // attention.output.dense) a pattern PEFT fully matches.
      const picked = targets.filter((t) => chosen.includes(t));
      // Every linear module a suffix could hit: the layer's projections and the head's (BERT's pooler.dense, RoBERTa's classifier.dense).
      const all = [...targets.map((t) => path(0, t)), ...ENCODER_HEAD_MODULES[family]];
      const names: string[] = [];
      for (const t of picked) {
        const full = path(0, t).split('.');
        let found: string | null = null;
        for (let k = 1; k <= full.length && !found; k++) {
          const suffix = full.slice(-k).join('.');
          const hits = all.filter((n) => n === suffix || n.endsWith(`.${suffix}`));
          if (hits.every((h) => picked.some((p) => path(0, p) === h))) found = suffix;
        }
        if (!found || /\.\d+\./.test(`.${found}`)) {
          const alternatives = picked.map((p) => paths[ENCODER_ROLE[p]!].replace(/\./g, '\\.')).join('|');
          return `(.*\\.)?${prefix}\\d+\\.(${alternatives})`;
        }
        if (!names.includes(found)) names.push(found);
      }
      return names;
    },
  };
}

function schemeOf(base: AdapterBase): Scheme {
  return isEncoder(base) ? encoderScheme(base.family, base) : llamaScheme(base);
}

/** target_modules as adapter_config.json writes them for these targets on this model (an encoder: its own module names, or a pattern). */
export function peftTargetModules(base: AdapterBase, targets: readonly LoraTarget[]): string[] | string {
  return schemeOf(base).targetModules(targets);
}

/** PEFT's key of a tensor trained in full (modules_to_save, saved without "modules_to_save.default."). */
export function modulesToSaveKey(name: string): string {
  return `base_model.model.${name}`;
}

/** The head tensors a SEQ_CLS adapter of this encoder holds (modules_to_save), with their shapes. */
export function expectedHeadTensors(cfg: EncoderConfig, modulesToSave: readonly string[] = SEQ_CLS_MODULES_TO_SAVE): { key: string; name: string; shape: number[] }[] {
  const trained = new Set(trainedHeadModules(cfg.family, modulesToSave));
  return encoderHeadTensors(cfg, cfg.numLabels).filter((t) => trained.has(t.module)).map((t) => ({ key: modulesToSaveKey(t.name), name: t.name, shape: t.shape }));
}

// ---------------------------------------------------------------- patterns

/** PEFT's get_pattern_key: the first pattern p with re.match(rf"(.*\.)?({p})$", name). */
function patternValue(patterns: Record<string, number>, name: string): number | undefined {
  for (const [p, v] of Object.entries(patterns)) {
    if (unsafePatternReason(p)) continue; // refused when the config is read or written
    const re = new RegExp(`^(.*\\.)?(${p})$`);
    if (re.test(name)) return v;
  }
  return undefined;
}

/**
 * Patterns come from untrusted files and run as JS regular expressions: refuse the ones that can
 * backtrack exponentially (a quantified group that itself holds a quantifier, e.g. "(a+)+") and
 * very long ones, so a hostile adapter_config.json cannot hang the reader.
 */
export function unsafePatternReason(p: string): string | null {
  if (p.length > 256) return 'is longer than 256 characters';
  if (/\([^()]*[*+?}][^()]*\)\s*[*+{]/.test(p)) return 'nests quantifiers (catastrophic backtracking)';
  try {
    new RegExp(p);
  } catch {
    return 'is not a valid pattern';
  }
  return null;
}

function rankIn(config: LoraConfig, name: string): number {
  return patternValue(config.rankPattern, name) ?? config.r;
}

/** The rank of a Llama-family module (rank_pattern applied). */
export function rankOf(config: LoraConfig, layer: number, target: LoraTarget): number {
  return rankIn(config, moduleName(layer, target));
}

export function alphaOf(config: LoraConfig, layer: number, target: LoraTarget): number {
  return patternValue(config.alphaPattern, moduleName(layer, target)) ?? config.alpha;
}

/** The LoRA scale s of one Llama-family module: alpha/r, or alpha/√r with rsLoRA. */
export function loraScale(config: LoraConfig, layer: number, target: LoraTarget): number {
  return loraScaleAt(config, moduleName(layer, target));
}

/** The LoRA scale s of the module at `path` (any family: rank_pattern and alpha_pattern match the path as PEFT matches them). */
export function loraScaleAt(config: LoraConfig, path: string): number {
  const r = rankIn(config, path);
  const a = patternValue(config.alphaPattern, path) ?? config.alpha;
  return config.useRslora ? a / Math.sqrt(r) : a / r;
}

export interface ExpectedLoraTensor {
  key: string;
  layer: number;
  target: LoraTarget;
  /** The adapted module's path in the model, e.g. `model.layers.0.self_attn.q_proj` or `bert.encoder.layer.0.attention.self.query` (its weight is `{module}.weight`). */
  module: string;
  which: 'A' | 'B';
  shape: [number, number];
}

/** Every LoRA key and shape an adapter with this config holds for this model. */
export function expectedAdapterTensors(base: AdapterBase, config: LoraConfig): ExpectedLoraTensor[] {
  const scheme = schemeOf(base);
  const out: ExpectedLoraTensor[] = [];
  const layers = config.layers ?? Array.from({ length: scheme.numLayers! }, (_, i) => i);
  for (const layer of layers) {
    for (const target of scheme.targets) {
      if (!config.targetModules.includes(target)) continue;
      const { in: fin, out: fout } = scheme.shape(target)!;
      const path = scheme.path(layer, target);
      const r = rankIn(config, path);
      out.push({ key: `base_model.model.${path}.lora_A.weight`, layer, target, module: path, which: 'A', shape: [r, fin] });
      out.push({ key: `base_model.model.${path}.lora_B.weight`, layer, target, module: path, which: 'B', shape: [fout, r] });
    }
  }
  return out;
}

/** Layers assumed when a config is checked without a model (pattern matching only). */
const LAYERS_WITHOUT_MODEL = 512;

function checkConfigAgainstSpec(base: AdapterBase | null, config: LoraConfig, scheme: Scheme | null): string[] {
  const problems: string[] = [];
  if (!Number.isSafeInteger(config.r) || config.r <= 0) problems.push(`r ${config.r} is not a positive integer`);
  if (!Number.isFinite(config.alpha)) problems.push(`lora_alpha ${config.alpha} is not a number`);
  if (!(config.dropout >= 0 && config.dropout < 1)) problems.push(`lora_dropout ${config.dropout} is not in [0, 1)`);
  if (config.targetModules.length === 0) problems.push('target_modules is empty');
  const supported = scheme?.targets ?? LORA_TARGETS;
  for (const t of config.targetModules) if (!supported.includes(t)) problems.push(`target module "${t}" is not one of ${supported.join(', ')}`);
  if (scheme && base && scheme.taskType !== config.taskType) {
    problems.push(`task_type "${config.taskType}" does not fit ${scheme.what}, which takes ${scheme.taskType} adapters`);
  }
  for (const l of config.layers ?? []) {
    if (!Number.isSafeInteger(l) || l < 0) problems.push(`layer ${l} is not a layer index`);
    else if (base && l >= base.numLayers) problems.push(`layer ${l} is not a layer of this ${base.numLayers}-layer model`);
  }
  for (const [name, pattern] of [['rank_pattern', config.rankPattern], ['alpha_pattern', config.alphaPattern]] as const) {
    for (const [p, v] of Object.entries(pattern)) {
      const unsafe = unsafePatternReason(p);
      if (unsafe) problems.push(`${name} key ${JSON.stringify(p)} ${unsafe}`);
      if (name === 'rank_pattern' ? !(Number.isSafeInteger(v) && v > 0) : !Number.isFinite(v)) {
        problems.push(`${name}[${JSON.stringify(p)}] = ${JSON.stringify(v)} is not a valid ${name === 'rank_pattern' ? 'rank' : 'alpha'}`);
      }
    }
  }
  return problems;
}

/** adapter_config.json text: exactly DESIGN.md §4's fields, sorted and indented as PEFT writes them. */
export function adapterConfigJson(config: LoraConfig, base: AdapterBase | null = null): string {
  const scheme = base ? schemeOf(base) : config.taskType === 'SEQ_CLS' ? null : llamaScheme(null);
  if (!scheme) throw new AdapterError(ADAPTER_CONFIG_FILE, ['a SEQ_CLS config is written with its encoder (its module names are the family\'s own)']);
  const fields: Record<string, unknown> = {
    alpha_pattern: config.alphaPattern,
    base_model_name_or_path: config.baseModelNameOrPath,
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layers_pattern: null,
    layers_to_transform: config.layers,
    lora_alpha: config.alpha,
    lora_dropout: config.dropout,
    modules_to_save: config.modulesToSave,
    peft_type: 'LORA',
    r: config.r,
    rank_pattern: config.rankPattern,
    revision: config.revision,
    target_modules: scheme.targetModules(config.targetModules),
    task_type: config.taskType,
    use_dora: false,
    use_rslora: config.useRslora,
  };
  return JSON.stringify(fields, null, 2);
}

/**
 * Writes an adapter folder. `tensors` maps PEFT keys to f32 values; every expected key (LoRA pairs,
 * and for SEQ_CLS the head's modules_to_save tensors) must be present with the right size and no
 * other key may be.
 */
export function writePeftAdapter(
  base: AdapterBase,
  config: LoraConfig,
  tensors: Map<string, Float32Array>,
): { 'adapter_model.safetensors': Uint8Array; 'adapter_config.json': string } {
  const scheme = schemeOf(base);
  const problems = checkConfigAgainstSpec(base, config, scheme);
  if (isEncoder(base) && !(config.modulesToSave?.length)) problems.push('a SEQ_CLS adapter needs modules_to_save (the classification head)');
  if (problems.length) throw new AdapterError(ADAPTER_CONFIG_FILE, problems);
  const expected: { key: string; shape: number[] }[] = [...expectedAdapterTensors(base, config)];
  if (isEncoder(base)) expected.push(...expectedHeadTensors(base, config.modulesToSave!));
  const toWrite = new Map<string, TensorToWrite>();
  for (const e of expected) {
    const data = tensors.get(e.key);
    const size = e.shape.reduce((a, b) => a * b, 1);
    if (!data) {
      problems.push(`missing tensor "${e.key}" ${JSON.stringify(e.shape)}`);
      continue;
    }
    if (data.length !== size) {
      problems.push(`tensor "${e.key}" has ${data.length} values, expected ${JSON.stringify(e.shape)} = ${size}`);
      continue;
    }
    toWrite.set(e.key, { dtype: 'F32', shape: e.shape, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
  }
  for (const key of tensors.keys()) if (!toWrite.has(key) && !expected.some((e) => e.key === key)) problems.push(`unexpected tensor "${key}"`);
  for (const [key, values] of tensors) {
    const bad = firstNonFinite(values);
    if (bad) problems.push(`tensor "${key}" holds ${bad}: refusing to write a non-finite adapter`);
  }
  if (problems.length) throw new AdapterError(ADAPTER_WEIGHTS_FILE, problems);
  return {
    'adapter_model.safetensors': serializeSafetensors(toWrite, { format: 'pt' }),
    'adapter_config.json': adapterConfigJson(config, base),
  };
}

/** Module names a target_modules entry or pattern is matched against: every family's, or the base's. */
function candidateSchemes(base: AdapterBase | null, taskType: TaskType): Scheme[] {
  if (base) return [schemeOf(base)];
  if (taskType === 'CAUSAL_LM') return [llamaScheme(null)];
  // Without the model: BERT and RoBERTa share module names; DistilBERT has its own.
  return [encoderScheme('bert', null), encoderScheme('distilbert', null)];
}

/**
 * Parses adapter_config.json as PEFT writes it (extra PEFT fields are accepted if they change
 * nothing). With the base model's spec, also checks the config against it.
 */
export function parseAdapterConfig(text: string, base: AdapterBase | null, file = ADAPTER_CONFIG_FILE): LoraConfig {
  let json: unknown;
  try {
    json = parseJsonStrict(text, file);
  } catch (e) {
    throw new AdapterError(file, [(e as Error).message]);
  }
  if (!isJsonObject(json)) throw new AdapterError(file, ['adapter_config.json must be a JSON object']);
  const c = json as Record<string, unknown>;
  const problems: string[] = [];
  const bad = (field: string, why: string) => problems.push(`field "${field}": ${why}`);
  const has = (k: string) => Object.prototype.hasOwnProperty.call(c, k) && c[k] !== null && c[k] !== undefined;

  if (c.peft_type !== 'LORA') bad('peft_type', `${JSON.stringify(c.peft_type)} is not "LORA" (only LoRA adapters are supported)`);
  // The task follows the model when there is one (an encoder takes SEQ_CLS, a decoder CAUSAL_LM).
  const wantTask: TaskType | null = base ? schemeOf(base).taskType : null;
  let taskType: TaskType = wantTask ?? 'CAUSAL_LM';
  if (has('task_type')) {
    if (c.task_type !== 'CAUSAL_LM' && c.task_type !== 'SEQ_CLS') bad('task_type', `${JSON.stringify(c.task_type)} is not "CAUSAL_LM" or "SEQ_CLS"`);
    else if (wantTask && c.task_type !== wantTask) bad('task_type', `${JSON.stringify(c.task_type)} is not "${wantTask}" (${schemeOf(base!).what} takes ${wantTask} adapters)`);
    else taskType = c.task_type;
  } else if (wantTask === 'SEQ_CLS') bad('task_type', 'missing: an encoder\'s adapter is "SEQ_CLS" (PeftModelForSequenceClassification)');
  const r = has('r') ? c.r : 8;
  if (typeof r !== 'number' || !Number.isSafeInteger(r) || r <= 0) bad('r', `${JSON.stringify(r)} is not a positive integer`);
  const alpha = has('lora_alpha') ? c.lora_alpha : 8;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha)) bad('lora_alpha', `${JSON.stringify(alpha)} is not a number`);
  const dropout = has('lora_dropout') ? c.lora_dropout : 0;
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1)) bad('lora_dropout', `${JSON.stringify(dropout)} is not a number in [0, 1)`);
  // Settings that change what the adapter computes and that this engine does not implement.
  if (has('bias') && c.bias !== 'none') bad('bias', `${JSON.stringify(c.bias)} is not supported (only "none")`);
  if (has('fan_in_fan_out') && c.fan_in_fan_out !== false) bad('fan_in_fan_out', 'must be false for these models\' linear layers');
  if (has('use_dora') && c.use_dora !== false) bad('use_dora', 'DoRA adapters are not supported');
  if (has('lora_bias') && c.lora_bias !== false) bad('lora_bias', 'LoRA biases are not supported');
  let modulesToSave: string[] | null = null;
  if (has('modules_to_save') && !(Array.isArray(c.modules_to_save) && c.modules_to_save.length === 0)) {
    const list = c.modules_to_save;
    if (taskType !== 'SEQ_CLS') bad('modules_to_save', `${JSON.stringify(list)}: fully trained extra modules are not supported`);
    else if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) bad('modules_to_save', `${JSON.stringify(list)} is not a list of module names`);
    else {
      modulesToSave = [...new Set(list as string[])];
      const unknown = modulesToSave.filter((m) => !(SEQ_CLS_MODULES_TO_SAVE as readonly string[]).includes(m));
      if (unknown.length) bad('modules_to_save', `${unknown.map((u) => JSON.stringify(u)).join(', ')}: only the classification head (${SEQ_CLS_MODULES_TO_SAVE.join(', ')}) can be trained in full`);
    }
  }
  if (taskType === 'SEQ_CLS' && !modulesToSave) modulesToSave = [...SEQ_CLS_MODULES_TO_SAVE]; // PeftModelForSequenceClassification adds them
  if (has('layer_replication')) bad('layer_replication', 'layer replication is not supported');
  if (has('trainable_token_indices')) bad('trainable_token_indices', 'trainable tokens are not supported');
  if (has('use_rslora') && typeof c.use_rslora !== 'boolean') bad('use_rslora', `${JSON.stringify(c.use_rslora)} is not true or false`);
  // Fields newer PEFT versions write (0.18 writes every one, null or false when unused): refused when they change the computation.
  const nonEmpty = (v: unknown) => !(Array.isArray(v) && v.length === 0) && !(isJsonObject(v) && Object.keys(v).length === 0);
  if (has('exclude_modules') && nonEmpty(c.exclude_modules)) bad('exclude_modules', `${JSON.stringify(c.exclude_modules)}: excluded modules are not supported (train without them)`);
  if (has('target_parameters') && nonEmpty(c.target_parameters)) bad('target_parameters', 'LoRA on parameters (not modules) is not supported');
  if (has('alora_invocation_tokens')) bad('alora_invocation_tokens', 'activated LoRA (aLoRA) is not supported');
  if (has('use_qalora') && c.use_qalora !== false) bad('use_qalora', 'QALoRA adapters are not supported');
  if (has('arrow_config')) bad('arrow_config', 'Arrow routing is not supported');
  // PiSSA, OLoRA, CorDA and LoftQ change the base weights at init: such an adapter is only right on that changed base.
  if (typeof c.init_lora_weights === 'string' && /^(pissa|olora|corda|loftq)/i.test(c.init_lora_weights)) {
    bad('init_lora_weights', `"${c.init_lora_weights}" adapters need the base model it modified; save them converted to plain LoRA (PEFT: path_initial_model_for_weight_conversion)`);
  }

  const schemes = candidateSchemes(base, taskType);
  const family = taskType === 'CAUSAL_LM' ? 'Llama-family linear layer' : 'encoder projection';
  const supported = [...new Set(schemes.flatMap((s) => s.targets.map((t) => `${t} (${s.path(0, t).split('.').pop()})`)))];
  let targets: LoraTarget[] = [];
  const tm = c.target_modules;
  const add = (t: LoraTarget) => {
    if (!targets.includes(t)) targets.push(t);
  };
  if (tm === 'all-linear') schemes[0].targets.forEach(add);
  else if (typeof tm === 'string') {
    // PEFT: re.fullmatch(target_modules, module_name) for every module.
    let re: RegExp | null = null;
    const unsafe = unsafePatternReason(tm);
    if (unsafe) bad('target_modules', `${JSON.stringify(tm)} ${unsafe}`);
    else re = new RegExp(`^(?:${tm})$`);
    if (re) {
      for (const s of schemes) for (let l = 0; l < (base?.numLayers ?? LAYERS_WITHOUT_MODEL); l++) for (const t of s.targets) if (re.test(s.path(l, t))) add(t);
    }
  } else if (Array.isArray(tm) && tm.every((x) => typeof x === 'string')) {
    // PEFT: a module matches an entry when its name equals it or ends with "." + entry.
    for (const entry of tm as string[]) {
      const hits = schemes.flatMap((s) => s.targets.filter((t) => {
        const name = s.path(0, t);
        return name === entry || name.endsWith(`.${entry}`);
      }));
      if (hits.length === 0) bad('target_modules', `"${entry}" names no ${family} (supported: ${taskType === 'CAUSAL_LM' ? LORA_TARGETS.join(', ') : supported.join(', ')})`);
      hits.forEach(add);
    }
  } else bad('target_modules', `${JSON.stringify(tm)} is not a list of module names or a pattern`);
  targets = LORA_TARGETS.filter((t) => targets.includes(t));

  let layers: number[] | null = null;
  const lt = c.layers_to_transform;
  if (has('layers_to_transform')) {
    const list = typeof lt === 'number' ? [lt] : lt;
    if (!Array.isArray(list) || !list.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0)) {
      bad('layers_to_transform', `${JSON.stringify(lt)} is not a layer index or list of layer indices`);
    } else layers = [...new Set(list as number[])].sort((a, b) => a - b);
  }
  if (has('layers_pattern')) {
    const lp = c.layers_pattern;
    const name = taskType === 'CAUSAL_LM' ? 'layers' : 'layer';
    const ok = lp === name || (Array.isArray(lp) && lp.length === 1 && lp[0] === name) || (Array.isArray(lp) && lp.length === 0);
    if (!ok) bad('layers_pattern', `${JSON.stringify(lp)} does not name the "${name}" module list`);
  }
  const pattern = (field: string): Record<string, number> => {
    const out: Record<string, number> = {};
    if (!has(field)) return out;
    const v = c[field];
    if (!isJsonObject(v)) {
      bad(field, 'is not an object');
      return out;
    }
    for (const [k, x] of Object.entries(v)) {
      if (typeof x !== 'number') bad(field, `value for ${JSON.stringify(k)} is not a number`);
      else Object.defineProperty(out, k, { value: x, enumerable: true, writable: true, configurable: true });
    }
    return out;
  };
  const rankPattern = pattern('rank_pattern');
  const alphaPattern = pattern('alpha_pattern');
  const baseName = c.base_model_name_or_path;
  if (has('base_model_name_or_path') && typeof baseName !== 'string') bad('base_model_name_or_path', 'is not a string');
  if (has('revision') && typeof c.revision !== 'string') bad('revision', 'is not a string or null');
  if (problems.length) throw new AdapterError(file, problems);

  const config: LoraConfig = {
    taskType,
    modulesToSave,
    r: r as number,
    alpha: alpha as number,
    dropout: dropout as number,
    targetModules: targets,
    useRslora: c.use_rslora === true,
    layers,
    baseModelNameOrPath: typeof baseName === 'string' ? baseName : '',
    revision: typeof c.revision === 'string' ? c.revision : null,
    rankPattern,
    alphaPattern,
  };
  const specProblems = checkConfigAgainstSpec(base, config, base ? schemeOf(base) : null);
  if (specProblems.length) throw new AdapterError(file, specProblems);
  return config;
}

/**
 * Reads an adapter folder and checks it against the model: every key maps to a real module, every
 * expected key is present, shapes agree with the module and its rank. All problems are reported at once.
 * For an encoder (`base.numLabels` = the head's outputs) the head's modules_to_save tensors are expected too.
 */
export async function readPeftAdapter(
  files: { 'adapter_model.safetensors': Uint8Array | ByteSource; 'adapter_config.json': string },
  base: AdapterBase,
): Promise<{ config: LoraConfig; tensors: Map<string, Float32Array> }> {
  const config = parseAdapterConfig(files[ADAPTER_CONFIG_FILE], base);
  const scheme = schemeOf(base);
  const st = await openSafetensors(files[ADAPTER_WEIGHTS_FILE], ADAPTER_WEIGHTS_FILE);
  const expected: { key: string; shape: number[]; rank?: number }[] = expectedAdapterTensors(base, config).map((e) => ({ key: e.key, shape: e.shape, rank: e.which === 'A' ? e.shape[0] : e.shape[1] }));
  if (isEncoder(base)) expected.push(...expectedHeadTensors(base, config.modulesToSave ?? SEQ_CLS_MODULES_TO_SAVE));
  const expectedByKey = new Map(expected.map((e) => [e.key, e]));
  const problems: string[] = [];
  for (const name of st.names) {
    if (expectedByKey.has(name)) continue;
    const parsed = scheme.parseKey(name);
    if (parsed === null) {
      const hint = /\.lora_[AB]\.[^.]+\.weight$/.test(name) ? ' (keys must not contain an adapter name such as ".default")' : '';
      const head = isEncoder(base) && /^base_model\.model\./.test(name) && !/lora_/.test(name)
        ? ` (the head's modules_to_save tensors of ${scheme.what} with ${base.numLabels} label${base.numLabels === 1 ? '' : 's'} are ${expectedHeadTensors(base).map((e) => `"${e.key}" ${JSON.stringify(e.shape)}`).join(', ')})`
        : '';
      problems.push(`unexpected tensor "${name}": not a PEFT LoRA key of ${scheme.what}${hint}${head}`);
      continue;
    }
    if (typeof parsed === 'string') {
      problems.push(`unexpected tensor "${name}": ${parsed}`);
      continue;
    }
    const { layer, target } = parsed;
    if (layer >= base.numLayers) problems.push(`unexpected tensor "${name}": the model has ${base.numLayers} layers`);
    else if (!config.targetModules.includes(target)) problems.push(`unexpected tensor "${name}": ${target} is not in target_modules`);
    else problems.push(`unexpected tensor "${name}": layer ${layer} is not in layers_to_transform`);
  }
  for (const e of expected) {
    if (!st.has(e.key)) {
      problems.push(`missing tensor "${e.key}" ${JSON.stringify(e.shape)}`);
      continue;
    }
    const info = st.info(e.key);
    if (info.shape.length !== e.shape.length || info.shape.some((d, i) => d !== e.shape[i])) {
      problems.push(`tensor "${e.key}" has shape ${JSON.stringify(info.shape)}, expected ${JSON.stringify(e.shape)}${e.rank !== undefined ? ` (rank ${e.rank})` : ` (a head for ${isEncoder(base) ? base.numLabels : '?'} labels)`}`);
    }
    if (info.dtype !== 'F32' && info.dtype !== 'F16' && info.dtype !== 'BF16') problems.push(`tensor "${e.key}" has dtype ${info.dtype}, expected F32`);
  }
  if (problems.length) throw new AdapterError(ADAPTER_WEIGHTS_FILE, problems);
  const tensors = new Map<string, Float32Array>();
  for (const e of expected) {
    const values = await st.readF32(e.key);
    const bad = firstNonFinite(values);
    if (bad) problems.push(`tensor "${e.key}" holds ${bad}`);
    tensors.set(e.key, values);
  }
  if (problems.length) throw new AdapterError(ADAPTER_WEIGHTS_FILE, [...problems, 'an adapter with non-finite values would poison every output: retrain it or export it again from a healthy run']);
  return { config, tensors };
}

export interface PeftAdapterSummary {
  config: LoraConfig;
  tensors: number;
  parameters: number;
  /** Layers that carry LoRA tensors. */
  layers: number[];
  /** SEQ_CLS: the encoder family the keys name, and the head's outputs (num_labels). */
  encoder?: { family: EncoderFamily; numLabels: number; head: string[] };
}

/** The first value of a tensor that is not finite, as "NaN at index 12", or null. */
export function firstNonFinite(values: ArrayLike<number>): string | null {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return `${values[i]} at index ${i}`;
  return null;
}

/** The encoder family a SEQ_CLS adapter's LoRA keys name (bert, roberta, distilbert), or null. */
function familyOfKeys(names: string[]): EncoderFamily | null {
  for (const n of names) {
    const m = /^base_model\.model\.(bert|roberta|distilbert)\.(encoder|transformer)\.layer\.\d+\./.exec(n);
    if (m) return m[1] as EncoderFamily;
  }
  return null;
}

/**
 * Checks an adapter folder without its base model (an import into the library): the config as
 * parseAdapterConfig reads it, every key a PEFT LoRA key of a target in target_modules (or, for
 * SEQ_CLS, a head tensor of modules_to_save), A and B of every module present with ranks that
 * agree with the config, and every value finite. Reading it against the model later
 * (readPeftAdapter) adds the shapes.
 */
export async function inspectPeftAdapter(files: { 'adapter_model.safetensors': Uint8Array | ByteSource; 'adapter_config.json': string }): Promise<PeftAdapterSummary> {
  const config = parseAdapterConfig(files[ADAPTER_CONFIG_FILE], null);
  const st = await openSafetensors(files[ADAPTER_WEIGHTS_FILE], ADAPTER_WEIGHTS_FILE);
  const problems: string[] = [];
  const encoderFamily = config.taskType === 'SEQ_CLS' ? familyOfKeys(st.names) : null;
  if (config.taskType === 'SEQ_CLS' && !encoderFamily) problems.push('a SEQ_CLS adapter whose keys name no bert, roberta or distilbert layer');
  const scheme = encoderFamily ? encoderScheme(encoderFamily, null) : llamaScheme(null);
  const seen = new Map<string, { A?: number[]; B?: number[]; layer: number; target: LoraTarget }>();
  const head = new Map<string, number[]>();
  let parameters = 0;
  for (const name of st.names) {
    const info = st.info(name);
    const parsed = scheme.parseKey(name);
    if (parsed === null || typeof parsed === 'string') {
      if (encoderFamily && /^base_model\.model\.[\w.]+\.(weight|bias)$/.test(name) && !name.includes('lora_')) {
        const param = name.slice('base_model.model.'.length);
        const module = param.slice(0, param.lastIndexOf('.'));
        if (trainedHeadModules(encoderFamily, config.modulesToSave ?? SEQ_CLS_MODULES_TO_SAVE).includes(module)) {
          head.set(param, info.shape);
          parameters += info.shape.reduce((a, b) => a * b, 1);
          if (info.dtype !== 'F32' && info.dtype !== 'F16' && info.dtype !== 'BF16') problems.push(`tensor "${name}" has dtype ${info.dtype}, expected F32`);
          continue;
        }
      }
      const hint = /\.lora_[AB]\.[^.]+\.weight$/.test(name) ? ' (keys must not contain an adapter name such as ".default")' : '';
      problems.push(`unexpected tensor "${name}": not a PEFT LoRA key of ${encoderFamily ? scheme.what : 'a Llama-family model'}${hint}`);
      continue;
    }
    const { layer, target, which } = parsed;
    if (!config.targetModules.includes(target)) problems.push(`tensor "${name}": ${target} is not in target_modules`);
    if (config.layers && !config.layers.includes(layer)) problems.push(`tensor "${name}": layer ${layer} is not in layers_to_transform`);
    if (info.dtype !== 'F32' && info.dtype !== 'F16' && info.dtype !== 'BF16') problems.push(`tensor "${name}" has dtype ${info.dtype}, expected F32`);
    if (info.shape.length !== 2) {
      problems.push(`tensor "${name}" has shape ${JSON.stringify(info.shape)}, not 2-D`);
      continue;
    }
    const r = rankIn(config, scheme.path(layer, target));
    const rAxis = which === 'A' ? info.shape[0] : info.shape[1];
    if (rAxis !== r) problems.push(`tensor "${name}" has shape ${JSON.stringify(info.shape)} but its rank is ${r}`);
    const key = `${layer}.${target}`;
    const entry = seen.get(key) ?? { layer, target };
    entry[which] = info.shape;
    seen.set(key, entry);
    parameters += info.shape[0] * info.shape[1];
  }
  if (seen.size === 0) problems.push('the file holds no LoRA tensors');
  for (const e of seen.values()) {
    if (!e.A || !e.B) problems.push(`layer ${e.layer} ${e.target}: lora_${e.A ? 'B' : 'A'} is missing`);
    else if (e.A[1] <= 0 || e.B[0] <= 0) problems.push(`layer ${e.layer} ${e.target}: empty tensor`);
  }
  const layers = [...new Set([...seen.values()].map((e) => e.layer))].sort((a, b) => a - b);
  for (const layer of layers) {
    for (const t of config.targetModules) if (!seen.has(`${layer}.${t}`)) problems.push(`layer ${layer}: ${t} is in target_modules but has no tensors`);
  }
  let encoder: PeftAdapterSummary['encoder'];
  if (encoderFamily) {
    // The head: every trained module with weight [out, C] and bias [out]; the last one's out is num_labels.
    const modules = trainedHeadModules(encoderFamily, config.modulesToSave ?? SEQ_CLS_MODULES_TO_SAVE);
    for (const m of modules) {
      const w = head.get(`${m}.weight`);
      const b = head.get(`${m}.bias`);
      if (!w || !b) problems.push(`the head's ${m}.${w ? 'bias' : 'weight'} (modules_to_save) is missing: key "base_model.model.${m}.${w ? 'bias' : 'weight'}"`);
      else if (w.length !== 2 || b.length !== 1 || b[0] !== w[0]) problems.push(`the head's ${m} has weight ${JSON.stringify(w)} and bias ${JSON.stringify(b)}, expected [out, hidden] and [out]`);
    }
    const last = ENCODER_HEAD_MODULES[encoderFamily][1];
    encoder = { family: encoderFamily, numLabels: head.get(`${last}.weight`)?.[0] ?? 0, head: [...head.keys()] };
  }
  if (problems.length) throw new AdapterError(ADAPTER_WEIGHTS_FILE, problems);
  for (const name of st.names) {
    const bad = firstNonFinite(await st.readF32(name));
    if (bad) problems.push(`tensor "${name}" holds ${bad}`);
  }
  if (problems.length) throw new AdapterError(ADAPTER_WEIGHTS_FILE, [...problems, 'an adapter with non-finite values would poison every output: retrain it or export it again from a healthy run']);
  return { config, tensors: st.names.length, parameters, layers, ...(encoder ? { encoder } : {}) };
}


/**
 * The task of a SEQ_CLS adapter's head: the labels' config.json beside the adapter when there is one;
 * else num_labels from the head it holds, with `known`'s names when it has that many labels, the
 * encoder config's own names when they fit, or LABEL_i (regression for one output, as Transformers
 * infers it).
 */
export async function seqClsTask(
  files: { 'adapter_model.safetensors': Uint8Array | ByteSource; 'adapter_config.json': string; 'config.json'?: string | null },
  encoder: EncoderConfig,
  known: SequenceClassificationTask | null = null,
): Promise<SequenceClassificationTask> {
  const labelsText = files['config.json'];
  const fromFile = labelsText ? labelsFromConfig(labelsText, 'config.json') : null;
  if (fromFile) return fromFile;
  const summary = await inspectPeftAdapter(files);
  const L = summary.encoder?.numLabels ?? 0;
  if (!(L > 0)) throw new AdapterError(ADAPTER_WEIGHTS_FILE, ['the adapter holds no classification head (modules_to_save): it is not a SEQ_CLS adapter']);
  if (known && known.labels.length === L) return known;
  return {
    problemType: L === 1 ? 'regression' : 'single_label_classification',
    labels: Array.from({ length: L }, (_, i) => (L === encoder.numLabels ? encoder.id2label[i] : `LABEL_${i}`)),
  };
}
