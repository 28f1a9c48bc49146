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
