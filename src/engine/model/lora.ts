import type { ModelSpec } from '../../formats/hfConfig';
import { SeededRng } from '../train/rng';

/** The projections LoRA may adapt, in the order adapter tensors are laid out. */
export const LORA_MODULES = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export type LoraModule = (typeof LORA_MODULES)[number];

export class LoraConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LoraConfigError';
  }
}

/** What the engine needs to build an adapter (PEFT's LoraConfig minus file metadata). */
export interface LoraSettings {
  r: number;
  alpha: number;
  dropout: number;
  targets: LoraModule[];
  /** Layers that get adapters; null means all. */
  layers: number[] | null;
  useRslora: boolean;
}

export const DEFAULT_LORA: LoraSettings = { r: 8, alpha: 16, dropout: 0.05, targets: ['q_proj', 'v_proj'], layers: null, useRslora: false };

/** s = alpha/r, or alpha/√r with rsLoRA. */
export function loraScale(settings: Pick<LoraSettings, 'r' | 'alpha' | 'useRslora'>): number {
  return settings.useRslora ? settings.alpha / Math.sqrt(settings.r) : settings.alpha / settings.r;
}

/** Input and output features of a projection: y [N, out] = x [N, in] · Wᵀ, W [out, in]. */
export function projectionShape(spec: ModelSpec, module: LoraModule): { in: number; out: number } {
  const C = spec.hiddenSize;
  const q = spec.numHeads * spec.headDim;
  const kv = spec.numKvHeads * spec.headDim;
  switch (module) {
    case 'q_proj': return { in: C, out: q };
    case 'k_proj': return { in: C, out: kv };
    case 'v_proj': return { in: C, out: kv };
    case 'o_proj': return { in: q, out: C };
    case 'gate_proj': return { in: C, out: spec.intermediateSize };
    case 'up_proj': return { in: C, out: spec.intermediateSize };
    case 'down_proj': return { in: spec.intermediateSize, out: C };
  }
}

/** HF name of a projection's frozen weight. */
export function projectionWeightName(layer: number, module: LoraModule): string {
  const group = module.endsWith('_proj') && ['gate_proj', 'up_proj', 'down_proj'].includes(module) ? 'mlp' : 'self_attn';
  return `model.layers.${layer}.${group}.${module}.weight`;
}

/** PEFT's key for an adapter tensor (no adapter name, as PEFT saves it). */
export function adapterKey(layer: number, module: LoraModule, which: 'A' | 'B'): string {
  return `base_model.model.${projectionWeightName(layer, module).replace(/\.weight$/, '')}.lora_${which}.weight`;
}

/** One LoRA pair inside the flat adapter buffer: A [r, in] at offsetA, B [out, r] at offsetB. */
export interface LoraSlot {
  layer: number;
  module: LoraModule;
  in: number;
  out: number;
  r: number;
  offsetA: number;
  offsetB: number;
}

/**
 * The flat layout of every adapter tensor: one f32 buffer for parameters, one for gradients and
 * one each for Adam's m and v, all indexed by the same offsets (layers ascending, modules in
 * LORA_MODULES order, A then B).
 */
export interface AdapterLayout {
  settings: LoraSettings;
  scale: number;
  slots: LoraSlot[];
  /** Total f32 elements. */
  size: number;
}

export function adapterLayout(spec: ModelSpec, settings: LoraSettings): AdapterLayout {
  if (!Number.isInteger(settings.r) || settings.r < 1) throw new LoraConfigError(`LoRA rank r must be a positive integer, got ${settings.r}`);
  if (!(settings.alpha > 0)) throw new LoraConfigError(`LoRA alpha must be positive, got ${settings.alpha}`);
  if (!(settings.dropout >= 0 && settings.dropout < 1)) throw new LoraConfigError(`LoRA dropout must be in [0, 1), got ${settings.dropout}`);
  if (settings.targets.length === 0) throw new LoraConfigError('LoRA needs at least one target module');
  for (const t of settings.targets) {
    if (!LORA_MODULES.includes(t)) throw new LoraConfigError(`unknown LoRA target "${t}" (expected one of ${LORA_MODULES.join(', ')})`);
  }
  const layers = settings.layers ?? Array.from({ length: spec.numLayers }, (_, i) => i);
  for (const l of layers) {
    if (!Number.isInteger(l) || l < 0 || l >= spec.numLayers) throw new LoraConfigError(`LoRA layer ${l} is outside 0..${spec.numLayers - 1}`);
  }
  const sortedLayers = [...new Set(layers)].sort((a, b) => a - b);
  const slots: LoraSlot[] = [];
  let offset = 0;
  for (const layer of sortedLayers) {
    for (const module of LORA_MODULES) {
      if (!settings.targets.includes(module)) continue;
      const shape = projectionShape(spec, module);
      const r = settings.r;
      const slot: LoraSlot = { layer, module, in: shape.in, out: shape.out, r, offsetA: offset, offsetB: offset + r * shape.in };
      offset += r * shape.in + shape.out * r;
      slots.push(slot);
    }
  }
  return { settings, scale: loraScale(settings), slots, size: offset };
}

export function findSlot(layout: AdapterLayout, layer: number, module: LoraModule): LoraSlot | undefined {
  return layout.slots.find((s) => s.layer === layer && s.module === module);
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
  return params;
}

/** The adapter as PEFT-named tensors (views copied out of the flat buffer). */
export function adapterTensors(layout: AdapterLayout, params: Float32Array): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const s of layout.slots) {
    out.set(adapterKey(s.layer, s.module, 'A'), params.slice(s.offsetA, s.offsetA + s.r * s.in));
    out.set(adapterKey(s.layer, s.module, 'B'), params.slice(s.offsetB, s.offsetB + s.out * s.r));
  }
  return out;
}

/** Fills a flat buffer from PEFT-named tensors; every expected key must be present with the right size. */
export function adapterFromTensors(layout: AdapterLayout, tensors: Map<string, Float32Array>): Float32Array {
  const params = new Float32Array(layout.size);
  const expected = new Set<string>();
  for (const s of layout.slots) {
    for (const which of ['A', 'B'] as const) {
      const key = adapterKey(s.layer, s.module, which);
      expected.add(key);
      const t = tensors.get(key);
      const size = which === 'A' ? s.r * s.in : s.out * s.r;
      if (!t) throw new LoraConfigError(`adapter tensor "${key}" is missing`);
      if (t.length !== size) throw new LoraConfigError(`adapter tensor "${key}" has ${t.length} values, expected ${size}`);
      params.set(t, which === 'A' ? s.offsetA : s.offsetB);
    }
  }
  for (const key of tensors.keys()) {
    if (!expected.has(key)) throw new LoraConfigError(`adapter tensor "${key}" is not part of this configuration`);
  }
  return params;
}
