/**
 * Float64 references of tanh and ReLU with the same argument names as activation.ts. Both backward
 * passes read the forward's OUTPUT y (what the forward saves).
 */
export type Activation = 'tanh' | 'relu';

export function activationForwardRef(act: Activation, x: ArrayLike<number>, count = x.length): Float64Array {
  const y = new Float64Array(count);
  for (let i = 0; i < count; i++) y[i] = act === 'tanh' ? Math.tanh(x[i]) : Math.max(x[i], 0);
  return y;
}

/** tanh: dx = dy·(1 − y²);  relu: dx = dy·[y > 0]  (backward of y = act(x), from y) */
export function activationBackwardRef(act: Activation, dy: ArrayLike<number>, y: ArrayLike<number>, count = y.length): Float64Array {
  const dx = new Float64Array(count);
  for (let i = 0; i < count; i++) dx[i] = act === 'tanh' ? dy[i] * (1 - y[i] * y[i]) : y[i] > 0 ? dy[i] : 0;
  return dx;
}
