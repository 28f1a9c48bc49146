/**
 * What the trainer and the run driver need of a model, whatever its architecture. A family (the
 * Llama decoder today; a BERT encoder with a classification head next) implements it in its own
 * file with its own kernels: forward, loss head and backward of one micro-batch, its adapter
 * layout, and its memory plan. The trainer never looks inside.
 */
import type { Gpu } from '../gpu/device';
import type { Recorder } from '../gpu/recorder';
import type { Batch, BatchCursor, TokenDataset } from '../../data/batches';
import type { AdapterLayout, LoraSettings } from './lora';
import type { WeightFormat } from '../kernels/quant/layout';

/** The adapter as the kernels bind it: flat parameters and (for training) flat gradient sums. */
export interface GpuAdapter {
  layout: AdapterLayout;
  params: GPUBuffer;
  grads: GPUBuffer | null;
}

/** Dropout of one micro-batch: the run's seed and a counter unique to the micro-batch. */
export interface DropoutContext {
  seed: number;
  step: number;
}

/** What a memory plan is asked for (rows per micro-batch, tokens per row, recomputation). */
export interface MemoryConfig {
  batchSize: number;
  seqLen: number;
  gradientCheckpointing: boolean;
  /** Tokens a generation KV cache holds (0: no cache). */
  kvCacheTokens: number;
  /** Micro-batches staged for one submission (the gradient accumulation), 0 when none. */
  stagedBatches?: number;
}

/** GPU bytes of one configuration, as a family allocates them. */
export interface MemoryPlan {
  weights: number;
  /** Trainable parameters, gradients and Adam m and v (all f32). */
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

/** Family-independent facts about a loaded model. */
export interface ModelDescription {
  family: string;
  architecture: string;
  layers: number;
  hidden: number;
  vocab: number;
  /** Longest sequence the model's positions allow. */
  maxPositions: number;
  /** How the frozen base is stored on the GPU. */
  weightFormat: WeightFormat;
  /**
   * The base precisions this model could be loaded in on this device, most precise first (the
   * planner's choices for "auto"); absent: only weightFormat.
   */
  weightFormats?: readonly WeightFormat[];
}

/** Buffers for micro-batches of a fixed size; the family owns what is inside. */
export interface ModelWorkspace {
  /** Rows × tokens the workspace holds. */
  maxTokens: number;
  /** f32 [1]: Σ loss of the target tokens of the micro-batches recorded since the last reset. */
  lossSum: GPUBuffer;
}

export interface WorkspaceOptions {
  maxTokens: number;
  layout: AdapterLayout | null;
  checkpointing: boolean;
  /** Micro-batches that can be staged for one submission (gradient accumulation). */
  stagedBatches: number;
}

/** What an evaluation measured, as the family defines it (a language model: loss, perplexity, token accuracy). */
export interface EvalResult {
  /** Mean loss over what was evaluated (target tokens, or labelled rows). */
  loss: number;
  /** Target tokens (or labelled rows) the mean is over. */
  count: number;
  /** Named as HF's Trainer logs them: eval_loss, eval_perplexity, eval_accuracy, eval_f1, … */
  metrics: Record<string, number>;
  /** Classifiers: counts[true][predicted] over the label names. */
  confusion?: { labels: string[]; counts: number[][] };
  /** Classifiers: precision, recall, F1 and support of each class. */
  perClass?: { label: string; precision: number; recall: number; f1: number; support: number }[];
}

/** What every family's micro-batch has: rows, tokens per row, and the targets its loss is summed over. */
export interface BatchLike {
  B: number;
  T: number;
  /** Target tokens (a language model) or labelled rows / label cells (a classifier). */
  targetTokens: number;
}

export interface BatcherOptions {
  microBatch: number;
  seqLen: number;
  padId: number;
  seed?: number;
  epochs?: number;
  packing?: boolean;
  shuffle?: boolean;
  cursor?: BatchCursor;
}

/** Cuts a family's dataset into micro-batches, in an order a saved cursor resumes exactly. */
export interface BatchSource<B extends BatchLike> {
  next(): B | null;
  readonly cursor: BatchCursor;
  batchesInEpoch(epoch?: number): number;
}

/**
 * A model family: `D` is its dataset (tokenized rows for a language model, rows with labels for a
 * classifier), `B` its micro-batch.
 */
export interface TrainableModel<D = TokenDataset, B extends BatchLike = Batch> {
  readonly gpu: Gpu;
  readonly description: ModelDescription;
  createBatcher(data: D, opts: BatcherOptions): BatchSource<B>;
  adapterLayout(lora: LoraSettings): AdapterLayout;
  /** GPU bytes of a configuration, with the base stored in `weights` (default: as loaded). */
  memoryPlan(lora: LoraSettings, cfg: MemoryConfig, weights?: WeightFormat): MemoryPlan;
  createWorkspace(opts: WorkspaceOptions): ModelWorkspace;
  destroyWorkspace(ws: ModelWorkspace): void;
  /**
   * Writes a micro-batch's inputs into staging slot `slot` (a queue write: call it before the
   * submission that uses it, after the previous submission that used the same slot was submitted).
   */
  stageBatch(ws: ModelWorkspace, slot: number, batch: B): void;
  /**
   * Records forward, loss and backward of the micro-batch in staging slot `slot`: adapter gradients
   * accumulate (sums over target tokens, times gradScale); its loss sum goes into ws.lossSum
   * (added when accumulateLoss, else replacing it).
   */
  trainMicroBatch(rec: Recorder, ws: ModelWorkspace, slot: number, batch: B, adapter: GpuAdapter, ctx: { gradScale: number; dropout: DropoutContext | null; accumulateLoss: boolean }): void;
  /** Records forward and loss of the staged micro-batch (no dropout, no backward), accumulating its evaluation statistics. */
  evalMicroBatch(rec: Recorder, ws: ModelWorkspace, slot: number, batch: B, adapter: GpuAdapter | null, accumulateLoss: boolean): void;
  /** Reads what evalMicroBatch accumulated (one readback at the end of an evaluation). */
  readEval(ws: ModelWorkspace): Promise<EvalResult>;
  destroy(): void;
}

/**
 * An adapter on the GPU outside a training run: parameters for evaluation and generation, and
 * gradient sums too when asked (tests of a model's backward). Training itself keeps its adapter in
 * the optimizer's buffers.
 */
export function uploadAdapter(gpu: Gpu, layout: AdapterLayout, params: Float32Array, opts: { grads?: boolean } = {}): GpuAdapter & { destroy(): void } {
  if (params.length !== layout.size) throw new RangeError(`adapter has ${params.length} values, its layout needs ${layout.size}`);
  const make = (label: string) => gpu.device.createBuffer({ label, size: Math.max(4, layout.size * 4), usage: 0x80 | 0x04 | 0x08 });
  const buffer = make('adapter params');
  gpu.device.queue.writeBuffer(buffer, 0, params.buffer, params.byteOffset, params.byteLength);
  const grads = opts.grads ? make('adapter grads') : null;
  return { layout, params: buffer, grads, destroy: () => (buffer.destroy(), grads?.destroy()) };
}
