/**
 * The memory planner: GPU bytes a configuration needs, computed before anything is allocated, and
 * a refusal that names the setting to lower and the value that fits.
 *
 * WebGPU does not report how much memory a device has, so the budget is an input (the UI offers a
 * guess from the adapter; the CLI a flag). What WebGPU does report, maxBufferSize, bounds every
 * single buffer.
 */
import type { ModelSpec } from '../../formats/hfConfig';
import { adapterLayout, projectionShape, type LoraSettings } from '../model/lora';

export interface MemoryConfig {
  /** Rows per micro-batch. */
  batchSize: number;
  /** Tokens per row. */
  seqLen: number;
  gradientCheckpointing: boolean;
  /** Frozen weights stored as f16. */
  weightsF16: boolean;
  /** Tokens per LM-head chunk (logits chunk = chunk · V floats). */
  logitsChunkTokens: number;
  /** Tokens a generation KV cache holds (0: no cache). */
  kvCacheTokens: number;
}

export interface MemoryLimits {
  /** Total bytes the configuration may use. */
  budgetBytes: number;
  maxBufferSize: number;
}

export interface MemoryPlan {
  weights: number;
  /** Adapter parameters, gradients and Adam m and v (all f32). */
  adapter: number;
  /** Saved activations for backward, all layers. */
  activations: number;
  /** Backward's working gradients plus one layer's recomputation when checkpointing. */
  workspace: number;
  logitsChunk: number;
  kvCache: number;
  total: number;
  /** The largest single buffer. */
  largestBuffer: number;
  largestBufferName: string;
}

const F32 = 4;

/** Bound of one chunk of LM-head logits during training ([rows, V] f32); the model sizes its chunk with it. */
export const LOGITS_CHUNK_BYTES = 16 << 20;

/**
 * Tokens per LM-head logits chunk, exactly as LlamaGpu sizes it (lmheadChunkRows with
 * LOGITS_CHUNK_BYTES): callers of the planner pass this as `logitsChunkTokens`.
 */
export function logitsChunkTokens(vocabSize: number, tokens: number, maxStorageBufferBindingSize: number): number {
  const bytes = Math.min(LOGITS_CHUNK_BYTES, maxStorageBufferBindingSize);
  return Math.max(1, Math.min(tokens, Math.floor(bytes / (vocabSize * F32))));
}

/**
 * Bytes of the frozen weights as LlamaGpu.load stores them: projections, their biases and an
 * untied LM head in f16 when `f16`, the embedding table (also the tied LM head) and every norm
 * weight always in f32.
 */
export function weightBytes(spec: ModelSpec, f16: boolean): { total: number; largest: number; largestName: string } {
  const C = spec.hiddenSize;
  const per = f16 ? 2 : 4;
  let f32Elements = spec.vocabSize * C + C; // embedding + final norm
  let perElements = 0;
  let largest = spec.vocabSize * C * F32;
  let largestName = 'model.embed_tokens.weight';
  for (const m of ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const) {
    const s = projectionShape(spec, m);
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

export function planMemory(spec: ModelSpec, lora: LoraSettings, cfg: MemoryConfig): MemoryPlan {
  const N = cfg.batchSize * cfg.seqLen;
  const w = weightBytes(spec, cfg.weightsF16);
  const adapter = adapterLayout(spec, lora).size * F32 * 4;
  const perLayer = layerSavedPerToken(spec, lora) * N * F32;
  const activations = cfg.gradientCheckpointing
    ? spec.numLayers * spec.hiddenSize * N * F32 + N * spec.hiddenSize * F32 // layer inputs + final hidden
    : spec.numLayers * perLayer + N * spec.hiddenSize * F32;
  const dropoutScratch = lora.dropout > 0 ? N * Math.max(spec.hiddenSize, spec.numHeads * spec.headDim, spec.intermediateSize) * F32 : 0;
  const workspace = workspacePerToken(spec) * N * F32 + (cfg.gradientCheckpointing ? perLayer : 0) + N * 4 * 4 /* ids, labels, positions, segments */ + dropoutScratch;
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

export class MemoryPlanError extends Error {
  constructor(message: string, readonly plan: MemoryPlan) {
    super(message);
    this.name = 'MemoryPlanError';
  }
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(u === 0 ? 0 : 1)} ${units[u]}`;
}

/**
 * Throws MemoryPlanError when the configuration cannot fit: the message says which setting to
 * lower and to what (batch size first, then sequence length, then checkpointing, then rank).
 */
export function checkMemory(spec: ModelSpec, lora: LoraSettings, cfg: MemoryConfig, limits: MemoryLimits): MemoryPlan {
  const plan = planMemory(spec, lora, cfg);
  if (plan.largestBuffer > limits.maxBufferSize) {
    const what = plan.largestBufferName === 'logits chunk'
      ? `lower the logits chunk to ${Math.max(1, Math.floor(limits.maxBufferSize / (spec.vocabSize * F32)))} tokens`
      : plan.largestBufferName === 'largest activation'
        ? `lower the batch size to ${Math.max(1, Math.floor((cfg.batchSize * limits.maxBufferSize) / plan.largestBuffer))}`
        : cfg.weightsF16 ? 'this model cannot be loaded on this device' : 'use a device with shader-f16 so weights are stored as f16';
    throw new MemoryPlanError(
      `${plan.largestBufferName} needs a ${formatBytes(plan.largestBuffer)} buffer but this GPU allows at most ${formatBytes(limits.maxBufferSize)}: ${what}`,
      plan,
    );
  }
  if (plan.total <= limits.budgetBytes) return plan;
  const fits = (c: MemoryConfig, l = lora) => planMemory(spec, l, c).total <= limits.budgetBytes;
  const need = `needs ${formatBytes(plan.total)} of GPU memory but ${formatBytes(limits.budgetBytes)} is available`;
  for (let b = cfg.batchSize - 1; b >= 1; b--) {
    if (fits({ ...cfg, batchSize: b })) {
      throw new MemoryPlanError(`This configuration ${need}: lower the batch size from ${cfg.batchSize} to ${b} (raise gradient accumulation to keep the effective batch)`, plan);
    }
  }
  const one = { ...cfg, batchSize: 1 };
  if (!cfg.gradientCheckpointing && fits({ ...cfg, gradientCheckpointing: true })) {
    throw new MemoryPlanError(`This configuration ${need}: turn on gradient checkpointing`, plan);
  }
  for (let t = Math.floor(cfg.seqLen / 2); t >= 16; t = Math.floor(t / 2)) {
    if (fits({ ...one, seqLen: t, gradientCheckpointing: true })) {
      let best = t;
      for (let s = t; s < cfg.seqLen; s += 16) if (fits({ ...one, seqLen: s, gradientCheckpointing: true })) best = s;
      throw new MemoryPlanError(`This configuration ${need}: lower the max sequence length from ${cfg.seqLen} to ${best} (with batch size 1 and gradient checkpointing)`, plan);
    }
  }
  throw new MemoryPlanError(`This configuration ${need}; even batch size 1 at 16 tokens does not fit: the model weights alone take ${formatBytes(plan.weights)}`, plan);
}
