/**
 * The Llama-family model on the GPU. Frozen base weights live in labelled buffers without
 * gradient buffers; the adapter is one flat f32 buffer (plus grads, Adam m and v) laid out by
 * AdapterLayout. forward() is a readable list of kernel calls; backward() is the same list,
 * reversed. With gradient checkpointing only each layer's input is kept and the layer is
 * recomputed just before its backward.
 *
 * Letters: B rows, T tokens per row, N = B*T, C hidden, NH/KVH heads, HS head size, QD = NH*HS,
 * KD = KVH*HS, I intermediate, V vocab, R rank.
 */
import { ropeConfig } from './rope';
import type { MemoryPlan } from '../train/memory';
import { baseFormats, llamaAdapterLayout, llamaMemoryPlan, llamaStorage, tablePartRows, type LlamaStorage } from './llamaConfig';
export { llamaAdapterLayout };
import { moduleShape, moduleWeightName, type ModelSpec } from '../../formats/hfConfig';
import { TARGET_MODULES, type TargetModule } from '../../settings/settings';
import { f32ToF16, firstNonFiniteRaw, toF32 } from '../../formats/dtype';
import type { Gpu } from '../gpu/device';
import { createBuffer, readF32, readU32, writeBuffer } from '../gpu/buffers';
import { allocQuantized, destroyQuantized, fillQuantized, isQuantized, layoutOf } from '../kernels/quant/quant';
import type { FrozenWeight } from '../kernels/quant/weights';
import type { WeightFormat } from '../kernels/quant/layout';
import { lmheadChunkTokens } from '../kernels/lmhead/chunks';
import { rmsnormBackward, rmsnormForward } from '../kernels/rmsnorm/rmsnorm';
import { createRopeInvFreq, ropeBackward, ropeForward } from '../kernels/rope/rope';
import { attentionBackward, attentionForward } from '../kernels/attention/attention';
import { swigluBackward, swigluForward } from '../kernels/swiglu/swiglu';
import { addForward } from '../kernels/elementwise/elementwise';
import { type AdapterLayout, type LoraSettings, findSlot } from './lora';
import { type FrozenLinear, type LoraBinding, projectionBackward, projectionForward } from './projection';
import type { MicroBatch } from './types';
import { Batcher, type TokenDataset } from '../../data/batches';
import type { BatcherOptions, DropoutContext, EvalResult, GpuAdapter, MemoryConfig, ModelDescription, ModelWorkspace, TrainableModel, WorkspaceOptions } from './model';
import { embeddingForward } from '../kernels/embedding/embedding';
import { lmheadLogits, lmheadLoss } from '../kernels/lmhead/lmhead';
import { findNonFinite, finiteResults, readFiniteResults } from '../kernels/finite/finite';
import { Recorder } from '../gpu/recorder';

export class ModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelError';
  }
}

/**
 * Where LlamaGpu.load reads a checkpoint's tensors: whole tensors as f32 (a test's weight map, a
 * generated model), and where the source can, rows of a 2-D tensor as stored (F32, F16 or BF16
 * bytes), so that a large tensor streams in chunks and host memory holds one chunk, never a model.
 */
export interface TensorSource {
  readF32(name: string): Promise<Float32Array>;
  /** The stored dtype of a tensor (safetensors' F32, F16, BF16, …); needed with readRows. */
  dtype?(name: string): string;
  /** Raw little-endian bytes of rows [row0, row0 + count) of a 2-D tensor, in its stored dtype. */
  readRows?(name: string, row0: number, count: number): Promise<Uint8Array>;
}

/** A TensorSource, or just its readF32 (formats' openModelFolder().readTensorF32, a Map's get). */
export type TensorReader = ((name: string) => Promise<Float32Array>) | TensorSource;

export interface LoadOptions {
  /**
   * How the frozen base is stored (llamaConfig.ts llamaStorage): 'f32' (default), 'f16' (needs
   * shader-f16), 'q8' or 'nf4' (quantized on the GPU as the tensors stream in). The planner picks
   * it (planTraining: the setting, or the most precise that fits).
   */
  weights?: WeightFormat;
  onProgress?: (loaded: number, total: number, name: string) => void;
  signal?: AbortSignal;
}

/** Source bytes per chunk when a tensor streams into an f32 / f16 buffer (uploadQuantized has its own). */
const STREAM_CHUNK_BYTES = 4 << 20;

const STREAM_DTYPES: Record<string, 'f32' | 'f16' | 'bf16'> = { F32: 'f32', F16: 'f16', BF16: 'bf16' };

/** A buffer the finite scan reads after the load: values, or a quantized weight's scales. */
interface ScannedTensor {
  name: string;
  buffer: GPUBuffer;
  count: number;
  f16: boolean;
  /** What overflow means here (an f16 value, an f16 quantization scale). */
  scales?: boolean;
}

interface LayerWeights {
  inputNorm: GPUBuffer;
  postNorm: GPUBuffer;
  qNorm: GPUBuffer | null;
  kNorm: GPUBuffer | null;
  proj: Record<TargetModule, FrozenLinear>;
}

export type { GpuAdapter, DropoutContext };

/** What one layer saves for its backward ([N, …] f32 unless said). */
export interface LayerActs {
  rrms1: GPUBuffer; // [N]
  h1: GPUBuffer; // [N, C]
  qRaw: GPUBuffer | null; // [N, QD] before q_norm (qwen3)
  kRaw: GPUBuffer | null;
  qRrms: GPUBuffer | null; // [N*NH]
  kRrms: GPUBuffer | null; // [N*KVH]
  q: GPUBuffer; // [N, QD] after rope
  k: GPUBuffer; // [N, KD] after rope
  v: GPUBuffer; // [N, KD]
  att: GPUBuffer; // [N, QD]
  lse: GPUBuffer; // [N, NH]
  x2: GPUBuffer; // [N, C]
  rrms2: GPUBuffer; // [N]
  h2: GPUBuffer; // [N, C]
  gate: GPUBuffer; // [N, I]
  up: GPUBuffer; // [N, I]
  act: GPUBuffer; // [N, I]
  u: Map<TargetModule, GPUBuffer>; // [N, R] per adapted projection
}

/** The Philox site of a projection's dropout mask: layer·8 + module index. */
export function dropoutSite(layer: number, module: TargetModule): number {
  return layer * 8 + TARGET_MODULES.indexOf(module);
}

/** Replaces the attention of layer l (generation's decode step attends to the KV cache). */
export type AttendHook = (rec: Recorder, layer: number, acts: { q: GPUBuffer; k: GPUBuffer; v: GPUBuffer; att: GPUBuffer }) => void;

/** Buffers for micro-batches of up to maxTokens tokens. */
export interface Workspace extends ModelWorkspace {
  maxTokens: number;
  checkpointing: boolean;
  /** u32 [stagedBatches][4][maxTokens]: input ids, labels, positions, segments of staged micro-batches. */
  staging: GPUBuffer | null;
  stagedBatches: number;
  R: number;
  inputIds: GPUBuffer; // i32 [N]
  labels: GPUBuffer; // i32 [N]
  positionIds: GPUBuffer; // u32 [N]
  segmentIds: GPUBuffer; // u32 [N]
  xs: GPUBuffer[]; // layer inputs [L+1] × [N, C]; xs[L] is the last hidden state
  layers: LayerActs[]; // one per layer, or one shared when checkpointing
  rrmsF: GPUBuffer; // [N]
  hf: GPUBuffer; // [N, C] final normed hidden
  // backward scratch
  dx: GPUBuffer; // [N, C] residual gradient
  dh: GPUBuffer; // [N, C]
  dq: GPUBuffer; // [N, QD]
  dk: GPUBuffer; // [N, KD]
  dv: GPUBuffer; // [N, KD]
  dqRaw: GPUBuffer | null;
  dkRaw: GPUBuffer | null;
  datt: GPUBuffer; // [N, QD]
  delta: GPUBuffer; // [N, NH]
  dact: GPUBuffer; // [N, I]
  dgate: GPUBuffer; // [N, I]
  dup: GPUBuffer; // [N, I]
  du: GPUBuffer; // [N, R]
  xd: GPUBuffer | null; // [N, max IN] drop(x) scratch when the adapter has dropout
  dhf: GPUBuffer; // [N, C]
  logitsRows: number; // rows of one logits chunk
  logits: GPUBuffer; // [logitsRows, V]
  tokenLoss: GPUBuffer; // [N] cross-entropy per token (0 where ignored)
  tokenCorrect: GPUBuffer; // u32 [N] 1 where the label is the argmax
  lossSum: GPUBuffer; // [1] Σ target-token losses of the micro-batch
  targetCount: GPUBuffer; // u32 [2] target tokens, and of those predicted right
  buffers: GPUBuffer[];
}

export class LlamaGpu implements TrainableModel {
  readonly C: number;
  readonly NH: number;
  readonly KVH: number;
  readonly HS: number;
  readonly QD: number;
  readonly KD: number;
  readonly I: number;
  readonly V: number;
  private destroyed = false;

  private constructor(
    readonly gpu: Gpu,
    readonly spec: ModelSpec,
    /** How each kind of frozen tensor is stored (base precision, table, biases). */
    readonly storage: LlamaStorage,
    /** [V, C] in storage.table (the gather and the tied LM head read it), split by rows where large. */
    readonly embed: FrozenWeight,
    /** [V, C] (embed when tied), in storage.table. */
    readonly lmHead: FrozenWeight,
    readonly finalNorm: GPUBuffer,
    readonly layers: LayerWeights[],
    readonly invFreq: GPUBuffer,
    private owned: GPUBuffer[],
    /** Stops a load still streaming in (open's `loaded`) when the model is destroyed. */
    private loading: AbortController | null = null,
  ) {
    this.C = spec.hiddenSize;
    this.NH = spec.numHeads;
    this.KVH = spec.numKvHeads;
    this.HS = spec.headDim;
    this.QD = this.NH * this.HS;
    this.KD = this.KVH * this.HS;
    this.I = spec.intermediateSize;
    this.V = spec.vocabSize;
  }

  /** The base precision (storage.base). */
  get format(): WeightFormat {
    return this.storage.base;
  }

  /** LlamaGpu.open, waiting for the weights: the model with every weight in and checked. */
  static async load(gpu: Gpu, spec: ModelSpec, reader: TensorReader, options: LoadOptions = {}): Promise<LlamaGpu> {
    const { model, loaded } = LlamaGpu.open(gpu, spec, reader, options);
    await loaded;
    return model;
  }

  /**
   * Allocates every frozen weight, in the format storage gives it (llamaStorage of
   * options.weights), and hands out the model at once; `loaded` streams the tensors in, one at a
   * time in the file's order: quantized on the GPU as their rows stream in, converted to f16 chunk
   * by chunk, or as read. Every weight is checked for NaN and ±Inf (raw rows on the CPU before
   * quantization, buffers and quantization scales on the GPU after), naming the tensor.
   *
   * Until `loaded` resolves the model may be planned and recorded (a run compiles its pipelines
   * meanwhile: runTraining's `loading`) but not run. If the load fails, `loaded` rejects and the
   * model is destroyed; destroying the model stops the load.
   */
  static open(gpu: Gpu, spec: ModelSpec, reader: TensorReader, options: LoadOptions = {}): { model: LlamaGpu; loaded: Promise<void> } {
    if (spec.numHeads % spec.numKvHeads !== 0) throw new ModelError(`numHeads ${spec.numHeads} is not a multiple of numKvHeads ${spec.numKvHeads}`);
    const format = options.weights ?? 'f32';
    if (format === 'f16' && !gpu.features.f16) throw new ModelError('f16 weights need the shader-f16 feature, which this GPU lacks: load with f32, q8 or nf4');
    const storage = llamaStorage(format);
    const source: TensorSource = typeof reader === 'function' ? { readF32: reader } : reader;
    const owned: GPUBuffer[] = [];
    const scanned: ScannedTensor[] = [];
    /** Each tensor's upload, in the file's order; run after every buffer is allocated. */
    const fills: { name: string; fill: () => Promise<void> }[] = [];
    const stop = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
    const readAll = async (name: string, size: number): Promise<Float32Array> => {
      signal.throwIfAborted();
      const data = await source.readF32(name);
      signal.throwIfAborted();
      if (data.length !== size) throw new ModelError(`tensor "${name}" has ${data.length} values, expected ${size}`);
      return data;
    };
    /** A small f32 (or f16) vector: norms and biases. */
    const vector = (name: string, size: number, asF16: boolean): GPUBuffer => {
      const buffer = createBuffer(gpu, name, size * (asF16 ? 2 : 4));
      owned.push(buffer);
      scanned.push({ name, buffer, count: size, f16: asF16 });
      fills.push({ name, fill: async () => {
        const data = await readAll(name, size);
        writeBuffer(gpu, buffer, asF16 ? f32ToF16(data) : data);
      } });
      return buffer;
    };
    /** The raw rows of a 2-D tensor, when the source streams it; null when only readF32 can. */
    const rowsOf = (name: string, cols: number) => {
      const dtype = source.dtype?.(name);
      const read = source.readRows;
      if (!dtype || !read || !(dtype in STREAM_DTYPES)) return null;
      const width = cols * (dtype === 'F32' ? 4 : 2);
      return {
        dtype: STREAM_DTYPES[dtype],
        read: async (row0: number, count: number): Promise<Uint8Array> => {
          signal.throwIfAborted();
          const bytes = await read.call(source, name, row0, count);
          signal.throwIfAborted();
          if (bytes.byteLength !== count * width) throw new ModelError(`tensor "${name}": rows ${row0}..${row0 + count - 1} came back as ${bytes.byteLength} bytes, expected ${count * width}`);
          const bad = firstNonFiniteRaw(dtype as 'F32' | 'F16' | 'BF16', bytes);
          if (bad >= 0) throw nonFinite(name, row0 * cols + bad, 'the model file is damaged or was saved from a diverged run');
          return bytes;
        },
        toF32: (bytes: Uint8Array) => toF32(dtype, bytes),
      };
    };
    /**
     * A frozen [rows, cols] matrix in `fmt`. `split`: an f32 / f16 table goes into binding-sized
     * buffers of rows (tablePartRows), so no buffer outgrows a binding.
     */
    const matrix = (name: string, rows: number, cols: number, fmt: WeightFormat, split: boolean): FrozenWeight => {
      if (fmt === 'q8' || fmt === 'nf4') {
        const w = allocQuantized(gpu, { format: fmt, rows, cols, label: name });
        const layout = layoutOf(w);
        for (const part of w.parts) {
          owned.push(part.values, part.scales);
          scanned.push({ name, buffer: part.scales, count: part.rows * layout.scalesPerRow, f16: layout.scaleBytes === 2, scales: true });
        }
        fills.push({ name, fill: async () => {
          const stream = rowsOf(name, cols);
          if (stream) return fillQuantized(gpu, w, { dtype: stream.dtype, label: name, readRows: stream.read, signal });
          const data = await readAll(name, rows * cols);
          const bad = data.findIndex((v) => !Number.isFinite(v));
          if (bad >= 0) throw nonFinite(name, bad, 'the model file is damaged or was saved from a diverged run');
          const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
          return fillQuantized(gpu, w, { dtype: 'f32', label: name, signal, readRows: (row0, count) => bytes.subarray(row0 * cols * 4, (row0 + count) * cols * 4) });
        } });
        return w;
      }
      const f16 = fmt === 'f16';
      const per = split ? tablePartRows(fmt, rows, cols, gpu.limits) : rows;
      if (per < 1) throw new ModelError(`tensor "${name}": one row of ${cols} values exceeds this GPU's buffer limits`);
      const parts: { w: GPUBuffer; rows: number }[] = [];
      for (let r0 = 0; r0 < rows; r0 += per) {
        const n = Math.min(per, rows - r0);
        const buffer = createBuffer(gpu, rows > per ? `${name} rows ${r0}..${r0 + n - 1}` : name, n * cols * (f16 ? 2 : 4));
        owned.push(buffer);
        parts.push({ w: buffer, rows: n });
        scanned.push({ name, buffer, count: n * cols, f16 });
      }
      const write = (part: { w: GPUBuffer }, offsetRows: number, values: Float32Array) => {
        const data = f16 ? evenLength(f32ToF16(values)) : values;
        writeBuffer(gpu, part.w, data, offsetRows * cols * (f16 ? 2 : 4));
      };
      fills.push({ name, fill: async () => {
        const stream = rowsOf(name, cols);
        if (stream) {
          // Even chunks keep every f16 write 4-byte aligned.
          const chunkRows = Math.max(2, Math.floor(STREAM_CHUNK_BYTES / (cols * (stream.dtype === 'f32' ? 4 : 2)) / 2) * 2);
          let first = 0;
          for (const part of parts) {
            for (let r = 0; r < part.rows; r += chunkRows) {
              const n = Math.min(chunkRows, part.rows - r);
              write(part, r, stream.toF32(await stream.read(first + r, n)));
            }
            first += part.rows;
          }
          return;
        }
        const data = await readAll(name, rows * cols);
        let first = 0;
        for (const part of parts) {
          write(part, 0, data.subarray(first * cols, (first + part.rows) * cols));
          first += part.rows;
        }
      } });
      return parts.length === 1 ? parts[0].w : parts;
    };

    let model: LlamaGpu;
    try {
      const C = spec.hiddenSize;
      const embed = matrix('model.embed_tokens.weight', spec.vocabSize, C, storage.table, true);
      const layers: LayerWeights[] = [];
      for (let l = 0; l < spec.numLayers; l++) {
        const pre = `model.layers.${l}`;
        const proj = {} as Record<TargetModule, FrozenLinear>;
        for (const m of TARGET_MODULES) {
          const shape = moduleShape(spec, m);
          const w = matrix(moduleWeightName(l, m), shape.out, shape.in, storage.projections, false);
          let bias: GPUBuffer | null = null;
          if (spec.attentionBias && (m === 'q_proj' || m === 'k_proj' || m === 'v_proj')) {
            bias = vector(`${pre}.self_attn.${m}.bias`, shape.out, storage.bias === 'f16'); // the fused kernel reads the bias in W's dtype
          }
          proj[m] = { w, bias, IN: shape.in, OUT: shape.out, format: storage.projections, label: `layer ${l} ${m}` };
        }
        const HS = spec.headDim;
        layers.push({
          inputNorm: vector(`${pre}.input_layernorm.weight`, C, false),
          postNorm: vector(`${pre}.post_attention_layernorm.weight`, C, false),
          qNorm: spec.qkNorm ? vector(`${pre}.self_attn.q_norm.weight`, HS, false) : null,
          kNorm: spec.qkNorm ? vector(`${pre}.self_attn.k_norm.weight`, HS, false) : null,
          proj,
        });
      }
      const finalNorm = vector('model.norm.weight', C, false);
      const lmHead = spec.tieWordEmbeddings ? embed : matrix('lm_head.weight', spec.vocabSize, C, storage.table, true);
      const invFreq = createRopeInvFreq(gpu, ropeConfig(spec), 'rope invFreq');
      owned.push(invFreq);
      model = new LlamaGpu(gpu, spec, storage, embed, lmHead, finalNorm, layers, invFreq, owned, stop);
    } catch (error) {
      for (const b of owned) b.destroy();
      throw error;
    }
    const total = fills.length + (spec.tieWordEmbeddings ? 1 : 0);
    const loaded = (async () => {
      try {
        let done = 0;
        for (const { name, fill } of fills) {
          signal.throwIfAborted();
          await fill();
          options.onProgress?.(++done, total, name);
        }
        if (spec.tieWordEmbeddings) options.onProgress?.(++done, total, 'lm_head (tied)');
        signal.throwIfAborted();
        await checkFinite(gpu, scanned);
      } catch (error) {
        model.destroy();
        throw error;
      }
    })();
    // The caller may await it later (after compiling beside it): never an unhandled rejection meanwhile.
    loaded.catch(() => {});
    return { model, loaded };
  }

  /** Allocates activation and gradient buffers for micro-batches of up to maxTokens tokens. */
  get description(): ModelDescription {
    return {
      family: 'llama',
      architecture: this.spec.architecture,
      layers: this.spec.numLayers,
      hidden: this.spec.hiddenSize,
      vocab: this.spec.vocabSize,
      maxPositions: this.spec.maxPositionEmbeddings,
      weightFormat: this.storage.base,
      weightFormats: baseFormats(this.gpu.features.f16),
    };
  }

  adapterLayout(lora: LoraSettings): AdapterLayout {
    return llamaAdapterLayout(this.spec, lora);
  }

  createBatcher(data: TokenDataset, o: BatcherOptions): Batcher {
    return new Batcher(data, { batchSize: o.microBatch, seqLen: o.seqLen, padId: o.padId, seed: o.seed, epochs: o.epochs, packing: o.packing, shuffle: o.shuffle, cursor: o.cursor });
  }

  memoryPlan(lora: LoraSettings, cfg: MemoryConfig, weights: WeightFormat = this.storage.base): MemoryPlan {
    const storage = weights === this.storage.base ? this.storage : llamaStorage(weights);
    return llamaMemoryPlan(this.spec, lora, { ...cfg, storage, device: { f16: this.gpu.features.f16, ...this.gpu.limits } });
  }

  /** Allocates activation and gradient buffers for micro-batches of up to maxTokens tokens. */
  createWorkspace(opts: WorkspaceOptions): Workspace;
  createWorkspace(maxTokens: number, layout: AdapterLayout | null, checkpointing: boolean): Workspace;
  createWorkspace(a: WorkspaceOptions | number, layoutArg?: AdapterLayout | null, checkpointingArg?: boolean): Workspace {
    const opts: WorkspaceOptions = typeof a === 'number' ? { maxTokens: a, layout: layoutArg ?? null, checkpointing: checkpointingArg ?? false, stagedBatches: 0 } : a;
    const { layout, checkpointing } = opts;
    const N = opts.maxTokens;
    const buffers: GPUBuffer[] = [];
    const f32 = (label: string, count: number) => {
      const b = createBuffer(this.gpu, label, Math.max(1, count) * 4);
      buffers.push(b);
      return b;
    };
    const R = layout?.settings.r ?? 1;
    const targets = layout ? new Set(layout.slots.map((s) => s.module)) : new Set<TargetModule>();
    const layerActs = (tag: string): LayerActs => ({
      rrms1: f32(`${tag} rrms1`, N),
      h1: f32(`${tag} h1`, N * this.C),
      qRaw: this.spec.qkNorm ? f32(`${tag} q before norm`, N * this.QD) : null,
      kRaw: this.spec.qkNorm ? f32(`${tag} k before norm`, N * this.KD) : null,
      qRrms: this.spec.qkNorm ? f32(`${tag} q rrms`, N * this.NH) : null,
      kRrms: this.spec.qkNorm ? f32(`${tag} k rrms`, N * this.KVH) : null,
      q: f32(`${tag} q`, N * this.QD),
      k: f32(`${tag} k`, N * this.KD),
      v: f32(`${tag} v`, N * this.KD),
      att: f32(`${tag} attention out`, N * this.QD),
      lse: f32(`${tag} attention lse`, N * this.NH),
      x2: f32(`${tag} x2`, N * this.C),
      rrms2: f32(`${tag} rrms2`, N),
      h2: f32(`${tag} h2`, N * this.C),
      gate: f32(`${tag} gate`, N * this.I),
      up: f32(`${tag} up`, N * this.I),
      act: f32(`${tag} swiglu out`, N * this.I),
      u: new Map([...targets].map((m) => [m, f32(`${tag} ${m} lora u`, N * R)])),
    });
    const L = this.spec.numLayers;
    const logitsRows = lmheadChunkTokens(N, this.V, this.gpu.limits.maxStorageBufferBindingSize);
    const staging = opts.stagedBatches > 0 ? f32('staged micro-batches', opts.stagedBatches * 4 * N) : null;
    return {
      maxTokens: N,
      checkpointing,
      staging,
      stagedBatches: opts.stagedBatches,
      R,
      inputIds: f32('inputIds', N),
      labels: f32('labels', N),
      positionIds: f32('positionIds', N),
      segmentIds: f32('segmentIds', N),
      xs: Array.from({ length: L + 1 }, (_, l) => f32(`layer ${l} input`, N * this.C)),
      layers: checkpointing ? [layerActs('recomputed layer')] : Array.from({ length: L }, (_, l) => layerActs(`layer ${l}`)),
      rrmsF: f32('final rrms', N),
      hf: f32('final hidden', N * this.C),
      dx: f32('d residual', N * this.C),
      dh: f32('d normed', N * this.C),
      dq: f32('dq', N * this.QD),
      dk: f32('dk', N * this.KD),
      dv: f32('dv', N * this.KD),
      dqRaw: this.spec.qkNorm ? f32('dq before norm', N * this.QD) : null,
      dkRaw: this.spec.qkNorm ? f32('dk before norm', N * this.KD) : null,
      datt: f32('d attention out', N * this.QD),
      delta: f32('attention delta', N * this.NH),
      dact: f32('d swiglu out', N * this.I),
      dgate: f32('d gate', N * this.I),
      dup: f32('d up', N * this.I),
      du: f32('lora du', N * R),
      xd: layout && layout.settings.dropout > 0 ? f32('lora dropout scratch', N * Math.max(this.C, this.QD, this.I)) : null,
      dhf: f32('d final hidden', N * this.C),
      logitsRows,
      logits: f32('logits chunk', logitsRows * this.V),
      tokenLoss: f32('token loss', N),
      tokenCorrect: f32('token correct', N),
      lossSum: f32('loss sum', 1),
      targetCount: f32('target count', 2),
      buffers,
    };
  }

  private checkBatch(ws: Workspace, batch: MicroBatch): void {
    const N = batch.B * batch.T;
    if (N > ws.maxTokens) throw new ModelError(`micro-batch of ${batch.B}×${batch.T} = ${N} tokens exceeds the workspace's ${ws.maxTokens}`);
    for (let i = 0; i < N; i++) {
      const id = batch.inputIds[i];
      if (id < 0 || id >= this.V) throw new ModelError(`token id ${id} at position ${i} is outside the vocabulary of ${this.V}`);
    }
  }

  /** Writes a micro-batch's token metadata into the workspace (queue writes, before recording). */
  uploadBatch(ws: Workspace, batch: MicroBatch): void {
    this.checkBatch(ws, batch);
    writeBuffer(this.gpu, ws.inputIds, batch.inputIds);
    writeBuffer(this.gpu, ws.labels, batch.labels);
    writeBuffer(this.gpu, ws.positionIds, batch.positionIds);
    writeBuffer(this.gpu, ws.segmentIds, batch.segmentIds);
  }

  stageBatch(ws: Workspace, slot: number, batch: MicroBatch): void {
    if (!ws.staging || slot < 0 || slot >= ws.stagedBatches) throw new ModelError(`staging slot ${slot} does not exist (the workspace stages ${ws.stagedBatches})`);
    this.checkBatch(ws, batch);
    const base = slot * 4 * ws.maxTokens * 4;
    const stride = ws.maxTokens * 4;
    writeBuffer(this.gpu, ws.staging, batch.inputIds, base);
    writeBuffer(this.gpu, ws.staging, batch.labels, base + stride);
    writeBuffer(this.gpu, ws.staging, batch.positionIds, base + 2 * stride);
    writeBuffer(this.gpu, ws.staging, batch.segmentIds, base + 3 * stride);
  }

  /** Records copies of a staged micro-batch into the live input buffers (inside the step's submission). */
  private loadStaged(rec: Recorder, ws: Workspace, slot: number, batch: MicroBatch): void {
    const bytes = batch.B * batch.T * 4;
    const base = slot * 4 * ws.maxTokens * 4;
    const stride = ws.maxTokens * 4;
    [ws.inputIds, ws.labels, ws.positionIds, ws.segmentIds].forEach((dst, i) => rec.copy(ws.staging!, base + i * stride, dst, 0, bytes));
  }

  trainMicroBatch(rec: Recorder, ws: Workspace, slot: number, batch: MicroBatch, adapter: GpuAdapter, ctx: { gradScale: number; dropout: DropoutContext | null; accumulateLoss: boolean }): void {
    this.loadStaged(rec, ws, slot, batch);
    this.recordTrain(rec, ws, batch, adapter, ctx.gradScale, ctx.dropout ?? undefined, ctx.accumulateLoss);
  }

  evalMicroBatch(rec: Recorder, ws: Workspace, slot: number, batch: MicroBatch, adapter: GpuAdapter | null, accumulateLoss: boolean): void {
    this.loadStaged(rec, ws, slot, batch);
    this.forward(rec, ws, batch, adapter);
    this.headLoss(rec, ws, batch.B * batch.T, 0, accumulateLoss);
  }

  /** Mean cross-entropy, perplexity and token accuracy over the target tokens evaluated since the last reset. */
  async readEval(ws: Workspace): Promise<EvalResult> {
    const [[lossSum], counts] = await Promise.all([readF32(this.gpu, ws.lossSum, 1), readU32(this.gpu, ws.targetCount, 2)]);
    const [targets, correct] = counts;
    const loss = targets > 0 ? lossSum / targets : NaN;
    return { loss, count: targets, metrics: { eval_loss: loss, eval_perplexity: Math.exp(loss), eval_accuracy: targets > 0 ? correct / targets : NaN } };
  }

  private loraFor(adapter: GpuAdapter | null, layer: number, module: TargetModule, acts: LayerActs, ws: Workspace, dropout?: DropoutContext): LoraBinding | null {
    if (!adapter) return null;
    const slot = findSlot(adapter.layout, layer, module);
    if (!slot) return null;
    const p = adapter.layout.settings.dropout;
    const key = dropout && p > 0 ? { seed: dropout.seed >>> 0, site: dropoutSite(layer, module), step: dropout.step >>> 0 } : null;
    if (key && !ws.xd) throw new ModelError('this workspace was created without dropout scratch; create it with the adapter layout that has dropout > 0');
    return {
      params: adapter.params, grads: adapter.grads, offsetA: slot.offsetA, offsetB: slot.offsetB, R: slot.r, scale: adapter.layout.scale, u: acts.u.get(module)!,
      dropout: p, dropoutKey: key, xd: key ? ws.xd : null,
    };
  }

  acts(ws: Workspace, layer: number): LayerActs {
    return ws.checkpointing ? ws.layers[0] : ws.layers[layer];
  }

  /** encoder: xs[0] = embed[inputIds] */
  embedTokens(rec: Recorder, ws: Workspace, batch: MicroBatch): void {
    embeddingForward(rec, { ids: ws.inputIds, w: this.embed, wFormat: this.storage.table, V: this.V, C: this.C, N: batch.B * batch.T, out: ws.xs[0], label: 'embedding' });
  }

  /** One decoder layer: xs[l] → xs[l+1], saving what backward needs in acts(l). */
  layerForward(rec: Recorder, ws: Workspace, batch: MicroBatch, l: number, adapter: GpuAdapter | null, attend?: AttendHook, dropout?: DropoutContext): void {
    const { C, NH, KVH, HS, I } = this;
    const N = batch.B * batch.T;
    const w = this.layers[l];
    const a = this.acts(ws, l);
    const x = ws.xs[l];
    const eps = this.spec.rmsNormEps;
    const lora = (m: TargetModule) => this.loraFor(adapter, l, m, a, ws, dropout);
    const proj = (m: TargetModule, input: GPUBuffer, out: GPUBuffer) =>
      projectionForward(rec, { x: input, y: out, N, lin: w.proj[m], lora: lora(m) });

    rmsnormForward(rec, { x, weight: w.inputNorm, out: a.h1, rrms: a.rrms1, rows: N, C, eps, label: `layer ${l} input norm` });
    if (this.spec.qkNorm) {
      proj('q_proj', a.h1, a.qRaw!);
      proj('k_proj', a.h1, a.kRaw!);
      rmsnormForward(rec, { x: a.qRaw!, weight: w.qNorm!, out: a.q, rrms: a.qRrms!, rows: N * NH, C: HS, eps, label: `layer ${l} q norm` });
      rmsnormForward(rec, { x: a.kRaw!, weight: w.kNorm!, out: a.k, rrms: a.kRrms!, rows: N * KVH, C: HS, eps, label: `layer ${l} k norm` });
    } else {
      proj('q_proj', a.h1, a.q);
      proj('k_proj', a.h1, a.k);
    }
    proj('v_proj', a.h1, a.v);
    ropeForward(rec, { x: a.q, positionIds: ws.positionIds, invFreq: this.invFreq, N, heads: NH, headSize: HS, label: `layer ${l} rope q` });
    ropeForward(rec, { x: a.k, positionIds: ws.positionIds, invFreq: this.invFreq, N, heads: KVH, headSize: HS, label: `layer ${l} rope k` });
    if (attend) attend(rec, l, a);
    else attentionForward(rec, { B: batch.B, T: batch.T, NH, KVH, HS, q: a.q, k: a.k, v: a.v, segmentIds: ws.segmentIds, out: a.att, lse: a.lse });
    proj('o_proj', a.att, ws.dh); // o (scratch) …
    addForward(rec, { a: x, b: ws.dh, out: a.x2, count: N * C, label: `layer ${l} residual 1` }); // … x2 = x + o
    rmsnormForward(rec, { x: a.x2, weight: w.postNorm, out: a.h2, rrms: a.rrms2, rows: N, C, eps, label: `layer ${l} post-attention norm` });
    proj('gate_proj', a.h2, a.gate);
    proj('up_proj', a.h2, a.up);
    swigluForward(rec, { gate: a.gate, up: a.up, h: a.act, count: N * I, label: `layer ${l} swiglu` });
    proj('down_proj', a.act, ws.dh); // d (scratch) …
    addForward(rec, { a: a.x2, b: ws.dh, out: ws.xs[l + 1], count: N * C, label: `layer ${l} residual 2` }); // … x3 = x2 + d
  }

  /** The whole forward up to the final normed hidden state ws.hf [N, C]. */
  forward(rec: Recorder, ws: Workspace, batch: MicroBatch, adapter: GpuAdapter | null, attend?: AttendHook, dropout?: DropoutContext): void {
    this.embedTokens(rec, ws, batch);
    for (let l = 0; l < this.spec.numLayers; l++) this.layerForward(rec, ws, batch, l, adapter, attend, dropout);
    const N = batch.B * batch.T;
    rmsnormForward(rec, { x: ws.xs[this.spec.numLayers], weight: this.finalNorm, out: ws.hf, rrms: ws.rrmsF, rows: N, C: this.C, eps: this.spec.rmsNormEps, label: 'final norm' });
  }

  /** logits [rows, V] = hf[firstRow…] · W_lmᵀ (generation and evaluation of small batches). */
  logits(rec: Recorder, ws: Workspace, out: GPUBuffer, firstRow: number, rows: number): void {
    let h = ws.hf;
    if (firstRow > 0) {
      // binding offsets must be aligned: copy the rows to the front of a free [N, C] scratch
      rec.copy(ws.hf, firstRow * this.C * 4, ws.dhf, 0, rows * this.C * 4);
      h = ws.dhf;
    }
    lmheadLogits(rec, { h, w: this.lmHead, wFormat: this.storage.table, N: rows, C: this.C, V: this.V, logits: out, label: 'lm head' });
  }

  /**
   * The fused, chunked LM head + cross-entropy (kernels/lmhead): per-token losses into
   * ws.tokenLoss, their sum into ws.lossSum, and dhf = gradScale · d(lossSum)/dhf.
   */
  headLoss(rec: Recorder, ws: Workspace, N: number, gradScale: number, accumulateLoss = false): void {
    lmheadLoss(rec, {
      accumulateLoss,
      h: ws.hf, w: this.lmHead, wFormat: this.storage.table, N, C: this.C, V: this.V, labels: ws.labels, gradScale,
      logits: ws.logits, chunkRows: ws.logitsRows, rowLoss: ws.tokenLoss, rowCorrect: ws.tokenCorrect, lossSum: ws.lossSum, targetCount: ws.targetCount, dh: ws.dhf, label: 'lm head',
    });
  }

  /** Records forward, loss and backward of one micro-batch already in the live buffers; LoRA grads accumulate (scaled by gradScale). */
  recordTrain(rec: Recorder, ws: Workspace, batch: MicroBatch, adapter: GpuAdapter, gradScale: number, dropout?: DropoutContext, accumulateLoss = false): void {
    const N = batch.B * batch.T;
    this.forward(rec, ws, batch, adapter, undefined, dropout);
    this.headLoss(rec, ws, N, gradScale, accumulateLoss);
    this.backward(rec, ws, batch, adapter, dropout);
  }

  /**
   * Backward of one layer: ws.dx holds d xs[l+1] on entry and d xs[l] on exit; LoRA gradients
   * accumulate into adapter.grads.
   */
  layerBackward(rec: Recorder, ws: Workspace, batch: MicroBatch, l: number, adapter: GpuAdapter, dropout?: DropoutContext): void {
    const { C, NH, KVH, HS, I } = this;
    const N = batch.B * batch.T;
    const w = this.layers[l];
    const a = this.acts(ws, l);
    const eps = this.spec.rmsNormEps;
    const lora = (m: TargetModule) => this.loraFor(adapter, l, m, a, ws, dropout);
    const back = (m: TargetModule, dy: GPUBuffer, x: GPUBuffer, dx: GPUBuffer, accumulate: boolean) =>
      projectionBackward(rec, { dy, x, dx, accumulate, N, lin: w.proj[m], lora: lora(m), du: ws.du });

    // x3 = x2 + d: the residual carries dx on; down_proj sees dx
    back('down_proj', ws.dx, a.act, ws.dact, false);
    swigluBackward(rec, { dh: ws.dact, gate: a.gate, up: a.up, dgate: ws.dgate, dup: ws.dup, count: N * I, label: `layer ${l} swiglu backward` });
    back('gate_proj', ws.dgate, a.h2, ws.dh, false);
    back('up_proj', ws.dup, a.h2, ws.dh, true);
    rmsnormBackward(rec, { dy: ws.dh, x: a.x2, weight: w.postNorm, rrms: a.rrms2, dx: ws.dx, accumulate: true, rows: N, C, eps, label: `layer ${l} post-attention norm backward` });
    // x2 = x + o
    back('o_proj', ws.dx, a.att, ws.datt, false);
    attentionBackward(rec, {
      B: batch.B, T: batch.T, NH, KVH, HS, q: a.q, k: a.k, v: a.v, segmentIds: ws.segmentIds, out: a.att, lse: a.lse,
      dout: ws.datt, delta: ws.delta, dq: ws.dq, dk: ws.dk, dv: ws.dv,
    });
    ropeBackward(rec, { x: ws.dq, positionIds: ws.positionIds, invFreq: this.invFreq, N, heads: NH, headSize: HS, label: `layer ${l} rope q backward` });
    ropeBackward(rec, { x: ws.dk, positionIds: ws.positionIds, invFreq: this.invFreq, N, heads: KVH, headSize: HS, label: `layer ${l} rope k backward` });
    let dq = ws.dq;
    let dk = ws.dk;
    if (this.spec.qkNorm) {
      rmsnormBackward(rec, { dy: ws.dq, x: a.qRaw!, weight: w.qNorm!, rrms: a.qRrms!, dx: ws.dqRaw!, rows: N * NH, C: HS, eps, label: `layer ${l} q norm backward` });
      rmsnormBackward(rec, { dy: ws.dk, x: a.kRaw!, weight: w.kNorm!, rrms: a.kRrms!, dx: ws.dkRaw!, rows: N * KVH, C: HS, eps, label: `layer ${l} k norm backward` });
      dq = ws.dqRaw!;
      dk = ws.dkRaw!;
    }
    back('q_proj', dq, a.h1, ws.dh, false);
    back('k_proj', dk, a.h1, ws.dh, true);
    back('v_proj', ws.dv, a.h1, ws.dh, true);
    rmsnormBackward(rec, { dy: ws.dh, x: ws.xs[l], weight: w.inputNorm, rrms: a.rrms1, dx: ws.dx, accumulate: true, rows: N, C, eps, label: `layer ${l} input norm backward` });
  }

  /**
   * Backward from ws.dhf (d loss / d final hidden, written by the LM head) to every LoRA gradient.
   * With checkpointing each layer is recomputed from its saved input first.
   */
  backward(rec: Recorder, ws: Workspace, batch: MicroBatch, adapter: GpuAdapter, dropout?: DropoutContext): void {
    const N = batch.B * batch.T;
    const L = this.spec.numLayers;
    rmsnormBackward(rec, { dy: ws.dhf, x: ws.xs[L], weight: this.finalNorm, rrms: ws.rrmsF, dx: ws.dx, rows: N, C: this.C, eps: this.spec.rmsNormEps, label: 'final norm backward' });
    for (let l = L - 1; l >= 0; l--) {
      if (ws.checkpointing) this.recomputeLayer(rec, ws, batch, l, adapter, dropout);
      this.layerBackward(rec, ws, batch, l, adapter, dropout);
    }
  }

  /** Re-runs layer l's forward into the shared activations (xs[l+1] is rewritten with the same values). */
  private recomputeLayer(rec: Recorder, ws: Workspace, batch: MicroBatch, l: number, adapter: GpuAdapter, dropout?: DropoutContext): void {
    // layerForward uses ws.dh as scratch for o and d; dh is free here (the layer's backward overwrites it before reading).
    // It also rewrites xs[l+1]: identical values, and backward of layer l no longer reads it.
    this.layerForward(rec, ws, batch, l, adapter, undefined, dropout);
  }

  destroyWorkspace(ws: Workspace): void {
    for (const b of ws.buffers) b.destroy();
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.loading?.abort(new ModelError('the model was destroyed while its weights loaded'));
    for (const b of this.owned) b.destroy();
  }
}

/** An f16 array padded to an even length (a queue write is a whole number of 4-byte words). */
function evenLength(bits: Uint16Array): Uint16Array {
  if (bits.length % 2 === 0) return bits;
  const out = new Uint16Array(bits.length + 1);
  out.set(bits);
  return out;
}

function nonFinite(name: string, index: number, why: string): ModelError {
  return new ModelError(`tensor "${name}" holds a non-finite value (NaN or Inf) at index ${index}: ${why}`);
}

/**
 * Every uploaded weight (and every quantization scale) scanned on the GPU for NaN and ±Inf, one
 * readback for all: a model that holds one is refused with the tensor and the first bad index named.
 * In f16 a finite f32 weight beyond ±65504 becomes ±Inf, which this also catches (an nf4 absmax too).
 */
export async function checkFinite(gpu: Gpu, tensors: ScannedTensor[]): Promise<void> {
  const result = finiteResults(gpu, tensors.length, 'weight finite scan');
  try {
    const rec = new Recorder(gpu, 'weight finite scan');
    tensors.forEach((t, slot) => findNonFinite(rec, { data: t.buffer, count: t.count, f16: t.f16, result, slot, label: `finite scan ${t.name}` }));
    rec.submit();
    const first = await readFiniteResults(gpu, result, tensors.length);
    const bad = first.map((index, i) => ({ index, t: tensors[i] })).filter((b) => b.index >= 0);
    if (bad.length) {
      const b = bad[0];
      const more = bad.length > 1 ? ` (and ${bad.length - 1} more buffer${bad.length > 2 ? 's' : ''})` : '';
      if (b.t.scales) {
        throw new ModelError(`tensor "${b.t.name}" quantizes to a non-finite scale at block ${b.index}${more}: a weight beyond ±65504 overflows the f16 scale; load it with q8 or f32 weights`);
      }
      throw new ModelError(
        `tensor "${b.t.name}" holds a non-finite value (NaN or Inf) at index ${b.index}${more}` +
          (b.t.f16 ? ': in f16 — a weight beyond ±65504 overflows; load it with f32 weights, or the file itself holds it' : ': the model file is damaged or was saved from a diverged run'),
      );
    }
  } finally {
    result.destroy();
  }
}
