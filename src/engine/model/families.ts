/**
 * The model families the engine runs, chosen from a config.json alone: what a family is called,
 * its size, and its memory plan — before any weight is downloaded (the CLI's `plan`, the studio's
 * model cards). Loading weights is load.ts.
 */
import { parseHfConfig, type ModelSpec } from '../../formats/hfConfig';
import type { LoraSettings } from '../../settings/settings';
import type { WeightFormat } from '../kernels/quant/layout';
import type { MemoryConfig, MemoryPlan, ModelDescription } from './model';
import { baseFormats, llamaAdapterLayout, llamaMemoryPlan, llamaStorage, llamaWeightBytes, type PlanDevice } from './llamaConfig';

export type { WeightFormat, PlanDevice };

/** What the planner needs of a model, loaded (TrainableModel) or known from its config alone. */
export interface Plannable {
  readonly description: Pick<ModelDescription, 'maxPositions' | 'weightFormat' | 'weightFormats'>;
  /** Bytes of a configuration with the base stored in `weights` (default: as loaded). */
  memoryPlan(lora: LoraSettings, cfg: MemoryConfig, weights?: WeightFormat): MemoryPlan;
}

export interface FamilyPlan {
  family: string;
  architecture: string;
  layers: number;
  hidden: number;
  vocab: number;
  maxPositions: number;
  /** Parameters of the base model. */
  parameters: number;
  /** Trainable parameters of an adapter with these settings. */
  adapterParameters(lora: LoraSettings): number;
  memoryPlan(lora: LoraSettings, cfg: MemoryConfig, weights: WeightFormat, device: PlanDevice): MemoryPlan;
  /** The model as the planner sees it on a device (formats it can be stored in there). */
  onDevice(device: PlanDevice): Plannable;
}

/** Values in every tensor of the checkpoint (the f32 bytes of the weights over 4). */
function llamaParameters(spec: ModelSpec): number {
  const unlimited = { f16: false, maxStorageBufferBindingSize: Number.MAX_SAFE_INTEGER, maxBufferSize: Number.MAX_SAFE_INTEGER };
  return llamaWeightBytes(spec, llamaStorage('f32'), unlimited).total / 4;
}

/** The family of a config.json (parsed JSON or text); throws the config parser's typed error. */
export function familyFromConfig(config: unknown, file = 'config.json'): FamilyPlan {
  const spec = parseHfConfig(config, file);
  const memoryPlan = (lora: LoraSettings, cfg: MemoryConfig, weights: WeightFormat, device: PlanDevice) =>
    llamaMemoryPlan(spec, lora, { ...cfg, storage: llamaStorage(weights), device });
  return {
    family: 'llama',
    architecture: spec.architecture,
    layers: spec.numLayers,
    hidden: spec.hiddenSize,
    vocab: spec.vocabSize,
    maxPositions: spec.maxPositionEmbeddings,
    parameters: llamaParameters(spec),
    adapterParameters: (lora) => llamaAdapterLayout(spec, lora).size,
    memoryPlan,
    onDevice: (device) => {
      const formats = baseFormats(device.f16);
      return {
        description: { maxPositions: spec.maxPositionEmbeddings, weightFormat: formats[0], weightFormats: formats },
        memoryPlan: (lora, cfg, weights = formats[0]) => memoryPlan(lora, cfg, weights, device),
      };
    },
  };
}
