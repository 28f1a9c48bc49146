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
 * PEFT loads with strict=False, so a misnamed key only warns and the adapter silently does nothing
 * (B starts at zero). The reader here therefore treats every missing or unexpected key as an error.
 */
import type { ByteSource } from './byteSource';
import { LORA_TARGETS, type LoraTarget, type ModelSpec, isLoraTarget, moduleGroup, modulePath, moduleShape } from './hfConfig';
import { isJsonObject, parseJsonStrict } from './json';
import { openSafetensors, serializeSafetensors, type TensorToWrite } from './safetensors';

export interface LoraConfig {
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

/** The safetensors key PEFT uses for a LoRA matrix. */
export function peftKey(layer: number, target: LoraTarget, which: 'A' | 'B'): string {
  return `base_model.model.${modulePath(layer, target)}.lora_${which}.weight`;
}

/** The module name PEFT matches target_modules, rank_pattern and alpha_pattern against. */
export const moduleName = modulePath;

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

export function rankOf(config: LoraConfig, layer: number, target: LoraTarget): number {
  return patternValue(config.rankPattern, moduleName(layer, target)) ?? config.r;
}

export function alphaOf(config: LoraConfig, layer: number, target: LoraTarget): number {
  return patternValue(config.alphaPattern, moduleName(layer, target)) ?? config.alpha;
}

/** The LoRA scale s of one module: alpha/r, or alpha/√r with rsLoRA. */
export function loraScale(config: LoraConfig, layer: number, target: LoraTarget): number {
  const r = rankOf(config, layer, target);
  const a = alphaOf(config, layer, target);
  return config.useRslora ? a / Math.sqrt(r) : a / r;
}

export interface ExpectedLoraTensor {
  key: string;
  layer: number;
  target: LoraTarget;
  which: 'A' | 'B';
  shape: [number, number];
}

/** Every key and shape an adapter with this config holds for this model. */
export function expectedAdapterTensors(spec: ModelSpec, config: LoraConfig): ExpectedLoraTensor[] {
  const out: ExpectedLoraTensor[] = [];
  const layers = config.layers ?? Array.from({ length: spec.numLayers }, (_, i) => i);
  for (const layer of layers) {
    for (const target of LORA_TARGETS) {
      if (!config.targetModules.includes(target)) continue;
      const { in: fin, out: fout } = moduleShape(spec, target);
      const r = rankOf(config, layer, target);
      out.push({ key: peftKey(layer, target, 'A'), layer, target, which: 'A', shape: [r, fin] });
      out.push({ key: peftKey(layer, target, 'B'), layer, target, which: 'B', shape: [fout, r] });
    }
  }
  return out;
}

/** Layers assumed when a config is checked without a model (pattern matching only). */
const LAYERS_WITHOUT_MODEL = 512;

function checkConfigAgainstSpec(spec: ModelSpec | null, config: LoraConfig): string[] {
  const problems: string[] = [];
  if (!Number.isSafeInteger(config.r) || config.r <= 0) problems.push(`r ${config.r} is not a positive integer`);
  if (!Number.isFinite(config.alpha)) problems.push(`lora_alpha ${config.alpha} is not a number`);
  if (!(config.dropout >= 0 && config.dropout < 1)) problems.push(`lora_dropout ${config.dropout} is not in [0, 1)`);
  if (config.targetModules.length === 0) problems.push('target_modules is empty');
  for (const t of config.targetModules) if (!isLoraTarget(t)) problems.push(`target module "${t}" is not one of ${LORA_TARGETS.join(', ')}`);
  for (const l of config.layers ?? []) {
    if (!Number.isSafeInteger(l) || l < 0) problems.push(`layer ${l} is not a layer index`);
    else if (spec && l >= spec.numLayers) problems.push(`layer ${l} is not a layer of this ${spec.numLayers}-layer model`);
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
export function adapterConfigJson(config: LoraConfig): string {
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
    modules_to_save: null,
    peft_type: 'LORA',
    r: config.r,
    rank_pattern: config.rankPattern,
    revision: config.revision,
    target_modules: LORA_TARGETS.filter((t) => config.targetModules.includes(t)),
    task_type: 'CAUSAL_LM',
    use_dora: false,
    use_rslora: config.useRslora,
  };
  return JSON.stringify(fields, null, 2);
}

/**
 * Writes an adapter folder. `tensors` maps peftKey(...) names to f32 values; every expected key
 * must be present with the right size and no other key may be.
 */
export function writePeftAdapter(
  spec: ModelSpec,
  config: LoraConfig,
  tensors: Map<string, Float32Array>,
): { 'adapter_model.safetensors': Uint8Array; 'adapter_config.json': string } {
  const problems = checkConfigAgainstSpec(spec, config);
  if (problems.length) throw new AdapterError(ADAPTER_CONFIG_FILE, problems);
  const expected = expectedAdapterTensors(spec, config);
  const toWrite = new Map<string, TensorToWrite>();
  for (const e of expected) {
    const data = tensors.get(e.key);
    if (!data) {
      problems.push(`missing tensor "${e.key}" ${JSON.stringify(e.shape)}`);
      continue;
    }
    if (data.length !== e.shape[0] * e.shape[1]) {
      problems.push(`tensor "${e.key}" has ${data.length} values, expected ${JSON.stringify(e.shape)} = ${e.shape[0] * e.shape[1]}`);
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
    'adapter_config.json': adapterConfigJson(config),
  };
}

const KEY_PATTERN = /^base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\.(\w+)\.lora_(A|B)\.weight$/;

/**
 * Parses adapter_config.json as PEFT writes it (extra PEFT fields are accepted if they change
 * nothing). With the base model's spec, also checks the config against it.
 */
export function parseAdapterConfig(text: string, spec: ModelSpec | null, file = ADAPTER_CONFIG_FILE): LoraConfig {
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
  if (has('task_type') && c.task_type !== 'CAUSAL_LM') bad('task_type', `${JSON.stringify(c.task_type)} is not "CAUSAL_LM"`);
  const r = has('r') ? c.r : 8;
  if (typeof r !== 'number' || !Number.isSafeInteger(r) || r <= 0) bad('r', `${JSON.stringify(r)} is not a positive integer`);
  const alpha = has('lora_alpha') ? c.lora_alpha : 8;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha)) bad('lora_alpha', `${JSON.stringify(alpha)} is not a number`);
  const dropout = has('lora_dropout') ? c.lora_dropout : 0;
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1)) bad('lora_dropout', `${JSON.stringify(dropout)} is not a number in [0, 1)`);
  // Settings that change what the adapter computes and that this engine does not implement.
  if (has('bias') && c.bias !== 'none') bad('bias', `${JSON.stringify(c.bias)} is not supported (only "none")`);
  if (has('fan_in_fan_out') && c.fan_in_fan_out !== false) bad('fan_in_fan_out', 'must be false for Llama-family linear layers');
  if (has('use_dora') && c.use_dora !== false) bad('use_dora', 'DoRA adapters are not supported');
  if (has('lora_bias') && c.lora_bias !== false) bad('lora_bias', 'LoRA biases are not supported');
  if (has('modules_to_save') && !(Array.isArray(c.modules_to_save) && c.modules_to_save.length === 0)) {
    bad('modules_to_save', `${JSON.stringify(c.modules_to_save)}: fully trained extra modules are not supported`);
  }
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

  let targets: LoraTarget[] = [];
  const tm = c.target_modules;
  const allNames = LORA_TARGETS.map((t) => ({ t, name: moduleName(0, t) }));
  if (tm === 'all-linear') targets = [...LORA_TARGETS];
  else if (typeof tm === 'string') {
    // PEFT: re.fullmatch(target_modules, module_name) for every module.
    let re: RegExp | null = null;
    const unsafe = unsafePatternReason(tm);
    if (unsafe) bad('target_modules', `${JSON.stringify(tm)} ${unsafe}`);
    else re = new RegExp(`^(?:${tm})$`);
    if (re) {
      for (let l = 0; l < (spec?.numLayers ?? LAYERS_WITHOUT_MODEL); l++) for (const t of LORA_TARGETS) if (re.test(moduleName(l, t)) && !targets.includes(t)) targets.push(t);
    }
  } else if (Array.isArray(tm) && tm.every((x) => typeof x === 'string')) {
    // PEFT: a module matches an entry when its name equals it or ends with "." + entry.
    for (const entry of tm as string[]) {
      const hits = allNames.filter(({ name }) => name === entry || name.endsWith(`.${entry}`));
      if (hits.length === 0) bad('target_modules', `"${entry}" names no Llama-family linear layer (supported: ${LORA_TARGETS.join(', ')})`);
      for (const h of hits) if (!targets.includes(h.t)) targets.push(h.t);
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
    const ok = lp === 'layers' || (Array.isArray(lp) && lp.length === 1 && lp[0] === 'layers') || (Array.isArray(lp) && lp.length === 0);
    if (!ok) bad('layers_pattern', `${JSON.stringify(lp)} does not name the "layers" module list`);
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
  const base = c.base_model_name_or_path;
  if (has('base_model_name_or_path') && typeof base !== 'string') bad('base_model_name_or_path', 'is not a string');
  if (has('revision') && typeof c.revision !== 'string') bad('revision', 'is not a string or null');
  if (problems.length) throw new AdapterError(file, problems);

  const config: LoraConfig = {
    r: r as number,
    alpha: alpha as number,
    dropout: dropout as number,
    targetModules: targets,
    useRslora: c.use_rslora === true,
    layers,
    baseModelNameOrPath: typeof base === 'string' ? base : '',
    revision: typeof c.revision === 'string' ? c.revision : null,
    rankPattern,
    alphaPattern,
  };
  const specProblems = checkConfigAgainstSpec(spec, config);
  if (specProblems.length) throw new AdapterError(file, specProblems);
  return config;
}

/**
 * Reads an adapter folder and checks it against the model: every key maps to a real module, every
 * expected key is present, shapes agree with the module and its rank. All problems are reported at once.
 */
export async function readPeftAdapter(
  files: { 'adapter_model.safetensors': Uint8Array | ByteSource; 'adapter_config.json': string },
  spec: ModelSpec,
): Promise<{ config: LoraConfig; tensors: Map<string, Float32Array> }> {
  const config = parseAdapterConfig(files[ADAPTER_CONFIG_FILE], spec);
  const st = await openSafetensors(files[ADAPTER_WEIGHTS_FILE], ADAPTER_WEIGHTS_FILE);
  const expected = expectedAdapterTensors(spec, config);
  const expectedByKey = new Map(expected.map((e) => [e.key, e]));
  const problems: string[] = [];
  for (const name of st.names) {
    if (expectedByKey.has(name)) continue;
    const m = KEY_PATTERN.exec(name);
    if (!m) {
      const hint = /\.lora_[AB]\.[^.]+\.weight$/.test(name) ? ' (keys must not contain an adapter name such as ".default")' : '';
      problems.push(`unexpected tensor "${name}": not a PEFT LoRA key of a Llama-family model${hint}`);
      continue;
    }
    const [, layerText, group, target] = m;
    const layer = Number(layerText);
    if (!isLoraTarget(target)) problems.push(`unexpected tensor "${name}": "${target}" is not one of ${LORA_TARGETS.join(', ')}`);
    else if (moduleGroup(target) !== group) problems.push(`unexpected tensor "${name}": ${target} lives under ${moduleGroup(target)}, not ${group}`);
    else if (layer >= spec.numLayers) problems.push(`unexpected tensor "${name}": the model has ${spec.numLayers} layers`);
    else if (!config.targetModules.includes(target)) problems.push(`unexpected tensor "${name}": ${target} is not in target_modules`);
    else problems.push(`unexpected tensor "${name}": layer ${layer} is not in layers_to_transform`);
  }
  for (const e of expected) {
    if (!st.has(e.key)) {
      problems.push(`missing tensor "${e.key}" ${JSON.stringify(e.shape)}`);
      continue;
    }
    const info = st.info(e.key);
    if (info.shape.length !== 2 || info.shape[0] !== e.shape[0] || info.shape[1] !== e.shape[1]) {
      problems.push(`tensor "${e.key}" has shape ${JSON.stringify(info.shape)}, expected ${JSON.stringify(e.shape)} (rank ${rankOf(config, e.layer, e.target)})`);
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
}

/** The first value of a tensor that is not finite, as "NaN at index 12", or null. */
export function firstNonFinite(values: ArrayLike<number>): string | null {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return `${values[i]} at index ${i}`;
  return null;
}

/**
 * Checks an adapter folder without its base model (an import into the library): the config as
 * parseAdapterConfig reads it, every key a PEFT LoRA key of a target in target_modules, A and B of
 * every module present with ranks that agree with the config, and every value finite. Reading it
 * against the model later (readPeftAdapter) adds the shapes.
 */
export async function inspectPeftAdapter(files: { 'adapter_model.safetensors': Uint8Array | ByteSource; 'adapter_config.json': string }): Promise<PeftAdapterSummary> {
  const config = parseAdapterConfig(files[ADAPTER_CONFIG_FILE], null);
  const st = await openSafetensors(files[ADAPTER_WEIGHTS_FILE], ADAPTER_WEIGHTS_FILE);
  const problems: string[] = [];
  const seen = new Map<string, { A?: number[]; B?: number[]; layer: number; target: LoraTarget }>();
  let parameters = 0;
  for (const name of st.names) {
    const info = st.info(name);
    const m = KEY_PATTERN.exec(name);
    if (!m || !isLoraTarget(m[3]) || moduleGroup(m[3]) !== m[2]) {
      const hint = /\.lora_[AB]\.[^.]+\.weight$/.test(name) ? ' (keys must not contain an adapter name such as ".default")' : '';
      problems.push(`unexpected tensor "${name}": not a PEFT LoRA key of a Llama-family model${hint}`);
      continue;
    }
    const layer = Number(m[1]);
    const target = m[3] as LoraTarget;
    const which = m[4] as 'A' | 'B';
    if (!config.targetModules.includes(target)) problems.push(`tensor "${name}": ${target} is not in target_modules`);
    if (config.layers && !config.layers.includes(layer)) problems.push(`tensor "${name}": layer ${layer} is not in layers_to_transform`);
    if (info.dtype !== 'F32' && info.dtype !== 'F16' && info.dtype !== 'BF16') problems.push(`tensor "${name}" has dtype ${info.dtype}, expected F32`);
    if (info.shape.length !== 2) {
      problems.push(`tensor "${name}" has shape ${JSON.stringify(info.shape)}, not 2-D`);
      continue;
    }
    const r = rankOf(config, layer, target);
    const rAxis = which === 'A' ? info.shape[0] : info.shape[1];
    if (rAxis !== r) problems.push(`tensor "${name}" has shape ${JSON.stringify(info.shape)} but its rank is ${r}`);
    const key = `${layer}.${target}`;
    const entry = seen.get(key) ?? { layer, target };
    entry[which] = info.shape;
    seen.set(key, entry);
    parameters += info.shape[0] * info.shape[1];
  }
  if (st.names.length === 0) problems.push('the file holds no LoRA tensors');
  for (const e of seen.values()) {
    if (!e.A || !e.B) problems.push(`layer ${e.layer} ${e.target}: lora_${e.A ? 'B' : 'A'} is missing`);
    else if (e.A[1] <= 0 || e.B[0] <= 0) problems.push(`layer ${e.layer} ${e.target}: empty tensor`);
  }
  const layers = [...new Set([...seen.values()].map((e) => e.layer))].sort((a, b) => a - b);
  for (const layer of layers) {
    for (const t of config.targetModules) if (!seen.has(`${layer}.${t}`)) problems.push(`layer ${layer}: ${t} is in target_modules but has no tensors`);
  }
  if (problems.length) throw new AdapterError(ADAPTER_WEIGHTS_FILE, problems);
  for (const name of st.names) {
    const bad = firstNonFinite(await st.readF32(name));
    if (bad) problems.push(`tensor "${name}" holds ${bad}`);
  }
  if (problems.length) throw new AdapterError(ADAPTER_WEIGHTS_FILE, [...problems, 'an adapter with non-finite values would poison every output: retrain it or export it again from a healthy run']);
  return { config, tensors: st.names.length, parameters, layers };
}
