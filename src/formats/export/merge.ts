/**
 * The merged model an export writes: W' = W + s·B·A for every adapted projection (s = alpha/r, or
 * alpha/√r with rsLoRA, per module as PEFT computes it), every other tensor unchanged, on
 * PEFT-named tensors. The only merge: the CLI's `merge` and every export use it.
 */
import { moduleGroup, moduleShape, type ModelSpec } from '../hfConfig';
import { expectedAdapterTensors, loraScale, type LoraConfig } from '../peft';
import { ExportError, type WeightReader } from './types';

export interface LoraAdapter {
  config: LoraConfig;
  /** PEFT-named tensors: A [r, in], B [out, r], f32. */
  tensors: Map<string, Float32Array>;
}

/** Checks an adapter's tensors against its config and the model: every key, every size. */
export function checkAdapter(spec: ModelSpec, adapter: LoraAdapter): void {
  const problems: string[] = [];
  for (const e of expectedAdapterTensors(spec, adapter.config)) {
    const t = adapter.tensors.get(e.key);
    if (!t) problems.push(`missing "${e.key}"`);
    else if (t.length !== e.shape[0] * e.shape[1]) problems.push(`"${e.key}" has ${t.length} values, expected ${e.shape.join('×')}`);
  }
  if (problems.length) throw new ExportError(`the adapter does not fit the model: ${problems.join('; ')}`);
}

/** W' = W + s·B·A [out, in], computed in float64 and rounded once to f32. */
export function mergeProjection(w: Float32Array, a: Float32Array, b: Float32Array, r: number, inF: number, outF: number, scale: number): Float32Array {
  const merged = new Float32Array(w.length);
  const row = new Float64Array(inF);
  for (let o = 0; o < outF; o++) {
    row.fill(0);
    for (let k = 0; k < r; k++) {
      const bk = b[o * r + k];
      if (bk === 0) continue;
      for (let i = 0; i < inF; i++) row[i] += bk * a[k * inF + i];
    }
    for (let i = 0; i < inF; i++) merged[o * inF + i] = w[o * inF + i] + scale * row[i];
  }
  return merged;
}

/** A weight reader that returns the merged weights (the base reader when there is no adapter). */
export function mergedWeights(spec: ModelSpec, base: WeightReader, adapter: LoraAdapter | null): WeightReader {
  if (!adapter) return base;
  checkAdapter(spec, adapter);
  const byWeight = new Map<string, { layer: number; target: (typeof adapter.config.targetModules)[number]; a: string; b: string }>();
  for (const e of expectedAdapterTensors(spec, adapter.config)) {
    if (e.which !== 'A') continue;
    const weight = `model.layers.${e.layer}.${moduleGroup(e.target)}.${e.target}.weight`;
    byWeight.set(weight, { layer: e.layer, target: e.target, a: e.key, b: e.key.replace('.lora_A.', '.lora_B.') });
  }
  return async (name: string) => {
    const w = await base(name);
    const m = byWeight.get(name);
    if (!m) return w;
    const { in: inF, out: outF } = moduleShape(spec, m.target);
    const a = adapter.tensors.get(m.a)!;
    const b = adapter.tensors.get(m.b)!;
    const r = a.length / inF;
    return mergeProjection(w, a, b, r, inF, outF, loraScale(adapter.config, m.layer, m.target));
  };
}
