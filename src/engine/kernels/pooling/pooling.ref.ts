/**
 * Float64 reference of first-token pooling (hidden_states[:, 0] in Transformers' heads: the [CLS]
 * or <s> token of each sequence), same argument names as pooling.ts.
 *
 *   x [B*T, C] → out [B, C],  out[b, :] = x[b*T, :]
 *   backward: dx[b*T, :] = dout[b, :], every other row 0 (or left as it is with accumulate)
 */
export interface PoolingShape {
  B: number;
  T: number;
  C: number;
}

export function firstTokenForwardRef(x: ArrayLike<number>, s: PoolingShape): Float64Array {
  const out = new Float64Array(s.B * s.C);
  for (let b = 0; b < s.B; b++) for (let c = 0; c < s.C; c++) out[b * s.C + c] = x[b * s.T * s.C + c];
  return out;
}

export function firstTokenBackwardRef(dout: ArrayLike<number>, s: PoolingShape, dxIn?: ArrayLike<number>): Float64Array {
  const dx = dxIn ? Float64Array.from(dxIn) : new Float64Array(s.B * s.T * s.C);
  for (let b = 0; b < s.B; b++) for (let c = 0; c < s.C; c++) dx[b * s.T * s.C + c] += dout[b * s.C + c];
  return dx;
}
