import { Batcher, type TokenDataset } from '../../data/batches';
import { readF32 } from '../gpu/buffers';
import { Recorder } from '../gpu/recorder';
import type { GpuAdapter, TrainableModel } from '../model/model';

export interface EvalResult {
  /** Mean cross-entropy over every target token of the data. */
  loss: number;
  perplexity: number;
  targetTokens: number;
}

export interface EvalOptions {
  microBatch: number;
  seqLen: number;
  padId: number;
  adapter: GpuAdapter | null;
  signal?: AbortSignal;
}

/**
 * Validation loss and perplexity, adapter on or off: every batch is recorded and submitted
 * without waiting, the loss sums accumulate on the GPU, and one value is read back at the end.
 */
export async function evaluate(model: TrainableModel, data: TokenDataset, opts: EvalOptions): Promise<EvalResult> {
  const batcher = new Batcher(data, { batchSize: opts.microBatch, seqLen: opts.seqLen, padId: opts.padId, shuffle: false, epochs: 1 });
  const ws = model.createWorkspace({ maxTokens: opts.microBatch * opts.seqLen, layout: opts.adapter?.layout ?? null, checkpointing: false, stagedBatches: 1 });
  let targets = 0;
  try {
    let first = true;
    for (let batch = batcher.next(); batch; batch = batcher.next()) {
      opts.signal?.throwIfAborted();
      model.stageBatch(ws, 0, batch);
      const rec = new Recorder(model.gpu, 'evaluate');
      model.evalMicroBatch(rec, ws, 0, batch, opts.adapter, !first);
      rec.submit();
      first = false;
      targets += batch.targetTokens;
    }
    const lossSum = first ? 0 : (await readF32(model.gpu, ws.lossSum, 1))[0];
    const loss = targets > 0 ? lossSum / targets : NaN;
    return { loss, perplexity: Math.exp(loss), targetTokens: targets };
  } finally {
    model.destroyWorkspace(ws);
  }
}
