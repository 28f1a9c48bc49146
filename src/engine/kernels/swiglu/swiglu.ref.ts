/** Float64 reference of SwiGLU (same argument names as swiglu.ts): h = silu(gate)·up over [N, I]. */

function sigmoid(g: number): number {
  return 1 / (1 + Math.exp(-g));
}

/** h = gate · σ(gate) · up */
export function swigluForwardRef(gate: ArrayLike<number>, up: ArrayLike<number>, count: number): Float64Array {
  const h = new Float64Array(count);
  for (let i = 0; i < count; i++) h[i] = gate[i] * sigmoid(gate[i]) * up[i];
  return h;
}

/**
 * Backward of `h = gate · σ(gate) · up`:
 * dup = dh · gate·σ(gate);  dgate = dh · up · σ(gate)·(1 + gate·(1 − σ(gate))).
 */
export function swigluBackwardRef(
  dh: ArrayLike<number>,
  gate: ArrayLike<number>,
  up: ArrayLike<number>,
  count: number,
): { dgate: Float64Array; dup: Float64Array } {
  const dgate = new Float64Array(count);
  const dup = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const g = gate[i];
    const s = sigmoid(g);
    dup[i] = dh[i] * g * s;
    dgate[i] = dh[i] * up[i] * s * (1 + g * (1 - s));
  }
  return { dgate, dup };
}
