import type { Batch } from '../../data/batches';
import { IGNORE_INDEX } from '../../data/batches';

/**
 * One micro-batch as the engine consumes it: the data pipeline's `Batch` (B rows of T tokens,
 * row-major [B*T], labels already shifted with -100 = ignore, positions restarting and a segment id
 * per packed document), so batches from src/data pass straight in.
 */
export type MicroBatch = Batch;

export { IGNORE_INDEX };

/** Frozen base weights by Hugging Face tensor name. */
export type WeightMap = Map<string, ArrayLike<number>>;

/** Builds a single-row batch from token ids (labels = the next token, last one ignored). */
export function batchFromIds(rows: ArrayLike<number>[], T?: number, padId = 0): MicroBatch {
  const B = rows.length;
  const len = T ?? Math.max(...rows.map((r) => r.length));
  const inputIds = new Int32Array(B * len).fill(padId);
  const labels = new Int32Array(B * len).fill(IGNORE_INDEX);
  const positionIds = new Uint32Array(B * len);
  const segmentIds = new Uint32Array(B * len);
  let targetTokens = 0;
  rows.forEach((row, b) => {
    const n = Math.min(row.length, len);
    for (let t = 0; t < len; t++) {
      const i = b * len + t;
      if (t < n) {
        inputIds[i] = row[t];
        positionIds[i] = t;
        segmentIds[i] = 0;
        if (t + 1 < n) {
          labels[i] = row[t + 1];
          targetTokens++;
        }
      } else {
        positionIds[i] = t - n;
        segmentIds[i] = 1; // padding: its own segment
      }
    }
  });
  return { B, T: len, inputIds, labels, positionIds, segmentIds, targetTokens };
}

export function countTargets(labels: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] !== IGNORE_INDEX) n++;
  return n;
}
