/**
 * Float64 reference of LayerNorm with weight and bias (same argument names as layernorm.ts), as
 * torch.nn.LayerNorm computes it: biased variance over the last dimension, eps inside the root.
 *
 *   x [rows, C], weight [C], bias [C]
 *   mean[r] = Σ_c x[r,c] / C,  rstd[r] = 1 / sqrt(Σ_c (x[r,c] − mean[r])² / C + eps)
 *   out[r,c] = (x[r,c] − mean[r]) · rstd[r] · weight[c] + bias[c]
 */
export interface LayernormShape {
  rows: number;
  C: number;
  /** 1e-12 for BERT and DistilBERT, 1e-5 for roberta-base (config.layer_norm_eps). */
  eps: number;
}

export interface LayernormSaved {
  /** [rows] */
  mean: Float64Array;
  /** [rows] 1 / sqrt(var + eps) */
  rstd: Float64Array;
}

export function layernormForwardRef(
  x: ArrayLike<number>,
  weight: ArrayLike<number>,
  bias: ArrayLike<number>,
  s: LayernormShape,
): { out: Float64Array } & LayernormSaved {
  const { rows, C, eps } = s;
  const out = new Float64Array(rows * C);
  const mean = new Float64Array(rows);
  const rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let c = 0; c < C; c++) sum += x[r * C + c];
    const m = sum / C;
    let ss = 0;
    for (let c = 0; c < C; c++) ss += (x[r * C + c] - m) ** 2;
    const inv = 1 / Math.sqrt(ss / C + eps);
    mean[r] = m;
    rstd[r] = inv;
    for (let c = 0; c < C; c++) out[r * C + c] = (x[r * C + c] - m) * inv * weight[c] + bias[c];
  }
  return { out, mean, rstd };
}

/**
 * Backward of `out = xhat · weight + bias`, xhat = (x − mean) · rstd, with respect to x:
 *   g = dy ⊙ weight
 *   dx[r,c] = rstd[r] · (g[r,c] − mean_c(g[r,:]) − xhat[r,c] · mean_c(g[r,:] ⊙ xhat[r,:]))
 * With `dxIn`, the result is added to it (dx accumulates residual gradients).
 */
export function layernormBackwardRef(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  weight: ArrayLike<number>,
  mean: ArrayLike<number>,
  rstd: ArrayLike<number>,
  s: LayernormShape,
  dxIn?: ArrayLike<number>,
): Float64Array {
  const { rows, C } = s;
  const dx = new Float64Array(rows * C);
  for (let r = 0; r < rows; r++) {
    let sumG = 0;
    let sumGX = 0;
    for (let c = 0; c < C; c++) {
      const i = r * C + c;
      const g = dy[i] * weight[c];
      sumG += g;
      sumGX += g * (x[i] - mean[r]) * rstd[r];
    }
    for (let c = 0; c < C; c++) {
      const i = r * C + c;
      const xhat = (x[i] - mean[r]) * rstd[r];
      dx[i] = rstd[r] * (dy[i] * weight[c] - sumG / C - (xhat * sumGX) / C) + (dxIn ? dxIn[i] : 0);
    }
  }
  return dx;
}

/**
 * Gradients of the affine parameters (backward of `out = xhat · weight + bias`):
 *   dweight[c] = Σ_r dy[r,c] · xhat[r,c],   dbias[c] = Σ_r dy[r,c]
 * Returned for this call alone; the GPU adds them into existing buffers (gradient accumulation).
 */
export function layernormParamGradsRef(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  mean: ArrayLike<number>,
  rstd: ArrayLike<number>,
  s: LayernormShape,
): { dweight: Float64Array; dbias: Float64Array } {
  const { rows, C } = s;
  const dweight = new Float64Array(C);
  const dbias = new Float64Array(C);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < C; c++) {
      const i = r * C + c;
      dweight[c] += dy[i] * (x[i] - mean[r]) * rstd[r];
      dbias[c] += dy[i];
    }
  }
  return { dweight, dbias };
}
