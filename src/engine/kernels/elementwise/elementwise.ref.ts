/** Float64 references of the element-wise ops, same argument names as elementwise.ts. */

/** out = alpha·a + beta·b */
export function addForwardRef(a: ArrayLike<number>, b: ArrayLike<number>, count: number, alpha = 1, beta = 1): Float64Array {
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) out[i] = alpha * a[i] + beta * b[i];
  return out;
}

/** Backward of out = alpha·a + beta·b: da = alpha·dout, db = beta·dout. */
export function addBackwardRef(dout: ArrayLike<number>, count: number, alpha = 1, beta = 1): { da: Float64Array; db: Float64Array } {
  const da = new Float64Array(count);
  const db = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    da[i] = alpha * dout[i];
    db[i] = beta * dout[i];
  }
  return { da, db };
}

/** y = beta·y + alpha·x (returns a new array) */
export function axpyRef(x: ArrayLike<number>, y: ArrayLike<number>, count: number, alpha = 1, beta = 1): Float64Array {
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) out[i] = beta * y[i] + alpha * x[i];
  return out;
}
