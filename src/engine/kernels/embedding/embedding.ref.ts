/** Float64 reference of the embedding gather (same argument names as embedding.ts). */

/** x[n, c] = W[ids[n], c]; ids outside [0, V) give a zero row (as the kernel does). */
export function embeddingForwardRef(ids: ArrayLike<number>, W: ArrayLike<number>, V: number, C: number): Float64Array {
  const N = ids.length;
  const x = new Float64Array(N * C);
  for (let n = 0; n < N; n++) {
    const id = ids[n];
    if (!(id >= 0 && id < V)) continue;
    for (let c = 0; c < C; c++) x[n * C + c] = W[id * C + c];
  }
  return x;
}
// No backward: the base embedding is frozen and nothing upstream of it needs a gradient.

/**
 * The encoders' embedding sum (BertEmbeddings / RobertaEmbeddings before their LayerNorm):
 *   x[n, :] = (W[ids[n]] + Wtype[tokenTypeIds[n]]) + Wpos[positionIds[n]]
 * DistilBERT passes no token types. Ids outside a table add nothing (the word gather gives a zero row).
 */
export interface EncoderEmbeddingRefArgs {
  ids: ArrayLike<number>;
  positionIds: ArrayLike<number>;
  /** null: no token-type table (DistilBERT). */
  tokenTypeIds: ArrayLike<number> | null;
  w: ArrayLike<number>;
  wPos: ArrayLike<number>;
  wType: ArrayLike<number> | null;
  /** Vocabulary, position-table rows (max_position_embeddings), token types (type_vocab_size). */
  V: number;
  P: number;
  TV: number;
  C: number;
}

export function encoderEmbeddingForwardRef(a: EncoderEmbeddingRefArgs): Float64Array {
  const x = embeddingForwardRef(a.ids, a.w, a.V, a.C);
  for (let n = 0; n < a.ids.length; n++) {
    const t = a.tokenTypeIds ? a.tokenTypeIds[n] : -1;
    const pos = a.positionIds[n];
    for (let c = 0; c < a.C; c++) {
      let v = x[n * a.C + c];
      if (a.wType && t >= 0 && t < a.TV) v += a.wType[t * a.C + c];
      if (pos >= 0 && pos < a.P) v += a.wPos[pos * a.C + c];
      x[n * a.C + c] = v;
    }
  }
  return x;
}
