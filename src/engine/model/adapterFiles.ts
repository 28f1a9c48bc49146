/**
 * The engine's adapter in and out of PEFT's folder format (formats/peft.ts is the one validator of
 * the files). Merging into the base weights is formats/export/merge.ts.
 */
import type { ModelSpec } from '../../formats/hfConfig';
import { type LoraConfig, readPeftAdapter, writePeftAdapter } from '../../formats/peft';
import type { ByteSource } from '../../formats/byteSource';
import { type AdapterLayout, type LoraSettings, LoraConfigError, adapterFromTensors, adapterTensors } from './lora';
import { llamaAdapterLayout } from './llama';

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

export interface ImportedAdapter {
  settings: LoraSettings;
  layout: AdapterLayout;
  params: Float32Array;
  config: LoraConfig;
}

export async function importAdapter(spec: ModelSpec, files: { 'adapter_model.safetensors': Uint8Array | ByteSource; 'adapter_config.json': string }): Promise<ImportedAdapter> {
  const { config, tensors } = await readPeftAdapter(files, spec);
  const settings = fromPeftConfig(config);
  const layout = llamaAdapterLayout(spec, settings);
  return { settings, layout, params: adapterFromTensors(layout, tensors), config };
}
