import type { Batch, TokenDataset } from '../../data/batches';
import { Recorder } from '../gpu/recorder';
import type { BatchLike, EvalResult, GpuAdapter, TrainableModel } from '../model/model';

export type { EvalResult };

export interface EvalOptions {
  microBatch: number;
  seqLen: number;
  padId: number;
  adapter: GpuAdapter | null;
  signal?: AbortSignal;
}

/**
 * Evaluates a dataset, adapter on or off: every batch is recorded and submitted without waiting,
 * the model accumulates its statistics on the GPU (loss sum, counts), and they are read back once
 * at the end. The metrics are the model family's (a language model: loss, perplexity, accuracy).
 */
export async function evaluate<D = TokenDataset, B extends BatchLike = Batch>(model: TrainableModel<D, B>, data: D, opts: EvalOptions): Promise<EvalResult> {
  const batcher = model.createBatcher(data, { microBatch: opts.microBatch, seqLen: opts.seqLen, padId: opts.padId, shuffle: false, epochs: 1 });
  const ws = model.createWorkspace({ maxTokens: opts.microBatch * opts.seqLen, layout: opts.adapter?.layout ?? null, checkpointing: false, stagedBatches: 1 });
  try {
    let first = true;
    for (let batch = batcher.next(); batch; batch = batcher.next()) {
      opts.signal?.throwIfAborted();
      model.stageBatch(ws, 0, batch);
      const rec = new Recorder(model.gpu, 'evaluate');
      model.evalMicroBatch(rec, ws, 0, batch, opts.adapter, !first);
      rec.submit();
      first = false;
    }
    if (first) return { loss: NaN, count: 0, metrics: { eval_loss: NaN } };
    return await model.readEval(ws);
  } finally {
    model.destroyWorkspace(ws);
  }
}
