/**
 * What the Llama family is from its config alone (no weights loaded): its adapter layout (the seven
 * projections at their Hugging Face paths) and the GPU bytes a configuration needs, exactly as
 * LlamaGpu allocates them — the planner, the studio's memory bar and the CLI's `plan` use it.
 */
import { moduleShape, modulePath, type ModelSpec } from '../../formats/hfConfig';
import { TARGET_MODULES } from '../../settings/settings';
import type { MemoryConfig, MemoryPlan } from './model';
import { buildAdapterLayout, type AdapterLayout, type LoraSettings } from './lora';

/** The Llama family's adapter layout: its seven projections, at their Hugging Face paths. */
export function llamaAdapterLayout(spec: ModelSpec, lora: LoraSettings): AdapterLayout {
  return buildAdapterLayout(spec.numLayers, (layer, module) => ({ ...moduleShape(spec, module), path: modulePath(layer, module) }), lora);
}


const F32 = 4;

export interface LlamaMemoryConfig extends MemoryConfig {
  /** Frozen projections stored as f16. */
  weightsF16: boolean;
  /** Tokens per LM-head chunk (logits chunk = chunk · V floats). */
  logitsChunkTokens: number;
}

/**
 * Bytes of the frozen weights as LlamaGpu.load stores them: projections, their biases and an
 * untied LM head in f16 when `f16`, the embedding table (also the tied LM head) and every norm
 * weight always in f32.
 */
export function llamaWeightBytes(spec: ModelSpec, f16: boolean): { total: number; largest: number; largestName: string } {
  const C = spec.hiddenSize;
  const per = f16 ? 2 : 4;
  let f32Elements = spec.vocabSize * C + C; // embedding + final norm
  let perElements = 0;
  let largest = spec.vocabSize * C * F32;
  let largestName = 'model.embed_tokens.weight';
  for (const m of TARGET_MODULES) {
    const s = moduleShape(spec, m);
    perElements += spec.numLayers * s.in * s.out;
    if (s.in * s.out * per > largest) {
      largest = s.in * s.out * per;
      largestName = `model.layers.0.*.${m}.weight`;
    }
  }
  f32Elements += spec.numLayers * 2 * C;
  if (spec.attentionBias) perElements += spec.numLayers * (spec.numHeads + 2 * spec.numKvHeads) * spec.headDim;
  if (spec.qkNorm) f32Elements += spec.numLayers * 2 * spec.headDim;
  if (!spec.tieWordEmbeddings) {
    perElements += spec.vocabSize * C;
    if (spec.vocabSize * C * per > largest) {
      largest = spec.vocabSize * C * per;
      largestName = 'lm_head.weight';
    }
  }
  return { total: f32Elements * F32 + perElements * per, largest, largestName };
}

/** f32 floats one layer saves for its backward, per token. */
function layerSavedPerToken(spec: ModelSpec, lora: LoraSettings): number {
  const C = spec.hiddenSize;
  const QD = spec.numHeads * spec.headDim;
  const KD = spec.numKvHeads * spec.headDim;
  const I = spec.intermediateSize;
  let floats = C /* layer input */ + C /* h1 */ + QD + 2 * KD /* q, k, v after rope */ + QD /* attention out */ + spec.numHeads /* lse */;
  floats += C /* x2 */ + C /* h2 */ + 3 * I /* gate, up, act */ + 2 /* rrms */;
  if (spec.qkNorm) floats += QD + KD + spec.numHeads + spec.numKvHeads;
  floats += lora.targets.length * lora.r; // u = drop(x)·Aᵀ per adapted projection
  return floats;
}

/** f32 floats of backward's gradient buffers per token (live at once inside one layer). */
function workspacePerToken(spec: ModelSpec): number {
  const C = spec.hiddenSize;
  const QD = spec.numHeads * spec.headDim;
  const KD = spec.numKvHeads * spec.headDim;
  const I = spec.intermediateSize;
  return 3 * C + QD + 2 * KD + QD + 3 * I;
}

export function llamaMemoryPlan(spec: ModelSpec, lora: LoraSettings, cfg: LlamaMemoryConfig): MemoryPlan {
  const N = cfg.batchSize * cfg.seqLen;
  const w = llamaWeightBytes(spec, cfg.weightsF16);
  const adapter = llamaAdapterLayout(spec, lora).size * F32 * 4;
  const perLayer = layerSavedPerToken(spec, lora) * N * F32;
  const activations = cfg.gradientCheckpointing
    ? spec.numLayers * spec.hiddenSize * N * F32 + N * spec.hiddenSize * F32 // layer inputs + final hidden
    : spec.numLayers * perLayer + N * spec.hiddenSize * F32;
  const dropoutScratch = lora.dropout > 0 ? N * Math.max(spec.hiddenSize, spec.numHeads * spec.headDim, spec.intermediateSize) * F32 : 0;
  const workspace = workspacePerToken(spec) * N * F32 + (cfg.gradientCheckpointing ? perLayer : 0) + N * 4 * 4 * (1 + (cfg.stagedBatches ?? 0)) /* ids, labels, positions, segments (live and staged) */ + dropoutScratch;
  const logitsChunk = Math.min(cfg.logitsChunkTokens, N) * spec.vocabSize * F32;
  const kvCache = cfg.kvCacheTokens * spec.numLayers * 2 * spec.numKvHeads * spec.headDim * F32;
  const total = w.total + adapter + activations + workspace + logitsChunk + kvCache;
  const buffers: [string, number][] = [
    [w.largestName, w.largest],
    ['largest activation', N * Math.max(spec.intermediateSize, spec.numHeads * spec.headDim, spec.hiddenSize) * F32],
    ['logits chunk', logitsChunk],
  ];
  buffers.sort((a, b) => b[1] - a[1]);
  return { weights: w.total, adapter, activations, workspace, logitsChunk, kvCache, total, largestBuffer: buffers[0][1], largestBufferName: buffers[0][0] };
}
