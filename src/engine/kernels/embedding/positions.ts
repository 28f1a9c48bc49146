/**
 * Position ids of the encoders, computed on the CPU from the batch (the ids are there already):
 * BERT and DistilBERT number every row 0 … T−1; RoBERTa numbers the non-padding tokens from
 * padding_idx + 1 and gives padding tokens padding_idx, as Transformers'
 * create_position_ids_from_input_ids does: (cumsum(ids ≠ pad) · (ids ≠ pad)) + pad, per row.
 * These functions are their own reference (test/unit/kernels/embedding.ref.test.ts checks them on
 * worked examples).
 */

/** [B*T] u32: 0 … T−1 in every row (BertEmbeddings' position_ids buffer sliced to T). */
export function absolutePositionIds(B: number, T: number): Uint32Array {
  return Uint32Array.from({ length: B * T }, (_, i) => i % T);
}

/** [B*T] u32: RoBERTa's position ids from the input ids of B rows of T tokens. */
export function robertaPositionIds(inputIds: ArrayLike<number>, B: number, T: number, paddingIdx: number): Uint32Array {
  if (inputIds.length !== B * T) throw new RangeError(`robertaPositionIds: ${inputIds.length} ids for B ${B} × T ${T}`);
  const out = new Uint32Array(B * T);
  for (let b = 0; b < B; b++) {
    let seen = 0;
    for (let t = 0; t < T; t++) {
      const i = b * T + t;
      const real = inputIds[i] !== paddingIdx;
      if (real) seen++;
      out[i] = (real ? seen : 0) + paddingIdx;
    }
  }
  return out;
}
