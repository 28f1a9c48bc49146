/**
 * Float64 reference of RMSNorm with a frozen weight (same argument names as rmsnorm.ts):
 * rows of length C; qwen3's per-head q/k norm is rows = N·NH, C = HS.
 */
export interface RmsnormShape {
  rows: number;
  C: number;
  eps: number;
}

export interface RmsnormSaved {
  /** [rows] 1 / sqrt(mean(x²) + eps) */
  rrms: Float64Array;
}

/** out[r,c] = x[r,c] · rrms[r] · w[c] */
export function rmsnormForwardRef(x: ArrayLike<number>, w: ArrayLike<number>, s: RmsnormShape): { out: Float64Array } & RmsnormSaved {
  const { rows, C, eps } = s;
  const out = new Float64Array(rows * C);
  const rrms = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let c = 0; c < C; c++) ss += x[r * C + c] ** 2;
    const inv = 1 / Math.sqrt(ss / C + eps);
    rrms[r] = inv;
    for (let c = 0; c < C; c++) out[r * C + c] = x[r * C + c] * inv * w[c];
  }
  return { out, rrms };
}

/**
 * Backward of `out[r,c] = x[r,c] · rrms[r] · w[c]` with rrms = (mean_c x² + eps)^(-1/2):
 * d rrms / d x[r,j] = −rrms³ · x[r,j] / C, so
 * dx[r,j] = rrms·w[j]·dy[r,j] − x[r,j] · rrms³/C · Σ_c w[c]·dy[r,c]·x[r,c].
 * With `dxIn`, the result is added to it (dx accumulates residual gradients).
 */
export function rmsnormBackwardRef(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  rrms: ArrayLike<number>,
  s: RmsnormShape,
  dxIn?: ArrayLike<number>,
): Float64Array {
  const { rows, C } = s;
  const dx = new Float64Array(rows * C);
  for (let r = 0; r < rows; r++) {
    const inv = rrms[r];
    let dot = 0;
    for (let c = 0; c < C; c++) dot += w[c] * dy[r * C + c] * x[r * C + c];
    const k = (inv * inv * inv * dot) / C;
    for (let c = 0; c < C; c++) {
      const i = r * C + c;
      dx[i] = inv * w[c] * dy[i] - x[i] * k + (dxIn ? dxIn[i] : 0);
    }
  }
  return dx;
}
