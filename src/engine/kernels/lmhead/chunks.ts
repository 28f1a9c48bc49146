/**
 * How many tokens one chunk of the fused LM head takes. A pure function of sizes and one device
 * limit, so that the model (which sizes its logits scratch and passes chunkRows to lmheadLoss) and
 * the memory planner (which counts that scratch) call the same thing and agree.
 *
 * Why multiples of 64: each chunk runs two matmuls over the whole head, logits = h·Wᵀ [rows, V] and
 * dh = dlogits·W [rows, C], tiled 64 rows at a time (chooseMatmulVec4Tile: BM 64 when rows > 32,
 * BM 32 when rows ≤ 32, on every adapter kind). A chunk of 85 rows runs two row tiles, the second
 * 21/64 full, so it costs what 128 rows cost and reads W twice per pass; 64 rows read W once per pass.
 * Between the two passes the softmax needs the whole row of logits, so two passes over W per chunk
 * is the least the math allows.
 */

/** Default bound of one chunk's logits: 64 MiB (or the binding limit if lower). */
export const DEFAULT_MAX_LOGITS_BYTES = 64 * 1024 * 1024;

/** Row tiles of the matmul an LM-head chunk is sized to (BM for rows > 32, and for rows ≤ 32). */
export const LMHEAD_ROW_TILE = 64;
export const LMHEAD_SMALL_ROW_TILE = 32;

/** The most rows ≤ `rows` that fill whole row tiles: a multiple of 64, else 32, else `rows` itself (fewer than 32). */
export function fullTileRows(rows: number): number {
  if (rows >= LMHEAD_ROW_TILE) return Math.floor(rows / LMHEAD_ROW_TILE) * LMHEAD_ROW_TILE;
  if (rows >= LMHEAD_SMALL_ROW_TILE) return LMHEAD_SMALL_ROW_TILE;
  return rows;
}

/** One row of V f32 logits does not fit the chunk bound. */
export class LmHeadChunkError extends Error {
  override name = 'LmHeadChunkError';
}

/**
 * Tokens per LM-head chunk for N tokens and a vocabulary of V:
 *   bound = min(maxBytes, maxStorageBufferBindingSize) bytes of [rows, V] f32 logits;
 *   rows  = fullTileRows(floor(bound / (4·V))), then at most N.
 * Contract: the result r satisfies 1 ≤ r ≤ N and r·V·4 ≤ bound; when r < N (more than one chunk)
 * r is a multiple of 64 if 64 rows fit, 32 if 32..63 fit, so every chunk but the last fills whole
 * row tiles (N tokens that fit one tile-rounded chunk take one chunk: the same tiles, fewer
 * dispatches). The logits scratch holds r·V f32, and lmheadLoss is given chunkRows = r. Throws
 * LmHeadChunkError when not even one row fits.
 */
export function lmheadChunkTokens(N: number, V: number, maxStorageBufferBindingSize: number, maxBytes = DEFAULT_MAX_LOGITS_BYTES): number {
  const bytes = Math.min(maxBytes, maxStorageBufferBindingSize);
  const rows = Math.floor(bytes / (V * 4));
  if (rows < 1) throw new LmHeadChunkError(`lm head: one row of ${V} logits (${V * 4} bytes) exceeds the chunk bound of ${bytes} bytes`);
  return Math.max(1, Math.min(N, fullTileRows(rows)));
}
