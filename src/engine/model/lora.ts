/**
 * The adapter's flat layout, family-independent: every LoRA pair (A [r, in], B [out, r]) of the
 * adapted modules packed into one f32 buffer, with the gradients and Adam moments at the same
 * offsets. A model family says which modules exist (their shape and their path in the model,
 * which is also their PEFT key); the settings say which of them to adapt.
 *
 * After the LoRA pairs come the tensors a family trains in full (PEFT's modules_to_save, e.g. a
 * classification head): their weights, then their biases. Hugging Face's Trainer decays every
 * parameter but biases and LayerNorm weights (get_decay_parameter_names), so the layout keeps the
 * decayed values in one prefix of `decayCount` values and AdamW decays exactly that prefix.
 */
import { loraScale, TARGET_MODULES, type LoraSettings, type TargetModule } from '../../settings/settings';
import { SeededRng } from '../train/rng';

export type { LoraSettings, TargetModule };

export class LoraConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LoraConfigError';
  }
}

/** A linear module LoRA can wrap: W [out, in] at `path` in the model ("model.layers.3.self_attn.q_proj"). */
export interface LoraModuleInfo {
  in: number;
  out: number;
  path: string;
}

/** One LoRA pair inside the flat adapter buffer: A [r, in] at offsetA, B [out, r] at offsetB. */
export interface LoraSlot extends LoraModuleInfo {
  layer: number;
  module: TargetModule;
  r: number;
  offsetA: number;
  offsetB: number;
}

/** A tensor trained in full, e.g. `classifier.weight` [L, C] (PEFT key `base_model.model.classifier.weight`). */
export interface FullTensorInfo {
  /** Parameter name in the model: module path + `.weight` / `.bias`. */
  name: string;
  /** The module it belongs to (`classifier`). */
  module: string;
  shape: number[];
  /** Weight decay applies (false for biases and LayerNorm weights, as Hugging Face's Trainer decides). */
  decay: boolean;
}

export interface FullTensor extends FullTensorInfo {
  offset: number;
  size: number;
}

/** Modules a family trains in full, with what adapter_config.json records for them. */
export interface FullModules {
  tensors: FullTensorInfo[];
  /** modules_to_save as adapter_config.json writes it (PEFT SEQ_CLS: ["classifier", "score"]). */
  modulesToSave: string[];
  /** Initial values by tensor name (a checkpoint's head, or a new one drawn from the run's seed); absent: zeros. */
  init?: Map<string, Float32Array>;
}

/**
 * The flat layout of every adapter tensor (layers ascending, modules in TARGET_MODULES order, A then
 * B; then full tensors, weights before biases), shared by the parameters, the gradients and Adam's
 * m and v.
 */
export interface AdapterLayout {
  settings: LoraSettings;
  scale: number;
  slots: LoraSlot[];
  /** Tensors trained in full (PEFT modules_to_save), after the LoRA pairs; empty for a plain LoRA adapter. */
  full: FullTensor[];
  /** modules_to_save of adapter_config.json (null: none). */
  modulesToSave: string[] | null;
  /** Initial values of the full tensors by name (see FullModules.init). */
  fullInit: Map<string, Float32Array> | null;
  /** Values [0, decayCount) get AdamW's weight decay; the rest (biases) do not. */
  decayCount: number;
  /** Total f32 elements. */
  size: number;
}

/** The family's answer to "what does module m of layer l look like" (null: the family has no such module). */
export type ModuleLookup = (layer: number, module: TargetModule) => LoraModuleInfo | null;

export function buildAdapterLayout(numLayers: number, lookup: ModuleLookup, settings: LoraSettings, fullModules: FullModules | null = null): AdapterLayout {
  if (!Number.isInteger(settings.r) || settings.r < 1) throw new LoraConfigError(`LoRA rank r must be a positive integer, got ${settings.r}`);
  if (!(settings.alpha > 0)) throw new LoraConfigError(`LoRA alpha must be positive, got ${settings.alpha}`);
  if (!(settings.dropout >= 0 && settings.dropout < 1)) throw new LoraConfigError(`LoRA dropout must be in [0, 1), got ${settings.dropout}`);
  if (settings.targets.length === 0) throw new LoraConfigError('LoRA needs at least one target module');
  for (const t of settings.targets) {
    if (!TARGET_MODULES.includes(t)) throw new LoraConfigError(`unknown LoRA target "${t}" (expected one of ${TARGET_MODULES.join(', ')})`);
  }
  const layers = settings.layers ?? Array.from({ length: numLayers }, (_, i) => i);
  for (const l of layers) {
    if (!Number.isInteger(l) || l < 0 || l >= numLayers) throw new LoraConfigError(`LoRA layer ${l} is outside 0..${numLayers - 1}`);
  }
  const slots: LoraSlot[] = [];
  let offset = 0;
  for (const layer of [...new Set(layers)].sort((a, b) => a - b)) {
    for (const module of TARGET_MODULES) {
      if (!settings.targets.includes(module)) continue;
      const info = lookup(layer, module);
      if (!info) throw new LoraConfigError(`this model has no ${module} module to adapt`);
      const r = settings.r;
      slots.push({ ...info, layer, module, r, offsetA: offset, offsetB: offset + r * info.in });
      offset += r * info.in + info.out * r;
    }
  }
  const full: FullTensor[] = [];
  const tensors = fullModules?.tensors ?? [];
  let decayCount = offset;
  for (const decay of [true, false]) {
    for (const t of tensors) {
      if (t.decay !== decay) continue;
      const size = t.shape.reduce((a, b) => a * b, 1);
      if (!(size > 0) || !Number.isInteger(size)) throw new LoraConfigError(`full tensor "${t.name}" has shape ${JSON.stringify(t.shape)}`);
      if (full.some((f) => f.name === t.name)) throw new LoraConfigError(`full tensor "${t.name}" is listed twice`);
      full.push({ ...t, offset, size });
      offset += size;
    }
    if (decay) decayCount = offset;
  }
  for (const [name, values] of fullModules?.init ?? []) {
    const t = full.find((f) => f.name === name);
    if (!t) throw new LoraConfigError(`initial values for "${name}", which is not a trained tensor`);
    if (values.length !== t.size) throw new LoraConfigError(`initial values for "${name}" hold ${values.length} values, its shape ${JSON.stringify(t.shape)} needs ${t.size}`);
  }
  return {
    settings, scale: loraScale(settings), slots, full,
    modulesToSave: fullModules ? [...fullModules.modulesToSave] : null,
    fullInit: fullModules?.init ?? null,
    decayCount, size: offset,
  };
}

/** PEFT's key of a tensor trained in full (modules_to_save, saved without "modules_to_save.default."). */
export function fullTensorKey(name: string): string {
  return `base_model.model.${name}`;
}

export function findSlot(layout: AdapterLayout, layer: number, module: TargetModule): LoraSlot | undefined {
  return layout.slots.find((s) => s.layer === layer && s.module === module);
}

/** PEFT's key for a LoRA matrix of a module (no adapter name, as PEFT saves it). */
export function loraKey(path: string, which: 'A' | 'B'): string {
  return `base_model.model.${path}.lora_${which}.weight`;
}

/**
 * PEFT's initialization: A ~ U(−1/√in, 1/√in) (kaiming_uniform_ with a = √5 gives exactly that
 * bound), B = 0, so the adapted model starts equal to the base. Draws from a seeded RNG in
 * layout order, so the same seed gives the same adapter.
 */
export function initAdapter(layout: AdapterLayout, seed: number): Float32Array {
  const params = new Float32Array(layout.size);
  const rng = new SeededRng(seed);
  for (const slot of layout.slots) {
    const bound = 1 / Math.sqrt(slot.in);
    for (let i = 0; i < slot.r * slot.in; i++) params[slot.offsetA + i] = rng.uniform(-bound, bound);
  }
  // Full tensors start from the family's values (a checkpoint's head, or one it drew from the run's seed).
  for (const t of layout.full) {
    const init = layout.fullInit?.get(t.name);
    if (init) params.set(init, t.offset);
  }
  return params;
}

/**
 * Values ~ N(0, std) from a seeded stream (Box–Muller), as Transformers initializes a new linear
 * layer's weight (normal_(0, initializer_range)); `stream` separates tensors drawn from one seed.
 */
export function seededNormal(count: number, std: number, seed: number, stream: number): Float32Array {
  const rng = new SeededRng((Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(stream + 1, 0x85ebca77)) >>> 0);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const u = 1 - rng.next();
    const v = rng.next();
    const r = Math.sqrt(-2 * Math.log(u));
    out[i] = std * r * Math.cos(2 * Math.PI * v);
    if (i + 1 < count) out[i + 1] = std * r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/** The adapter as PEFT-named tensors (views copied out of the flat buffer). */
export function adapterTensors(layout: AdapterLayout, params: Float32Array): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const s of layout.slots) {
    out.set(loraKey(s.path, 'A'), params.slice(s.offsetA, s.offsetA + s.r * s.in));
    out.set(loraKey(s.path, 'B'), params.slice(s.offsetB, s.offsetB + s.out * s.r));
  }
  for (const t of layout.full) out.set(fullTensorKey(t.name), params.slice(t.offset, t.offset + t.size));
  return out;
}

/** Fills a flat buffer from PEFT-named tensors; every expected key must be present with the right size, and no other. */
export function adapterFromTensors(layout: AdapterLayout, tensors: Map<string, Float32Array>): Float32Array {
  const params = new Float32Array(layout.size);
  const expected = new Set<string>();
  for (const s of layout.slots) {
    for (const which of ['A', 'B'] as const) {
      const key = loraKey(s.path, which);
      expected.add(key);
      const t = tensors.get(key);
      const size = which === 'A' ? s.r * s.in : s.out * s.r;
      if (!t) throw new LoraConfigError(`adapter tensor "${key}" is missing`);
      if (t.length !== size) throw new LoraConfigError(`adapter tensor "${key}" has ${t.length} values, expected ${size}`);
      params.set(t, which === 'A' ? s.offsetA : s.offsetB);
    }
  }
  for (const f of layout.full) {
    const key = fullTensorKey(f.name);
    expected.add(key);
    const t = tensors.get(key);
    if (!t) throw new LoraConfigError(`adapter tensor "${key}" (modules_to_save) is missing`);
    if (t.length !== f.size) throw new LoraConfigError(`adapter tensor "${key}" has ${t.length} values, expected ${JSON.stringify(f.shape)} = ${f.size}`);
    params.set(t, f.offset);
  }
  for (const key of tensors.keys()) {
    if (!expected.has(key)) throw new LoraConfigError(`adapter tensor "${key}" is not part of this configuration`);
  }
  return params;
}
