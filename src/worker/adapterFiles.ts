// The adapter as PEFT files (and back), through the formats module's writer and reader.
import { adapterFromTensors, adapterLayout, adapterTensors, type AdapterLayout, type LoraModule } from '../engine/model/lora';
import { readPeftAdapter, writePeftAdapter, type LoraConfig } from '../formats/peft';
import type { ModelSpec } from '../formats/hfConfig';
import type { LoraSettings as StudioLora } from '../app/store/settings';

export function engineLora(lora: StudioLora) {
  return { r: lora.r, alpha: lora.alpha, dropout: lora.dropout, targets: [...lora.targets] as LoraModule[], layers: null, useRslora: lora.useRslora };
}

export function peftConfig(lora: StudioLora, baseModel: string): LoraConfig {
  return {
    r: lora.r,
    alpha: lora.alpha,
    dropout: lora.dropout,
    targetModules: [...lora.targets],
    useRslora: lora.useRslora,
    layers: null,
    baseModelNameOrPath: baseModel,
    revision: null,
    rankPattern: {},
    alphaPattern: {},
  };
}

export function writeAdapter(spec: ModelSpec, layout: AdapterLayout, params: Float32Array, lora: StudioLora, baseModel: string): { adapterModel: Uint8Array; adapterConfig: string } {
  const files = writePeftAdapter(spec, peftConfig(lora, baseModel), adapterTensors(layout, params));
  return { adapterModel: files['adapter_model.safetensors'], adapterConfig: files['adapter_config.json'] };
}

/** Reads PEFT files against a model: the flat parameters and the studio's LoRA settings. */
export async function readAdapter(spec: ModelSpec, files: { adapterModel: Uint8Array; adapterConfig: string }): Promise<{ layout: AdapterLayout; params: Float32Array; lora: StudioLora }> {
  const { config, tensors } = await readPeftAdapter({ 'adapter_model.safetensors': files.adapterModel, 'adapter_config.json': files.adapterConfig }, spec);
  if (Object.keys(config.rankPattern).length || Object.keys(config.alphaPattern).length) {
    throw new Error('adapter_config.json: rank_pattern / alpha_pattern adapters cannot be trained further in the studio');
  }
  const lora: StudioLora = { r: config.r, alpha: config.alpha, dropout: config.dropout, targets: [...config.targetModules], useRslora: config.useRslora };
  const layout = adapterLayout(spec, { ...engineLora(lora), layers: config.layers });
  return { layout, params: adapterFromTensors(layout, tensors), lora };
}
