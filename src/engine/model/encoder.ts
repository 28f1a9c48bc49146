/**
 * The BERT-family encoder for sequence classification on the GPU (BERT, RoBERTa / XLM-RoBERTa,
 * DistilBERT), as Transformers trains *ForSequenceClassification with a PEFT SEQ_CLS adapter:
 * LoRA on the chosen projections, the head trained in full (modules_to_save), hidden, attention
 * and classifier dropout from the config. bert.ref.ts is its float64 twin; the GPU tests compare
 * logits, loss and every gradient against it.
 *
 *   embeddings  x = (word[ids] + type[types]) + position[positions];  h = dropout(LayerNorm(x))
 *   layer       q, k, v = proj(h);  att = (softmax(q·kᵀ/√HS + key mask) ⊙ drop)·v
 *               h1 = LayerNorm(dropout(proj_o(att)) + h)       (DistilBERT: no dropout there)
 *               h  = LayerNorm(dropout(proj_out(gelu(proj_in(h1)))) + h1)
 *   head        BERT        logits = classifier(dropout(tanh(pooler(h[:, 0]))))
 *               RoBERTa     logits = out_proj(dropout(tanh(dense(dropout(h[:, 0])))))
 *               DistilBERT  logits = classifier(dropout(relu(pre_classifier(h[:, 0]))))
 *   loss        cross-entropy, MSE or BCE-with-logits (kernels/classify), summed; the trainer divides
 *
 * forward() is a list of kernel calls, backward() the same list reversed. Frozen weights have no
 * gradient buffers; the embeddings get no backward (nothing before them trains).
 *
 * Letters: B rows, T tokens per row, N = B·T, C hidden, NH heads, HS = C/NH, I intermediate,
 * L labels, R rank.
 */
import { findEncoderTensor, type EncoderConfig } from '../../formats/encoderConfig';
import { encoderLayerNormNames, encoderModulePath } from '../../formats/encoderConfig';
import { f32ToF16 } from '../../formats/dtype';
import type { ClassificationStore, ClassificationBatch } from '../../data/classify';
import { ClassificationBatcher } from '../../data/classify';
import { absolutePositionIds, robertaPositionIds } from '../kernels/embedding/positions';
import { TARGET_MODULES, type TargetModule } from '../../settings/settings';
import type { Gpu } from '../gpu/device';
import { createBuffer, readF32, readU32, uploadBuffer, writeBuffer } from '../gpu/buffers';
import { Recorder } from '../gpu/recorder';
import { allocSplitWeight, encoderEmbeddingForward, writeSplitWeight } from '../kernels/embedding/embedding';
import type { SplitWeight } from '../kernels/lora/weightParts';
import { layernormBackward, layernormForward } from '../kernels/layernorm/layernorm';
import { dropoutBackward, dropoutForward } from '../kernels/dropout/dropout';
import { bidirectionalAttentionBackward, bidirectionalAttentionForward } from '../kernels/attention/attention';
import { geluBackward, geluForward } from '../kernels/gelu/gelu';
import { addForward } from '../kernels/elementwise/elementwise';
import { firstTokenBackward, firstTokenForward } from '../kernels/pooling/pooling';
import { reluBackward, reluForward, tanhBackward, tanhForward } from '../kernels/activation/activation';
import { denseBackward, denseForward } from '../kernels/dense/dense';
import { classificationLoss, classificationStats } from '../kernels/classify/classify';
import { metricsFromStats, statsLength } from '../kernels/classify/metrics';
import { type FrozenLinear, type LoraBinding, projectionBackward, projectionForward } from './projection';
import { type AdapterLayout, type LoraSettings, findSlot, seededNormal } from './lora';
import {
  ENCODER_SITES, ENCODER_TARGET_MODULE, encoderAdapterLayoutFor, encoderHeadPlan, encoderLoraSite, encoderMemoryPlan, encoderWorkspaceFloats,
  type EncoderTask,
} from './encoderSpec';
import type { MemoryPlan } from '../train/memory';
import type {
  BatchLike, BatcherOptions, BatchSource, DropoutContext, EvalResult, GpuAdapter, MemoryConfig, ModelDescription, ModelWorkspace, TrainableModel, WorkspaceOptions,
} from './model';

export class EncoderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EncoderError';
  }
}

/** One micro-batch of classification rows, as the encoder consumes it (padding only after each row's tokens). */
export interface EncoderBatch extends BatchLike {
  /** [B*T] token ids */
  inputIds: Int32Array;
  /** [B*T] segment A 0 / B 1 (zeros for RoBERTa and DistilBERT) */
  tokenTypeIds: Uint32Array;
  /** [B*T] 1 on tokens, 0 on padding (Transformers' attention_mask) */
  attentionMask: Uint32Array;
  /** [B*T] the family's position ids */
  positionIds: Uint32Array;
  /** single-label: i32 [B] class ids (−100 ignored); regression and multi-label: f32 [B*L] targets */
  labels: Int32Array | Float32Array;
}

/** The data layer's task names → Transformers' problem_type. */
export function problemTypeOf(task: 'single_label' | 'multi_label' | 'regression'): EncoderTask['problemType'] {
  return task === 'single_label' ? 'single_label_classification' : task === 'multi_label' ? 'multi_label_classification' : 'regression';
}

/** A data-layer batch (rows past the data dropped) with the family's position ids. */
export function toEncoderBatch(spec: Pick<EncoderConfig, 'family' | 'padTokenId'>, b: ClassificationBatch): EncoderBatch {
  const B = b.rows;
  const T = b.T;
  const N = B * T;
  const inputIds = b.inputIds.slice(0, N);
  const attentionMask = Uint32Array.from(b.attentionMask.subarray(0, N));
  const tokenTypeIds = Uint32Array.from(b.tokenTypeIds.subarray(0, N));
  const positionIds = spec.family === 'roberta' ? robertaPositionIds(inputIds, B, T, spec.padTokenId) : absolutePositionIds(B, T);
  const w = b.task === 'multi_label' ? b.numLabels : 1;
  const labels = b.labels.slice(0, B * w);
  let targetTokens: number;
  if (b.task === 'single_label') targetTokens = Array.from(labels as Int32Array).filter((l) => l >= 0 && l < b.numLabels).length;
  else targetTokens = B * (b.task === 'multi_label' ? b.numLabels : 1);
  return { B, T, inputIds, tokenTypeIds, attentionMask, positionIds, labels, targetTokens };
}

/** Builds a batch from token rows (tests, the playground): padded to the longest, positions as the family numbers them. */
export function encoderBatchFromRows(spec: Pick<EncoderConfig, 'family' | 'padTokenId'>, rows: { ids: ArrayLike<number>; types?: ArrayLike<number> }[], labels: Int32Array | Float32Array, targetTokens?: number): EncoderBatch {
  const B = rows.length;
  const T = Math.max(1, ...rows.map((r) => r.ids.length));
  const inputIds = new Int32Array(B * T).fill(spec.padTokenId);
  const tokenTypeIds = new Uint32Array(B * T);
  const attentionMask = new Uint32Array(B * T);
  rows.forEach((r, b) => {
    for (let t = 0; t < r.ids.length; t++) {
      inputIds[b * T + t] = r.ids[t];
      tokenTypeIds[b * T + t] = r.types?.[t] ?? 0;
      attentionMask[b * T + t] = 1;
    }
  });
  const positionIds = spec.family === 'roberta' ? robertaPositionIds(inputIds, B, T, spec.padTokenId) : absolutePositionIds(B, T);
  const count = targetTokens ?? (labels instanceof Int32Array ? Array.from(labels).filter((l) => l >= 0).length : labels.length);
  return { B, T, inputIds, tokenTypeIds, attentionMask, positionIds, labels, targetTokens: count };
}

/** Reads one tensor of the checkpoint as f32 by its stored name. */
export type TensorReader = (name: string) => Promise<Float32Array>;

export interface EncoderLoadOptions {
  /** Store the layers' projections as f16 (needs shader-f16). Default: when the device has it. */
  f16?: boolean;
  /** The stored tensor names (to resolve legacy and prefix-less spellings); default: the names themselves. */
  tensorNames?: Iterable<string>;
  /** The task to start with (default: the config's num_labels, id2label and problem_type). */
  task?: EncoderTask;
  /** Seed of a head the checkpoint lacks (Transformers' normal(0, initializer_range) init); default 42. */
  seed?: number;
  onProgress?: (loaded: number, total: number, name: string) => void;
  signal?: AbortSignal;
}

interface LayerWeights {
  proj: Record<TargetModule, FrozenLinear | null>;
  ln1w: GPUBuffer;
  ln1b: GPUBuffer;
  ln2w: GPUBuffer;
  ln2b: GPUBuffer;
}

/** What one layer saves for its backward ([N, …] f32). */
interface LayerActs {
  q: GPUBuffer; // [N, C]
  k: GPUBuffer;
  v: GPUBuffer;
  att: GPUBuffer; // [N, C]
  lse: GPUBuffer; // [N, NH]
  z1: GPUBuffer; // [N, C] drop(o) + h
  mean1: GPUBuffer; // [N]
  rstd1: GPUBuffer;
  h1: GPUBuffer; // [N, C]
  f: GPUBuffer; // [N, I] intermediate dense output
  g: GPUBuffer; // [N, I] gelu(f)
  z2: GPUBuffer; // [N, C] drop(out) + h1
  mean2: GPUBuffer;
  rstd2: GPUBuffer;
  u: Map<TargetModule, GPUBuffer>; // [N, R] per adapted projection
}

export interface EncoderWorkspace extends ModelWorkspace {
  maxTokens: number;
  checkpointing: boolean;
  L: number;
  problemType: EncoderTask['problemType'];
  stagedBatches: number;
  /** Words of one staged micro-batch: ids, types, positions, mask [maxTokens] each, labels [maxTokens·L]. */
  stagedStride: number;
  staging: GPUBuffer | null;
  inputIds: GPUBuffer; // i32 [N]
  tokenTypeIds: GPUBuffer; // u32 [N]
  positionIds: GPUBuffer; // u32 [N]
  keyMask: GPUBuffer; // u32 [N]
  labels: GPUBuffer; // i32 [B] or f32 [B, L]
  xs: GPUBuffer[]; // [L+1] × [N, C]
  layers: LayerActs[];
  embMean: GPUBuffer;
  embRstd: GPUBuffer;
  scratch: GPUBuffer; // [N, C]
  dx: GPUBuffer; // [N, C]
  dz: GPUBuffer;
  dtmp: GPUBuffer;
  dq: GPUBuffer;
  dk: GPUBuffer;
  dv: GPUBuffer;
  datt: GPUBuffer;
  dI: GPUBuffer; // [N, I]
  dI2: GPUBuffer;
  delta: GPUBuffer; // [N, NH]
  du: GPUBuffer; // [N, R]
  xd: GPUBuffer | null; // [N, max(C, I)]
  head: Record<'first' | 'in0' | 'a0' | 'act' | 'in1' | 'din1' | 'dact' | 'da0' | 'din0' | 'dfirst', GPUBuffer>; // [B, C]
  logits: GPUBuffer; // [B, L]
  dlogits: GPUBuffer;
  rowLoss: GPUBuffer; // [B]
  predictions: GPUBuffer; // u32 [B]
  lossSum: GPUBuffer; // f32 [1]
  count: GPUBuffer; // u32 [1]
  correct: GPUBuffer; // u32 [1]
  stats: GPUBuffer; // classify_metrics.wgsl statistics
  buffers: GPUBuffer[];
}

/** A head tensor bound for a kernel: a buffer and an element offset (the adapter's flat buffer, or the base head's own). */
interface HeadBinding {
  w: GPUBuffer;
  offsetW: number;
  b: GPUBuffer;
  offsetB: number;
  /** Where its gradients go (trained modules of a training adapter). */
  grads: { dW: GPUBuffer; offsetDW: number; db: GPUBuffer; offsetDB: number } | null;
}

export class EncoderGpu implements TrainableModel<ClassificationStore, EncoderBatch> {
  readonly C: number;
  readonly NH: number;
  readonly HS: number;
  readonly I: number;
  readonly V: number;
  private destroyed = false;
  private taskState: EncoderTask;
  /** Values of every head tensor of the current task (checkpoint or drawn), by name: a new adapter starts from them. */
  private headValues = new Map<string, Float32Array>();
  /** The same values on the GPU, for evaluation without an adapter. */
  private headBuffers = new Map<string, GPUBuffer>();
  /** Whether each head tensor came from the checkpoint. */
  private headFromCheckpoint = new Map<string, boolean>();
  /** Hidden, attention and classifier dropout while training (train.encoderDropout). */
  hiddenDropout = true;

  private constructor(
    readonly gpu: Gpu,
    readonly spec: EncoderConfig,
    readonly f16: boolean,
    private readonly read: TensorReader,
    private readonly stored: Set<string>,
    private readonly wordEmb: SplitWeight,
    private readonly posEmb: GPUBuffer,
    private readonly typeEmb: GPUBuffer | null,
    private readonly embLnW: GPUBuffer,
    private readonly embLnB: GPUBuffer,
    private readonly layers: LayerWeights[],
    private owned: GPUBuffer[],
    /** Stops a load still streaming in (open's `loaded`) when the model is destroyed. */
    private loading: AbortController | null = null,
  ) {
    this.C = spec.hiddenSize;
    this.NH = spec.numHeads;
    this.HS = spec.hiddenSize / spec.numHeads;
    this.I = spec.intermediateSize;
    this.V = spec.vocabSize;
    this.taskState = { problemType: 'single_label_classification', labels: [] };
  }

  /** EncoderGpu.open, waiting for the weights: the model with every weight in and its head set for the task. */
  static async load(gpu: Gpu, spec: EncoderConfig, read: TensorReader, options: EncoderLoadOptions = {}): Promise<EncoderGpu> {
    const { model, loaded } = await EncoderGpu.open(gpu, spec, read, options);
    await loaded;
    return model;
  }

  /**
   * Allocates every frozen weight (projections f16 when asked), one labelled buffer per tensor,
   * sets the head for the task (its few tensors read now: a run's adapter starts from them), and
   * hands out the model; `loaded` streams the body's tensors in, in the file's order. Until it
   * resolves the model may be planned and recorded but not run; if it fails, the model is destroyed.
   */
  static async open(gpu: Gpu, spec: EncoderConfig, read: TensorReader, options: EncoderLoadOptions = {}): Promise<{ model: EncoderGpu; loaded: Promise<void> }> {
    const f16 = options.f16 ?? gpu.features.f16;
    if (f16 && !gpu.features.f16) throw new EncoderError('f16 weights need the shader-f16 feature, which this GPU lacks');
    const stored = new Set(options.tensorNames ?? []);
    const resolve = (name: string) => {
      if (stored.size === 0) return name;
      const tried: string[] = [];
      const hit = findEncoderTensor((n) => stored.has(n), spec.family, name, tried);
      if (!hit) throw new EncoderError(`weight "${name}" is missing (looked for ${tried.join(', ')})`);
      return hit;
    };
    const owned: GPUBuffer[] = [];
    /** Each tensor's upload, in the file's order; run after every buffer is allocated. */
    const fills: { key: string; fill: () => Promise<void> }[] = [];
    const stop = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
    const readTensor = async (key: string, size: number): Promise<Float32Array> => {
      signal.throwIfAborted();
      const data = await read(key);
      signal.throwIfAborted();
      if (data.length !== size) throw new EncoderError(`tensor "${key}" has ${data.length} values, expected ${size}`);
      return data;
    };
    const tensor = (name: string, size: number, asF16 = false): GPUBuffer => {
      const key = resolve(name);
      const buffer = createBuffer(gpu, name, size * (asF16 ? 2 : 4));
      owned.push(buffer);
      fills.push({ key, fill: async () => {
        const data = await readTensor(key, size);
        writeBuffer(gpu, buffer, asF16 ? f32ToF16(data) : data);
      } });
      return buffer;
    };
    let model: EncoderGpu;
    try {
      const { family } = spec;
      const C = spec.hiddenSize;
      const emb = `${family}.embeddings`;
      const wordName = `${emb}.word_embeddings.weight`;
      const wordKey = resolve(wordName);
      const wordParts = allocSplitWeight(gpu, wordName, spec.vocabSize, C);
      for (const p of wordParts) owned.push(p.w);
      fills.push({ key: wordKey, fill: async () => writeSplitWeight(gpu, wordName, wordParts, await readTensor(wordKey, spec.vocabSize * C), spec.vocabSize, C) });
      const posEmb = tensor(`${emb}.position_embeddings.weight`, spec.maxPositionEmbeddings * C);
      const typeEmb = spec.typeVocabSize > 0 ? tensor(`${emb}.token_type_embeddings.weight`, spec.typeVocabSize * C) : null;
      const embLnW = tensor(`${emb}.LayerNorm.weight`, C);
      const embLnB = tensor(`${emb}.LayerNorm.bias`, C);
      const layers: LayerWeights[] = [];
      for (let l = 0; l < spec.numLayers; l++) {
        const proj = {} as Record<TargetModule, FrozenLinear | null>;
        for (const t of TARGET_MODULES) {
          const m = ENCODER_TARGET_MODULE[t];
          if (!m) {
            proj[t] = null;
            continue;
          }
          const path = encoderModulePath(family, l, m);
          const IN = m === 'output' ? spec.intermediateSize : C;
          const OUT = m === 'intermediate' ? spec.intermediateSize : C;
          const w = tensor(`${path}.weight`, IN * OUT, f16);
          const bias = tensor(`${path}.bias`, OUT, f16); // the fused kernel reads the bias in W's dtype
          proj[t] = { w, bias, IN, OUT, format: f16 ? 'f16' : 'f32', label: `layer ${l} ${m}` };
        }
        const [ln1, ln2] = encoderLayerNormNames(family, l);
        layers.push({ proj, ln1w: tensor(`${ln1}.weight`, C), ln1b: tensor(`${ln1}.bias`, C), ln2w: tensor(`${ln2}.weight`, C), ln2b: tensor(`${ln2}.bias`, C) });
      }
      model = new EncoderGpu(gpu, spec, f16, read, stored, wordParts, posEmb, typeEmb, embLnW, embLnB, layers, owned, stop);
    } catch (error) {
      for (const b of owned) b.destroy();
      throw error;
    }
    try {
      const task = options.task ?? { problemType: spec.problemType ?? (spec.numLabels === 1 ? 'regression' : 'single_label_classification'), labels: [...spec.id2label] };
      await model.setTask(task, { seed: options.seed ?? 42 });
    } catch (error) {
      model.destroy();
      throw error;
    }
    const total = 5 + spec.numLayers * 16;
    const loaded = (async () => {
      try {
        let done = 0;
        for (const { key, fill } of fills) {
          await fill();
          options.onProgress?.(++done, total, key);
        }
      } catch (error) {
        model.destroy();
        throw error;
      }
    })();
    // The caller may await it later (after compiling beside it): never an unhandled rejection meanwhile.
    loaded.catch(() => {});
    return { model, loaded };
  }

  get task(): EncoderTask {
    return { problemType: this.taskState.problemType, labels: [...this.taskState.labels] };
  }

  get numLabels(): number {
    return this.taskState.labels.length;
  }

  /** Which head tensors came from the checkpoint (the rest were initialized as Transformers initializes a new head). */
  get headSource(): { name: string; fromCheckpoint: boolean }[] {
    return [...this.headFromCheckpoint].map(([name, fromCheckpoint]) => ({ name, fromCheckpoint }));
  }

  /**
   * Sets the task the head learns (from the data: its problem type and label names). Head tensors
   * the checkpoint stores with the right shape are used as they are; the others are drawn as
   * Transformers initializes a new head: weights ~ N(0, initializer_range), biases 0, from `seed`.
   */
  async setTask(task: EncoderTask, opts: { seed: number }): Promise<void> {
    const L = task.labels.length;
    if (L < 1) throw new EncoderError('the task needs at least one label');
    if (task.problemType === 'single_label_classification' && L < 2) throw new EncoderError('single-label classification needs at least 2 classes (Transformers treats num_labels 1 as regression)');
    const C = this.C;
    const [m0, m1] = encoderHeadPlan(this.spec).modules;
    const tensors = [
      { name: `${m0}.weight`, size: C * C, weight: true },
      { name: `${m0}.bias`, size: C, weight: false },
      { name: `${m1}.weight`, size: L * C, weight: true },
      { name: `${m1}.bias`, size: L, weight: false },
    ];
    for (const b of this.headBuffers.values()) b.destroy();
    this.headBuffers.clear();
    this.headValues.clear();
    this.headFromCheckpoint.clear();
    for (const [i, t] of tensors.entries()) {
      const stored = this.stored.size ? findEncoderTensor((n) => this.stored.has(n), this.spec.family, t.name) : null;
      let values: Float32Array | null = null;
      if (stored) {
        const data = await this.read(stored);
        if (data.length === t.size) values = data;
      }
      this.headFromCheckpoint.set(t.name, values !== null);
      values ??= t.weight ? seededNormal(t.size, this.spec.initializerRange, opts.seed, i) : new Float32Array(t.size);
      this.headValues.set(t.name, values);
      this.headBuffers.set(t.name, uploadBuffer(this.gpu, `base head ${t.name}`, values));
    }
    this.taskState = { problemType: task.problemType, labels: [...task.labels] };
  }

  /** The base head's values (what a new adapter's trained head starts from). */
  headInit(): Map<string, Float32Array> {
    return new Map([...this.headValues].map(([k, v]) => [k, Float32Array.from(v)]));
  }

  get description(): ModelDescription {
    const maxPositions = this.spec.family === 'roberta' ? this.spec.maxPositionEmbeddings - this.spec.padTokenId - 1 : this.spec.maxPositionEmbeddings;
    return {
      family: this.spec.family,
      architecture: this.spec.architecture,
      layers: this.spec.numLayers,
      hidden: this.C,
      vocab: this.V,
      maxPositions,
      weightFormat: this.f16 ? 'f16' : 'f32',
    };
  }

  adapterLayout(lora: LoraSettings): AdapterLayout {
    const trained = new Set(encoderHeadPlan(this.spec).modules.filter((_, i) => encoderHeadPlan(this.spec).trained[i]));
    const init = new Map([...this.headInit()].filter(([name]) => trained.has(name.slice(0, name.lastIndexOf('.')))));
    return encoderAdapterLayoutFor(this.spec, lora, this.taskState, init);
  }

  createBatcher(data: ClassificationStore, o: BatcherOptions): BatchSource<EncoderBatch> {
    const labels = data.labels;
    if (!labels) throw new EncoderError('the dataset has no labels');
    const want = problemTypeOf(labels.task);
    if (want !== this.taskState.problemType || labels.numLabels !== this.numLabels) {
      throw new EncoderError(`the data is ${want} with ${labels.numLabels} label(s) but the head is set for ${this.taskState.problemType} with ${this.numLabels}; call setTask with the data's task first`);
    }
    const inner = new ClassificationBatcher(data, { batchSize: o.microBatch, padId: o.padId, seed: o.seed, epochs: o.epochs, shuffle: o.shuffle, cursor: o.cursor });
    const spec = this.spec;
    return {
      next: () => {
        const b = inner.next();
        return b ? toEncoderBatch(spec, b) : null;
      },
      get cursor() {
        return inner.cursor;
      },
      batchesInEpoch: () => inner.batchesInEpoch(),
    };
  }

  memoryPlan(lora: LoraSettings, cfg: MemoryConfig): MemoryPlan {
    return encoderMemoryPlan(this.spec, lora, this.taskState, { ...cfg, weightsF16: this.f16, statsWords: statsLength(this.taskState.problemType, this.numLabels) });
  }

  createWorkspace(opts: WorkspaceOptions): EncoderWorkspace {
    const { layout, checkpointing } = opts;
    const N = opts.maxTokens;
    const L = this.numLabels;
    const R = layout?.settings.r ?? 1;
    const targets = layout ? [...new Set(layout.slots.map((s) => s.module))] : [];
    const plan = encoderWorkspaceFloats(this.spec, {
      N, R, targets: targets.length, L, checkpointing, loraDropout: Boolean(layout && layout.settings.dropout > 0),
      staged: opts.stagedBatches, statsWords: statsLength(this.taskState.problemType, L),
    });
    const buffers: GPUBuffer[] = [];
    const byName = new Map<string, GPUBuffer>();
    for (const b of plan) {
      const buffer = createBuffer(this.gpu, b.name, b.floats * 4);
      buffers.push(buffer);
      byName.set(b.name, buffer);
    }
    const get = (name: string) => byName.get(name)!;
    const layerActs = (l: number): LayerActs => ({
      q: get(`layer ${l} q`), k: get(`layer ${l} k`), v: get(`layer ${l} v`), att: get(`layer ${l} attention out`), lse: get(`layer ${l} lse`),
      z1: get(`layer ${l} z1`), mean1: get(`layer ${l} mean1`), rstd1: get(`layer ${l} rstd1`), h1: get(`layer ${l} h1`),
      f: get(`layer ${l} f`), g: get(`layer ${l} gelu`), z2: get(`layer ${l} z2`), mean2: get(`layer ${l} mean2`), rstd2: get(`layer ${l} rstd2`),
      u: new Map(targets.map((t, i) => [t, get(`layer ${l} lora u ${i}`)])),
    });
    const headNames = ['first', 'in0', 'a0', 'act', 'in1', 'din1', 'dact', 'da0', 'din0', 'dfirst'] as const;
    const headLabel: Record<(typeof headNames)[number], string> = {
      first: 'first token', in0: 'head in0', a0: 'head a0', act: 'head act', in1: 'head in1',
      din1: 'head din1', dact: 'head dact', da0: 'head da0', din0: 'head din0', dfirst: 'head dfirst',
    };
    return {
      maxTokens: N, checkpointing, L, problemType: this.taskState.problemType,
      stagedBatches: opts.stagedBatches, stagedStride: 4 * N + N * L,
      staging: opts.stagedBatches > 0 ? get('staged micro-batches') : null,
      inputIds: get('inputIds'), tokenTypeIds: get('tokenTypeIds'), positionIds: get('positionIds'), keyMask: get('keyMask'), labels: get('labels'),
      xs: Array.from({ length: this.spec.numLayers + 1 }, (_, l) => get(`layer ${l} input`)),
      layers: Array.from({ length: checkpointing ? 1 : this.spec.numLayers }, (_, l) => layerActs(l)),
      embMean: get('embedding mean'), embRstd: get('embedding rstd'),
      scratch: get('scratch'), dx: get('d residual'), dz: get('dz'), dtmp: get('dtmp'),
      dq: get('dq'), dk: get('dk'), dv: get('dv'), datt: get('d attention out'),
      dI: get('dI'), dI2: get('dI2'), delta: get('attention delta'), du: get('lora du'),
      xd: byName.get('lora dropout scratch') ?? null,
      head: Object.fromEntries(headNames.map((n) => [n, get(headLabel[n])])) as EncoderWorkspace['head'],
      logits: get('logits'), dlogits: get('dlogits'), rowLoss: get('row loss'), predictions: get('predictions'),
      lossSum: get('loss sum'), count: get('count'), correct: get('correct'), stats: get('eval statistics'),
      buffers,
    };
  }

  destroyWorkspace(ws: EncoderWorkspace): void {
    for (const b of ws.buffers) b.destroy();
  }

  private checkBatch(ws: EncoderWorkspace, batch: EncoderBatch): void {
    const N = batch.B * batch.T;
    if (ws.problemType !== this.taskState.problemType || ws.L !== this.numLabels) throw new EncoderError('the workspace was made for another task; create it again after setTask');
    if (N > ws.maxTokens) throw new EncoderError(`micro-batch of ${batch.B}×${batch.T} = ${N} tokens exceeds the workspace's ${ws.maxTokens}`);
    const maxPos = this.spec.maxPositionEmbeddings;
    for (let i = 0; i < N; i++) {
      const id = batch.inputIds[i];
      if (id < 0 || id >= this.V) throw new EncoderError(`token id ${id} at position ${i} is outside the vocabulary of ${this.V}`);
      if (batch.positionIds[i] >= maxPos) throw new EncoderError(`position ${batch.positionIds[i]} at ${i} is past max_position_embeddings ${maxPos}: cut the rows (max length)`);
      if (this.typeEmb && batch.tokenTypeIds[i] >= this.spec.typeVocabSize) throw new EncoderError(`token type ${batch.tokenTypeIds[i]} at ${i} is outside type_vocab_size ${this.spec.typeVocabSize}`);
    }
    const want = this.taskState.problemType === 'single_label_classification' ? batch.B : batch.B * this.numLabels;
    if (batch.labels.length !== want) throw new EncoderError(`the batch has ${batch.labels.length} label values, the task needs ${want}`);
  }

  /** Writes a micro-batch into the live input buffers (queue writes; tests and single passes). */
  uploadBatch(ws: EncoderWorkspace, batch: EncoderBatch): void {
    this.checkBatch(ws, batch);
    writeBuffer(this.gpu, ws.inputIds, batch.inputIds);
    writeBuffer(this.gpu, ws.tokenTypeIds, batch.tokenTypeIds);
    writeBuffer(this.gpu, ws.positionIds, batch.positionIds);
    writeBuffer(this.gpu, ws.keyMask, batch.attentionMask);
    writeBuffer(this.gpu, ws.labels, batch.labels);
  }

  stageBatch(ws: EncoderWorkspace, slot: number, batch: EncoderBatch): void {
    if (!ws.staging || slot < 0 || slot >= ws.stagedBatches) throw new EncoderError(`staging slot ${slot} does not exist (the workspace stages ${ws.stagedBatches})`);
    this.checkBatch(ws, batch);
    const base = slot * ws.stagedStride * 4;
    const stride = ws.maxTokens * 4;
    writeBuffer(this.gpu, ws.staging, batch.inputIds, base);
    writeBuffer(this.gpu, ws.staging, batch.tokenTypeIds, base + stride);
    writeBuffer(this.gpu, ws.staging, batch.positionIds, base + 2 * stride);
    writeBuffer(this.gpu, ws.staging, batch.attentionMask, base + 3 * stride);
    writeBuffer(this.gpu, ws.staging, batch.labels, base + 4 * stride);
  }

  private loadStaged(rec: Recorder, ws: EncoderWorkspace, slot: number, batch: EncoderBatch): void {
    const bytes = batch.B * batch.T * 4;
    const base = slot * ws.stagedStride * 4;
    const stride = ws.maxTokens * 4;
    [ws.inputIds, ws.tokenTypeIds, ws.positionIds, ws.keyMask].forEach((dst, i) => rec.copy(ws.staging!, base + i * stride, dst, 0, bytes));
    rec.copy(ws.staging!, base + 4 * stride, ws.labels, 0, batch.labels.length * 4);
  }

  trainMicroBatch(rec: Recorder, ws: EncoderWorkspace, slot: number, batch: EncoderBatch, adapter: GpuAdapter, ctx: { gradScale: number; dropout: DropoutContext | null; accumulateLoss: boolean }): void {
    this.loadStaged(rec, ws, slot, batch);
    this.recordTrain(rec, ws, batch, adapter, ctx.gradScale, ctx.dropout ?? undefined, ctx.accumulateLoss);
  }

  evalMicroBatch(rec: Recorder, ws: EncoderWorkspace, slot: number, batch: EncoderBatch, adapter: GpuAdapter | null, accumulateLoss: boolean): void {
    this.loadStaged(rec, ws, slot, batch);
    this.recordEval(rec, ws, batch, adapter, accumulateLoss);
  }

  /** Forward, loss and the evaluation statistics of a batch already in the live buffers. */
  recordEval(rec: Recorder, ws: EncoderWorkspace, batch: EncoderBatch, adapter: GpuAdapter | null, accumulate: boolean): void {
    this.forward(rec, ws, batch, adapter);
    this.loss(rec, ws, batch, 0, accumulate);
    classificationStats(rec, {
      task: ws.problemType, B: batch.B, L: ws.L, logits: ws.logits, labels: ws.labels, predictions: ws.predictions, stats: ws.stats, reset: !accumulate,
      label: 'evaluation statistics',
    });
  }

  /** Loss, accuracy or moments, per-class figures and the confusion matrix of what evalMicroBatch accumulated (one readback). */
  async readEval(ws: EncoderWorkspace): Promise<EvalResult> {
    const words = statsLength(ws.problemType, ws.L);
    const [[lossSum], [count], statsU32, statsF32] = await Promise.all([
      readF32(this.gpu, ws.lossSum, 1), readU32(this.gpu, ws.count, 1), readU32(this.gpu, ws.stats, words), readF32(this.gpu, ws.stats, words),
    ]);
    const loss = count > 0 ? lossSum / count : NaN;
    const stats = ws.problemType === 'regression' ? statsF32 : statsU32;
    const m = metricsFromStats(ws.problemType, stats, this.taskState.labels);
    return { loss, count, metrics: { eval_loss: loss, ...m.metrics }, perClass: m.perClass, confusion: m.confusion };
  }

  /** Records forward, loss and backward of a batch already in the live buffers; gradients accumulate. */
  recordTrain(rec: Recorder, ws: EncoderWorkspace, batch: EncoderBatch, adapter: GpuAdapter, gradScale: number, dropout?: DropoutContext, accumulateLoss = false): void {
    const drop = this.hiddenDropout ? dropout : undefined;
    this.forward(rec, ws, batch, adapter, dropout, drop);
    this.loss(rec, ws, batch, gradScale, accumulateLoss);
    this.backward(rec, ws, batch, adapter, dropout, drop);
  }

  /** logits [B, L] of a batch already in the live buffers (no dropout), read back. */
  async logits(ws: EncoderWorkspace, batch: EncoderBatch, adapter: GpuAdapter | null): Promise<Float32Array> {
    const rec = new Recorder(this.gpu, 'classify');
    this.forward(rec, ws, batch, adapter);
    rec.submit();
    return readF32(this.gpu, ws.logits, batch.B * ws.L);
  }

  /**
   * logits [B, L] of token rows (a text or a pair, with the tokenizer's special tokens), adapter on
   * or off: the playground's classifier. Rows are cut to the model's positions.
   */
  async predict(rows: { ids: ArrayLike<number>; types?: ArrayLike<number> }[], adapter: GpuAdapter | null): Promise<Float32Array> {
    const maxT = this.description.maxPositions;
    const cut = rows.map((r) => ({ ids: Array.from(r.ids).slice(0, maxT), types: r.types ? Array.from(r.types).slice(0, maxT) : undefined }));
    const L = this.numLabels;
    const labels = this.taskState.problemType === 'single_label_classification' ? new Int32Array(cut.length) : new Float32Array(cut.length * L);
    const batch = encoderBatchFromRows(this.spec, cut, labels);
    const ws = this.createWorkspace({ maxTokens: batch.B * batch.T, layout: adapter?.layout ?? null, checkpointing: false, stagedBatches: 0 });
    try {
      this.uploadBatch(ws, batch);
      return await this.logits(ws, batch, adapter);
    } finally {
      this.destroyWorkspace(ws);
    }
  }

  // ---------------------------------------------------------------- forward

  private acts(ws: EncoderWorkspace, l: number): LayerActs {
    return ws.checkpointing ? ws.layers[0] : ws.layers[l];
  }

  private loraFor(adapter: GpuAdapter | null, l: number, t: TargetModule, a: LayerActs, ws: EncoderWorkspace, dropout?: DropoutContext): LoraBinding | null {
    if (!adapter) return null;
    const slot = findSlot(adapter.layout, l, t);
    if (!slot) return null;
    const p = adapter.layout.settings.dropout;
    const key = dropout && p > 0 ? { seed: dropout.seed >>> 0, site: encoderLoraSite(l, t), step: dropout.step >>> 0 } : null;
    if (key && !ws.xd) throw new EncoderError('this workspace was created without dropout scratch; create it with the adapter layout that has dropout > 0');
    return {
      params: adapter.params, grads: adapter.grads, offsetA: slot.offsetA, offsetB: slot.offsetB, R: slot.r, scale: adapter.layout.scale, u: a.u.get(t)!,
      dropout: p, dropoutKey: key, xd: key ? ws.xd : null,
    };
  }

  /** Hidden-dropout key of a site, or null when this pass has none. */
  private hiddenKey(drop: DropoutContext | undefined, site: number, p: number) {
    return drop && p > 0 ? { p, key: { seed: drop.seed >>> 0, site, step: drop.step >>> 0 } } : null;
  }

  /** embeddings: xs[0] = dropout(LayerNorm((word + type) + position)) */
  private embed(rec: Recorder, ws: EncoderWorkspace, batch: EncoderBatch, drop?: DropoutContext): void {
    const N = batch.B * batch.T;
    const { C } = this;
    encoderEmbeddingForward(rec, {
      ids: ws.inputIds, w: this.wordEmb, V: this.V, C, N, out: ws.scratch,
      positionIds: ws.positionIds, wPos: this.posEmb, P: this.spec.maxPositionEmbeddings,
      tokenTypeIds: this.typeEmb ? ws.tokenTypeIds : null, wType: this.typeEmb, TV: this.spec.typeVocabSize, label: 'embeddings',
    });
    layernormForward(rec, { x: ws.scratch, weight: this.embLnW, bias: this.embLnB, out: ws.xs[0], mean: ws.embMean, rstd: ws.embRstd, rows: N, C, eps: this.spec.layerNormEps, label: 'embeddings LayerNorm' });
    const d = this.hiddenKey(drop, ENCODER_SITES.embeddings, this.spec.hiddenDropout);
    if (d) dropoutForward(rec, { x: ws.xs[0], N, C, p: d.p, key: d.key, label: 'embeddings dropout' });
  }

  /** One encoder layer: xs[l] → xs[l+1], saving what its backward needs in acts(l). */
  private layerForward(rec: Recorder, ws: EncoderWorkspace, batch: EncoderBatch, l: number, adapter: GpuAdapter | null, dropout?: DropoutContext, drop?: DropoutContext): void {
    const { C, NH, HS, I } = this;
    const N = batch.B * batch.T;
    const w = this.layers[l];
    const a = this.acts(ws, l);
    const h = ws.xs[l];
    const eps = this.spec.layerNormEps;
    const proj = (t: TargetModule, x: GPUBuffer, y: GPUBuffer) => projectionForward(rec, { x, y, N, lin: w.proj[t]!, lora: this.loraFor(adapter, l, t, a, ws, dropout) });
    proj('q_proj', h, a.q);
    proj('k_proj', h, a.k);
    proj('v_proj', h, a.v);
    const probs = this.hiddenKey(drop, ENCODER_SITES.attentionProbs(l), this.spec.attentionDropout);
    bidirectionalAttentionForward(rec, { B: batch.B, T: batch.T, NH, KVH: NH, HS, q: a.q, k: a.k, v: a.v, keyMask: ws.keyMask, out: a.att, lse: a.lse, dropout: probs });
    proj('o_proj', a.att, ws.scratch); // o …
    // … z1 = drop(o) + h  (DistilBERT has no dropout after its attention projection)
    const d1 = this.spec.family === 'distilbert' ? null : this.hiddenKey(drop, ENCODER_SITES.attentionOutput(l), this.spec.hiddenDropout);
    if (d1) dropoutForward(rec, { x: ws.scratch, residual: h, out: a.z1, N, C, p: d1.p, key: d1.key, label: `layer ${l} attention output dropout` });
    else addForward(rec, { a: ws.scratch, b: h, out: a.z1, count: N * C, label: `layer ${l} residual 1` });
    layernormForward(rec, { x: a.z1, weight: w.ln1w, bias: w.ln1b, out: a.h1, mean: a.mean1, rstd: a.rstd1, rows: N, C, eps, label: `layer ${l} LayerNorm 1` });
    proj('up_proj', a.h1, a.f);
    geluForward(rec, { x: a.f, y: a.g, count: N * I, label: `layer ${l} gelu` });
    proj('down_proj', a.g, ws.scratch); // out …
    // … z2 = drop(out) + h1
    const d2 = this.hiddenKey(drop, ENCODER_SITES.output(l), this.spec.hiddenDropout);
    if (d2) dropoutForward(rec, { x: ws.scratch, residual: a.h1, out: a.z2, N, C, p: d2.p, key: d2.key, label: `layer ${l} output dropout` });
    else addForward(rec, { a: ws.scratch, b: a.h1, out: a.z2, count: N * C, label: `layer ${l} residual 2` });
    layernormForward(rec, { x: a.z2, weight: w.ln2w, bias: w.ln2b, out: ws.xs[l + 1], mean: a.mean2, rstd: a.rstd2, rows: N, C, eps, label: `layer ${l} LayerNorm 2` });
  }

  /** A head module's weights: the adapter's trained copy when it has one, else the base head. */
  private headBinding(module: string, adapter: GpuAdapter | null): HeadBinding {
    const tw = adapter?.layout.full.find((t) => t.name === `${module}.weight`);
    const tb = adapter?.layout.full.find((t) => t.name === `${module}.bias`);
    if (adapter && tw && tb) {
      const g = adapter.grads;
      return { w: adapter.params, offsetW: tw.offset, b: adapter.params, offsetB: tb.offset, grads: g ? { dW: g, offsetDW: tw.offset, db: g, offsetDB: tb.offset } : null };
    }
    return { w: this.headBuffers.get(`${module}.weight`)!, offsetW: 0, b: this.headBuffers.get(`${module}.bias`)!, offsetB: 0, grads: null };
  }

  /** The classification head: logits [B, L] from the last hidden state's first tokens. */
  private headForward(rec: Recorder, ws: EncoderWorkspace, batch: EncoderBatch, adapter: GpuAdapter | null, drop?: DropoutContext): void {
    const { C } = this;
    const B = batch.B;
    const L = ws.L;
    const hd = ws.head;
    const { modules: [m0, m1] } = encoderHeadPlan(this.spec);
    const roberta = this.spec.family === 'roberta';
    const p = this.spec.classifierDropout;
    firstTokenForward(rec, { B, T: batch.T, C, x: ws.xs[this.spec.numLayers], out: hd.first, label: 'head first token' });
    // RoBERTa drops out its input too (classifier.0), then after the tanh (classifier.1).
    const d0 = this.hiddenKey(drop, ENCODER_SITES.head(0), p);
    let in0 = hd.first;
    if (roberta && d0) {
      dropoutForward(rec, { x: hd.first, out: hd.in0, N: B, C, p: d0.p, key: d0.key, label: 'head dropout 0' });
      in0 = hd.in0;
    }
    const h0 = this.headBinding(m0, adapter);
    denseForward(rec, { N: B, x: in0, y: hd.a0, w: h0.w, offsetW: h0.offsetW, bias: h0.b, offsetB: h0.offsetB, IN: C, OUT: C, label: m0 });
    if (this.spec.family === 'distilbert') reluForward(rec, { x: hd.a0, y: hd.act, count: B * C, label: 'head relu' });
    else tanhForward(rec, { x: hd.a0, y: hd.act, count: B * C, label: 'head tanh' });
    const d1 = this.hiddenKey(drop, ENCODER_SITES.head(roberta ? 1 : 0), p);
    let in1 = hd.act;
    if (d1) {
      dropoutForward(rec, { x: hd.act, out: hd.in1, N: B, C, p: d1.p, key: d1.key, label: 'head dropout' });
      in1 = hd.in1;
    }
    const h1 = this.headBinding(m1, adapter);
    denseForward(rec, { N: B, x: in1, y: ws.logits, w: h1.w, offsetW: h1.offsetW, bias: h1.b, offsetB: h1.offsetB, IN: C, OUT: L, label: m1 });
  }

  /** Embeddings, every layer and the head: ws.logits [B, L]. `dropout` keys LoRA's masks, `drop` the hidden ones. */
  forward(rec: Recorder, ws: EncoderWorkspace, batch: EncoderBatch, adapter: GpuAdapter | null, dropout?: DropoutContext, drop?: DropoutContext): void {
    this.embed(rec, ws, batch, drop);
    for (let l = 0; l < this.spec.numLayers; l++) this.layerForward(rec, ws, batch, l, adapter, dropout, drop);
    this.headForward(rec, ws, batch, adapter, drop);
  }

  /** The loss of the task on ws.logits: row losses, their sum (and count, right predictions), dlogits = gradScale · d(sum)/dlogits. */
  private loss(rec: Recorder, ws: EncoderWorkspace, batch: EncoderBatch, gradScale: number, accumulate: boolean): void {
    classificationLoss(rec, {
      task: ws.problemType, B: batch.B, L: ws.L, logits: ws.logits, labels: ws.labels, gradScale,
      rowLoss: ws.rowLoss, dlogits: ws.dlogits, predictions: ws.predictions, lossSum: ws.lossSum, count: ws.count, correct: ws.correct, accumulate,
      label: `loss (${ws.problemType})`,
    });
  }

  // ---------------------------------------------------------------- backward: the same list, reversed

  /** Backward of the head: from ws.dlogits to ws.dx = d xs[L] (zeros but the first tokens); trained head gradients accumulate. */
  private headBackward(rec: Recorder, ws: EncoderWorkspace, batch: EncoderBatch, adapter: GpuAdapter, drop?: DropoutContext): void {
    const { C } = this;
    const B = batch.B;
    const L = ws.L;
    const hd = ws.head;
    const { modules: [m0, m1] } = encoderHeadPlan(this.spec);
    const roberta = this.spec.family === 'roberta';
    const p = this.spec.classifierDropout;
    const d0 = roberta ? this.hiddenKey(drop, ENCODER_SITES.head(0), p) : null;
    const d1 = this.hiddenKey(drop, ENCODER_SITES.head(roberta ? 1 : 0), p);
    // logits = m1(in1)
    const h1 = this.headBinding(m1, adapter);
    denseBackward(rec, { N: B, dy: ws.dlogits, x: d1 ? hd.in1 : hd.act, dx: hd.din1, w: h1.w, offsetW: h1.offsetW, bias: h1.b, offsetB: h1.offsetB, IN: C, OUT: L, grads: h1.grads, label: `${m1} backward` });
    // in1 = drop(act)
    let dact = hd.din1;
    if (d1) {
      dropoutBackward(rec, { dy: hd.din1, dx: hd.dact, N: B, C, p: d1.p, key: d1.key, label: 'head dropout backward' });
      dact = hd.dact;
    }
    // act = tanh(a0) | relu(a0)
    if (this.spec.family === 'distilbert') reluBackward(rec, { dy: dact, y: hd.act, dx: hd.da0, count: B * C, label: 'head relu backward' });
    else tanhBackward(rec, { dy: dact, y: hd.act, dx: hd.da0, count: B * C, label: 'head tanh backward' });
    // a0 = m0(in0)
    const h0 = this.headBinding(m0, adapter);
    denseBackward(rec, { N: B, dy: hd.da0, x: d0 ? hd.in0 : hd.first, dx: hd.din0, w: h0.w, offsetW: h0.offsetW, bias: h0.b, offsetB: h0.offsetB, IN: C, OUT: C, grads: h0.grads, label: `${m0} backward` });
    // in0 = drop(first) (RoBERTa)
    let dfirst = hd.din0;
    if (d0) {
      dropoutBackward(rec, { dy: hd.din0, dx: hd.dfirst, N: B, C, p: d0.p, key: d0.key, label: 'head dropout 0 backward' });
      dfirst = hd.dfirst;
    }
    firstTokenBackward(rec, { B, T: batch.T, C, dout: dfirst, dx: ws.dx, label: 'head first token backward' });
  }

  /** Backward of one layer: ws.dx holds d xs[l+1] on entry and d xs[l] on exit; LoRA gradients accumulate. */
  private layerBackward(rec: Recorder, ws: EncoderWorkspace, batch: EncoderBatch, l: number, adapter: GpuAdapter, dropout?: DropoutContext, drop?: DropoutContext): void {
    const { C, NH, HS, I } = this;
    const N = batch.B * batch.T;
    const w = this.layers[l];
    const a = this.acts(ws, l);
    const eps = this.spec.layerNormEps;
    const back = (t: TargetModule, dy: GPUBuffer, x: GPUBuffer, dx: GPUBuffer, accumulate: boolean) =>
      projectionBackward(rec, { dy, x, dx, accumulate, N, lin: w.proj[t]!, lora: this.loraFor(adapter, l, t, a, ws, dropout), du: ws.du });
    // xs[l+1] = LayerNorm(z2)
    layernormBackward(rec, { dy: ws.dx, x: a.z2, weight: w.ln2w, mean: a.mean2, rstd: a.rstd2, dx: ws.dz, rows: N, C, eps, label: `layer ${l} LayerNorm 2 backward` });
    // z2 = drop(out) + h1: the residual carries dz on to h1
    const d2 = this.hiddenKey(drop, ENCODER_SITES.output(l), this.spec.hiddenDropout);
    let dout = ws.dz;
    if (d2) {
      dropoutBackward(rec, { dy: ws.dz, dx: ws.dtmp, N, C, p: d2.p, key: d2.key, label: `layer ${l} output dropout backward` });
      dout = ws.dtmp;
    }
    back('down_proj', dout, a.g, ws.dI, false);
    geluBackward(rec, { dy: ws.dI, x: a.f, dx: ws.dI2, count: N * I, label: `layer ${l} gelu backward` });
    back('up_proj', ws.dI2, a.h1, ws.dz, true); // dz = d h1 (residual + MLP)
    // h1 = LayerNorm(z1)
    layernormBackward(rec, { dy: ws.dz, x: a.z1, weight: w.ln1w, mean: a.mean1, rstd: a.rstd1, dx: ws.dx, rows: N, C, eps, label: `layer ${l} LayerNorm 1 backward` });
    // z1 = drop(o) + h: the residual carries dx on to h
    const d1 = this.spec.family === 'distilbert' ? null : this.hiddenKey(drop, ENCODER_SITES.attentionOutput(l), this.spec.hiddenDropout);
    let dod = ws.dx;
    if (d1) {
      dropoutBackward(rec, { dy: ws.dx, dx: ws.dtmp, N, C, p: d1.p, key: d1.key, label: `layer ${l} attention output dropout backward` });
      dod = ws.dtmp;
    }
    back('o_proj', dod, a.att, ws.datt, false);
    const probs = this.hiddenKey(drop, ENCODER_SITES.attentionProbs(l), this.spec.attentionDropout);
    bidirectionalAttentionBackward(rec, {
      B: batch.B, T: batch.T, NH, KVH: NH, HS, q: a.q, k: a.k, v: a.v, keyMask: ws.keyMask, out: a.att, lse: a.lse,
      dout: ws.datt, delta: ws.delta, dq: ws.dq, dk: ws.dk, dv: ws.dv, dropout: probs,
    });
    back('q_proj', ws.dq, ws.xs[l], ws.dx, true);
    back('k_proj', ws.dk, ws.xs[l], ws.dx, true);
    back('v_proj', ws.dv, ws.xs[l], ws.dx, true);
  }

  /** Backward from ws.dlogits to every LoRA and head gradient (layers recomputed first when checkpointing). */
  backward(rec: Recorder, ws: EncoderWorkspace, batch: EncoderBatch, adapter: GpuAdapter, dropout?: DropoutContext, drop?: DropoutContext): void {
    if (!adapter.grads) throw new EncoderError('backward needs an adapter with gradient buffers');
    this.headBackward(rec, ws, batch, adapter, drop);
    for (let l = this.spec.numLayers - 1; l >= 0; l--) {
      // Recomputing rewrites xs[l+1] with the same values; layer l's backward no longer reads it.
      if (ws.checkpointing) this.layerForward(rec, ws, batch, l, adapter, dropout, drop);
      this.layerBackward(rec, ws, batch, l, adapter, dropout, drop);
    }
    // The embeddings are frozen and nothing before them trains: the gradient stops at xs[0].
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.loading?.abort(new EncoderError('the model was destroyed while its weights loaded'));
    for (const b of this.owned) b.destroy();
    for (const b of this.headBuffers.values()) b.destroy();
  }
}

