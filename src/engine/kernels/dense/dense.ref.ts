/**
 * Float64 reference of a dense (nn.Linear) layer whose weight and bias are trained in full, as PEFT's
 * modules_to_save trains the classification heads; same argument names as dense.ts.
 *
 *   x [N, IN], W [OUT, IN], b [OUT]
 *   y  = x·Wᵀ + b               [N, OUT]
 *   dx = dy·W                   [N, IN]
 *   dW = dyᵀ·x                  [OUT, IN]
 *   db = Σ_n dy[n, :]           [OUT]   (column sums of dy)
 */
export interface DenseShape {
  N: number;
  IN: number;
  OUT: number;
}

export function denseForwardRef(x: ArrayLike<number>, w: ArrayLike<number>, bias: ArrayLike<number> | null, s: DenseShape): Float64Array {
  const { N, IN, OUT } = s;
  const y = new Float64Array(N * OUT);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < OUT; o++) {
      let sum = bias ? bias[o] : 0;
      for (let k = 0; k < IN; k++) sum += x[n * IN + k] * w[o * IN + k];
      y[n * OUT + o] = sum;
    }
  }
  return y;
}

/** Backward of `y = x·Wᵀ + b` (this call's gradients; the GPU adds dW and db into existing buffers). */
export function denseBackwardRef(dy: ArrayLike<number>, x: ArrayLike<number>, w: ArrayLike<number>, s: DenseShape): { dx: Float64Array; dW: Float64Array; db: Float64Array } {
  const { N, IN, OUT } = s;
  const dx = new Float64Array(N * IN);
  const dW = new Float64Array(OUT * IN);
  const db = new Float64Array(OUT);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < OUT; o++) {
      const g = dy[n * OUT + o];
      db[o] += g;
      for (let k = 0; k < IN; k++) {
        dx[n * IN + k] += g * w[o * IN + k];
        dW[o * IN + k] += g * x[n * IN + k];
      }
    }
  }
  return { dx, dW, db };
}
