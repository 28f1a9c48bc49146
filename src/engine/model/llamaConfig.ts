/**
 * What the Llama family is from its config alone (no weights loaded): its adapter layout (the seven
 * projections at their Hugging Face paths) and the GPU bytes a configuration needs, exactly as
 * LlamaGpu allocates them — the planner, the studio's memory bar and the CLI's `plan` use it.
 */
import { moduleShape, modulePath, type ModelSpec } from '../../formats/hfConfig';
import { TARGET_MODULES } from '../../settings/settings';
import { quantPartRows, weightBytes, type WeightBytes, type WeightFormat } from '../kernels/quant/layout';
import { lmheadChunkTokens } from '../kernels/lmhead/chunks';
import type { MemoryConfig, MemoryPlan } from './model';
import { buildAdapterLayout, type AdapterLayout, type LoraSettings } from './lora';

/** The Llama family's adapter layout: its seven projections, at their Hugging Face paths. */
export function llamaAdapterLayout(spec: ModelSpec, lora: LoraSettings): AdapterLayout {
  return buildAdapterLayout(spec.numLayers, (layer, module) => ({ ...moduleShape(spec, module), path: modulePath(layer, module) }), lora);
}


const F32 = 4;

/** What a memory plan needs of the device: shader-f16, and the limits that split buffers. */
export interface PlanDevice {
  f16: boolean;
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
}

/**
 * How LlamaGpu stores each kind of frozen tensor for a base precision (one rule, for the loader and
 * the plan). Norm weights are always f32.
 *
 *   base   projections  q/k/v bias  embedding = tied LM head, untied lm_head
 *   f32    f32          f32         f32
 *   f16    f16          f16         f16
 *   q8     q8           f32         q8
 *   nf4    nf4          f32         q8
 *
 * Under a quantized base the table is 8-bit per row, never 4-bit: QLoRA keeps the embeddings and
 * the LM head out of its 4-bit layers (every logit reads the head), and an int8 row keeps ~0.4% of
 * its absmax. Measured (bench quant, lavapipe, SmolLM2-135M, N 256): the fused LM head + loss took
 * 17.1 s over an f32 table, 15.9 s f16, 11.9 s q8, 11.1 s nf4 — at this width the head streams its
 * table, so the byte it saves a weight is time saved too, besides half the f16 table's memory.
 */
export interface LlamaStorage {
  base: WeightFormat;
  /** q/k/v/o/gate/up/down */
  projections: WeightFormat;
  /** q/k/v biases (Qwen2): the fused kernels read them in W's dtype when W is f16, f32 otherwise. */
  bias: 'f32' | 'f16';
  /** The embedding table, which is also the tied LM head; an untied lm_head is stored alike. */
  table: WeightFormat;
}

/** The base precisions a device can store, most precise first (f16 only with shader-f16). */
export function baseFormats(deviceF16: boolean): WeightFormat[] {
  return deviceF16 ? ['f32', 'f16', 'q8', 'nf4'] : ['f32', 'q8', 'nf4'];
}

export function llamaStorage(base: WeightFormat): LlamaStorage {
  const quantized = base === 'q8' || base === 'nf4';
  return {
    base,
    projections: base,
    bias: base === 'f16' ? 'f16' : 'f32',
    table: quantized ? 'q8' : base,
  };
}

/** Bytes of the largest buffer (and of a binding) a frozen tensor's part may take on this device. */
export function partLimit(device: Pick<PlanDevice, 'maxStorageBufferBindingSize' | 'maxBufferSize'>): number {
  return Math.min(device.maxStorageBufferBindingSize, device.maxBufferSize);
}

/**
 * Rows per part of a [rows, cols] table stored in `format`, as LlamaGpu.load splits it: f32 / f16
 * tables in binding-sized blocks of rows (each a buffer of its own, so no buffer outgrows a binding),
 * quantized ones as uploadQuantized splits them.
 */
export function tablePartRows(format: WeightFormat, rows: number, cols: number, device: Pick<PlanDevice, 'maxStorageBufferBindingSize' | 'maxBufferSize'>): number {
  const limit = partLimit(device);
  if (format === 'q8' || format === 'nf4') return quantPartRows(format, rows, cols, limit);
  const rowBytes = cols * (format === 'f16' ? 2 : 4);
  const fit = Math.floor(limit / rowBytes);
  // Whole 64-row tiles per part: the LM head's logits matmul takes a part's rows as its N and its
  // first row as an offset, and its vec4 kernel needs both to be multiples of 4 (a 151936 × 896
  // f16 table in 128 MiB bindings: parts of 74880 rows, not 74898). An f16 part then also ends on
  // a 4-byte boundary.
  const per = fit >= 64 ? Math.floor(fit / 64) * 64 : fit > 1 && (fit * rowBytes) % 4 !== 0 ? fit - 1 : fit;
  return Math.min(rows, per);
}

/** GPU bytes of one frozen [rows, cols] tensor as LlamaGpu.load stores it (a table: split by tablePartRows). */
function tensorBytes(format: WeightFormat, rows: number, cols: number, device: PlanDevice, options: { bias?: boolean; table?: boolean } = {}): WeightBytes {
  const quantized = format === 'q8' || format === 'nf4';
  const rowsPerPart = options.table || quantized ? tablePartRows(format, rows, cols, device) : rows;
  if (rowsPerPart < 1) return { values: Infinity, scales: 0, bias: 0, total: Infinity, largestBuffer: Infinity };
  if (quantized) return weightBytes(format, rows, cols, { bias: options.bias, rowsPerPart });
  // f32 / f16 parts, each padded to 4 bytes
  let total = 0;
  let largest = 0;
  for (let r0 = 0; r0 < rows; r0 += rowsPerPart) {
    const part = weightBytes(format, Math.min(rowsPerPart, rows - r0), cols);
    total += part.values;
    largest = Math.max(largest, part.values);
  }
  const bias = options.bias ? weightBytes(format, rows, 1).values : 0;
  return { values: total, scales: 0, bias, total: total + bias, largestBuffer: Math.max(largest, bias) };
}

/**
 * Bytes of the frozen weights as LlamaGpu.load stores them with `storage` on `device`: every
 * projection (and bias), the embedding table (also the tied LM head), an untied LM head, the norms;
 * and the largest single buffer among them.
 */
export function llamaWeightBytes(spec: ModelSpec, storage: LlamaStorage, device: PlanDevice): { total: number; largest: number; largestName: string } {
  const C = spec.hiddenSize;
  const table = tensorBytes(storage.table, spec.vocabSize, C, device, { table: true });
  let total = table.total;
  let largest = table.largestBuffer;
  let largestName = 'model.embed_tokens.weight';
  for (const m of TARGET_MODULES) {
    const s = moduleShape(spec, m);
    const bias = spec.attentionBias && (m === 'q_proj' || m === 'k_proj' || m === 'v_proj');
    const b = tensorBytes(storage.projections, s.out, s.in, device, { bias });
    // the bias is stored in storage.bias: f16 beside f16 projections (as weightBytes counts it), else f32
    total += spec.numLayers * b.total;
    if (b.largestBuffer > largest) {
      largest = b.largestBuffer;
      largestName = `model.layers.0.*.${m}.weight`;
    }
  }
  if (!spec.tieWordEmbeddings) {
    total += table.total;
    if (table.largestBuffer > largest) {
      largest = table.largestBuffer;
      largestName = 'lm_head.weight';
    }
  }
  total += (spec.numLayers * 2 * C + C + (spec.qkNorm ? spec.numLayers * 2 * spec.headDim : 0)) * F32; // norms
  total += (spec.headDim / 2) * F32; // RoPE inverse frequencies
  return { total, largest, largestName };
}

/** Step scalars and counters, the grad-norm partials, the readback ring: a few KiB whatever the model. */
const SCALAR_BYTES = 16 << 10;

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
  return 3 * C + QD + 2 * KD + QD + 3 * I + spec.numHeads /* attention delta */ + (spec.qkNorm ? QD + KD : 0) /* dq, dk before q/k norm */;
}

export interface LlamaMemoryConfig extends MemoryConfig {
  /** How the frozen weights are stored (llamaStorage). */
  storage: LlamaStorage;
  device: PlanDevice;
}

export function llamaMemoryPlan(spec: ModelSpec, lora: LoraSettings, cfg: LlamaMemoryConfig): MemoryPlan {
  const N = cfg.batchSize * cfg.seqLen;
  const w = llamaWeightBytes(spec, cfg.storage, cfg.device);
  // Parameters, gradients, Adam m and v; and while a checkpoint (or the run's end) reads params, m
  // and v back, a mapped staging copy of each.
  const adapter = llamaAdapterLayout(spec, lora).size * F32 * (4 + 3);
  const perLayer = layerSavedPerToken(spec, lora) * N * F32;
  // Beyond the layers: the last hidden state xs[L], the final normed hidden state and its rrms.
  const head = (2 * spec.hiddenSize + 1) * N * F32;
  const activations = cfg.gradientCheckpointing
    ? spec.numLayers * spec.hiddenSize * N * F32 + head // layer inputs only
    : spec.numLayers * perLayer + head;
  const dropoutScratch = lora.dropout > 0 ? N * Math.max(spec.hiddenSize, spec.numHeads * spec.headDim, spec.intermediateSize) * F32 : 0;
  const workspace = workspacePerToken(spec) * N * F32 + (cfg.gradientCheckpointing ? perLayer : 0) + N * 4 * 4 * (1 + (cfg.stagedBatches ?? 0)) /* ids, labels, positions, segments (live and staged) */ + dropoutScratch
    + 2 * N * 4 /* per-token loss and correctness */ + N * lora.r * F32 /* du */ + SCALAR_BYTES;
  // The LM head's logits chunk, exactly as LlamaGpu sizes it (kernels/lmhead/chunks.ts).
  const logitsChunk = lmheadChunkTokens(N, spec.vocabSize, cfg.device.maxStorageBufferBindingSize) * spec.vocabSize * F32;
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
