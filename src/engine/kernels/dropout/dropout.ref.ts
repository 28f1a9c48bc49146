/**
 * Float64 reference of the hidden (activation) dropout, same argument names as dropout.ts:
 *   out = x ⊙ mask/(1−p) (+ residual),  mask from Philox keyed by (seed, site, step, token, feature)
 * exactly as the LoRA dropout draws it (philox.ts dropoutScaleMask).
 */
import { dropoutScaleMask, type DropoutKey } from '../philox/philox';

export interface DropoutShape {
  N: number;
  C: number;
  /** Probability of dropping, in [0, 1). */
  p: number;
  key: DropoutKey;
}

/** out = x ⊙ mask/(1−p) (+ residual) */
export function dropoutForwardRef(x: ArrayLike<number>, s: DropoutShape, residual?: ArrayLike<number>): Float64Array {
  const scale = dropoutScaleMask(s.key, s.N, s.C, s.p);
  return Float64Array.from(scale, (m, i) => x[i] * m + (residual ? residual[i] : 0));
}

/** Backward of `out = x ⊙ mask/(1−p)`: dx = dout ⊙ mask/(1−p) (added to dxIn when given). */
export function dropoutBackwardRef(dout: ArrayLike<number>, s: DropoutShape, dxIn?: ArrayLike<number>): Float64Array {
  const scale = dropoutScaleMask(s.key, s.N, s.C, s.p);
  return Float64Array.from(scale, (m, i) => dout[i] * m + (dxIn ? dxIn[i] : 0));
}
