import type { Tolerance } from './compare';

/**
 * Every GPU-vs-float64 tolerance in one table. f32 accumulation over K terms of magnitude ~1
 * errs by about K·2⁻²⁴, so the matmul entries scale with the contraction length where noted.
 */
export const TOLERANCES = {
  matmul: { atol: 1e-4, rtol: 1e-4 },
  matmulLargeK: { atol: 2e-3, rtol: 1e-4 },
} satisfies Record<string, Tolerance>;
