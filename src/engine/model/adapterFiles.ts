/**
 * The engine's adapter in and out of PEFT's folder format (formats/peft.ts does the files), and
 * merging an adapter into the base weights (W' = W + s·B·A).
 */
import type { ModelSpec } from '../../formats/hfConfig';
import { type LoraConfig, readPeftAdapter, writePeftAdapter } from '../../formats/peft';
import type { ByteSource } from '../../formats/byteSource';
import { type AdapterLayout, type LoraSettings, LoraConfigError, adapterFromTensors, adapterLayout, adapterTensors, projectionWeightName } from './lora';

export type AdapterFiles = { 'adapter_model.safetensors': Uint8Array; 'adapter_config.json': string };

export function toPeftConfig(settings: LoraSettings, baseModelNameOrPath: string, revision: string | null = null): LoraConfig {
  return {
    r: settings.r,
    alpha: settings.alpha,
    dropout: settings.dropout,
    targetModules: [...settings.targets],
    useRslora: settings.useRslora,
    layers: settings.layers ? [...settings.layers] : null,
    baseModelNameOrPath,
    revision,
    rankPattern: {},
    alphaPattern: {},
  };
}

export function fromPeftConfig(config: LoraConfig): LoraSettings {
  if (Object.keys(config.rankPattern).length || Object.keys(config.alphaPattern).length) {
    throw new LoraConfigError('adapter_config.json: rank_pattern / alpha_pattern (per-module ranks) are not supported by the engine');
  }
  return { r: config.r, alpha: config.alpha, dropout: config.dropout, targets: [...config.targetModules], layers: config.layers ? [...config.layers] : null, useRslora: config.useRslora };
}

export function exportAdapter(spec: ModelSpec, layout: AdapterLayout, params: Float32Array, baseModelNameOrPath: string): AdapterFiles {
  return writePeftAdapter(spec, toPeftConfig(layout.settings, baseModelNameOrPath), adapterTensors(layout, params));
}

export async function importAdapter(
  spec: ModelSpec,
  files: { 'adapter_model.safetensors': Uint8Array | ByteSource; 'adapter_config.json': string },
): Promise<{ settings: LoraSettings; layout: AdapterLayout; params: Float32Array; config: LoraConfig }> {
  const { config, tensors } = await readPeftAdapter(files, spec);
  const settings = fromPeftConfig(config);
  const layout = adapterLayout(spec, settings);
  return { settings, layout, params: adapterFromTensors(layout, tensors), config };
}

/**
 * Returns the merged projection weights W + s·B·A [out, in] by HF name (only the adapted ones);
 * every other tensor of the base model is unchanged.
 */
export function mergeAdapter(layout: AdapterLayout, params: ArrayLike<number>, read: (name: string) => Float32Array): Map<string, Float32Array> {
  const merged = new Map<string, Float32Array>();
  const s = layout.scale;
  for (const slot of layout.slots) {
    const name = projectionWeightName(slot.layer, slot.module);
    const w = Float32Array.from(read(name));
    const { in: IN, out: OUT, r: R } = slot;
    for (let o = 0; o < OUT; o++) {
      for (let k = 0; k < IN; k++) {
        let acc = 0;
        for (let r = 0; r < R; r++) acc += params[slot.offsetB + o * R + r] * params[slot.offsetA + r * IN + k];
        w[o * IN + k] += s * acc;
      }
    }
    merged.set(name, w);
  }
  return merged;
}
