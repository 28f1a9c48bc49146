/**
 * The model families the engine runs, chosen from a config.json alone: what a family is called,
 * its size, and its memory plan — before any weight is downloaded (the CLI's `plan`, the studio's
 * model cards). Loading weights is load.ts.
 */
import { parseHfConfig, type ModelSpec } from '../../formats/hfConfig';
import type { LoraSettings } from '../../settings/settings';
import type { MemoryPlan } from './model';
import { logitsChunkTokens } from '../train/memory';
import type { MemoryConfig } from './model';
import { llamaMemoryPlan } from './llamaConfig';
import { llamaAdapterLayout } from './llama';

export type WeightFormat = 'f32' | 'f16';

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
  memoryPlan(lora: LoraSettings, cfg: MemoryConfig, weights: WeightFormat, maxBindingBytes: number): MemoryPlan;
}

function llamaParameters(spec: ModelSpec): number {
  return llamaMemoryPlan(spec, { r: 1, alpha: 1, dropout: 0, targets: ['q_proj'], useRslora: false, layers: null }, {
    batchSize: 1, seqLen: 1, gradientCheckpointing: false, kvCacheTokens: 0, weightsF16: false, logitsChunkTokens: 1,
  }).weights / 4;
}

/** The family of a config.json (parsed JSON or text); throws the config parser's typed error. */
export function familyFromConfig(config: unknown, file = 'config.json'): FamilyPlan {
  const spec = parseHfConfig(config, file);
  return {
    family: 'llama',
    architecture: spec.architecture,
    layers: spec.numLayers,
    hidden: spec.hiddenSize,
    vocab: spec.vocabSize,
    maxPositions: spec.maxPositionEmbeddings,
    parameters: llamaParameters(spec),
    adapterParameters: (lora) => llamaAdapterLayout(spec, lora).size,
    memoryPlan: (lora, cfg, weights, maxBindingBytes) =>
      llamaMemoryPlan(spec, lora, { ...cfg, weightsF16: weights === 'f16', logitsChunkTokens: logitsChunkTokens(spec.vocabSize, cfg.batchSize * cfg.seqLen, maxBindingBytes) }),
  };
}
