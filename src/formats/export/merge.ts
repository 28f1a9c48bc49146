/**
 * The merged model an export writes: W' = W + s·B·A for every adapted projection (s = alpha/r, or
 * alpha/√r with rsLoRA, per module as PEFT computes it), every other tensor unchanged, on
 * PEFT-named tensors. The only merge: the CLI's `merge` and every export use it, for a Llama-family
 * decoder and for a BERT-family encoder alike; an encoder's SEQ_CLS adapter also carries its head,
 * trained in full (modules_to_save), which replaces the base's.
 */
import type { ModelSpec } from '../hfConfig';
import type { EncoderConfig, SequenceClassificationTask } from '../encoderConfig';
import { expectedAdapterTensors, expectedHeadTensors, loraScaleAt, type LoraConfig } from '../peft';
import { ExportError, type WeightReader } from './types';

export interface LoraAdapter {
  config: LoraConfig;
  /** PEFT-named tensors: A [r, in], B [out, r] (and a SEQ_CLS adapter's head under its modules_to_save keys), f32. */
  tensors: Map<string, Float32Array>;
  /** A SEQ_CLS adapter's task: problem type and label names (from its config.json; peft.ts seqClsTask). */
  task?: SequenceClassificationTask;
}

/** What an adapter is checked and merged against: a decoder's spec, or an encoder's config with num_labels of the adapter's head. */
export type MergeBase = ModelSpec | EncoderConfig;

function isEncoder(base: MergeBase): base is EncoderConfig {
  return 'family' in base;
}

/** The head tensors a SEQ_CLS adapter replaces: model tensor name → adapter key. */
function headTensors(base: MergeBase, adapter: LoraAdapter): { key: string; name: string; shape: number[] }[] {
  return isEncoder(base) ? expectedHeadTensors(base, adapter.config.modulesToSave ?? undefined) : [];
}

/** Checks an adapter's tensors against its config and the model: every key, every size. */
export function checkAdapter(base: MergeBase, adapter: LoraAdapter): void {
  const problems: string[] = [];
  const expected = [...expectedAdapterTensors(base, adapter.config), ...headTensors(base, adapter)];
  for (const e of expected) {
    const t = adapter.tensors.get(e.key);
    const n = e.shape.reduce((a, b) => a * b, 1);
    if (!t) problems.push(`missing "${e.key}"`);
    else if (t.length !== n) problems.push(`"${e.key}" has ${t.length} values, expected ${e.shape.join('×')}`);
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

/**
 * A weight reader that returns the merged weights (the base reader when there is no adapter), by
 * the model's own tensor names: an adapted projection's `{module}.weight` merged, an encoder's head
 * tensors the adapter trained taken from it, the rest from `base`.
 */
export function mergedWeights(base: MergeBase, read: WeightReader, adapter: LoraAdapter | null): WeightReader {
  if (!adapter) return read;
  checkAdapter(base, adapter);
  const byWeight = new Map<string, { module: string; a: string; b: string; r: number; inF: number; outF: number }>();
  for (const e of expectedAdapterTensors(base, adapter.config)) {
    if (e.which !== 'A') continue;
    const [r, inF] = e.shape;
    const bKey = e.key.replace('.lora_A.', '.lora_B.');
    const outF = adapter.tensors.get(bKey)!.length / r;
    byWeight.set(`${e.module}.weight`, { module: e.module, a: e.key, b: bKey, r, inF, outF });
  }
  const head = new Map(headTensors(base, adapter).map((h) => [h.name, h.key]));
  return async (name: string) => {
    const headKey = head.get(name);
    if (headKey) return adapter.tensors.get(headKey)!;
    const w = await read(name);
    const m = byWeight.get(name);
    if (!m) return w;
    if (w.length !== m.outF * m.inF) throw new ExportError(`tensor "${name}" has ${w.length} values, but the adapter's ${m.module} is ${m.outF}×${m.inF}`);
    return mergeProjection(w, adapter.tensors.get(m.a)!, adapter.tensors.get(m.b)!, m.r, m.inF, m.outF, loraScaleAt(adapter.config, m.module));
  };
}
