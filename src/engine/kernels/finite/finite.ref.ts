/**
 * Float64 reference of the finite scan (finite.ts): the index of the first value that is NaN or
 * ±Inf, or -1. f16 values are given as their 16-bit patterns.
 */
export function firstNonFiniteRef(values: ArrayLike<number>, f16 = false): number {
  for (let i = 0; i < values.length; i++) {
    if (f16 ? (values[i] & 0x7c00) === 0x7c00 : !Number.isFinite(values[i])) return i;
  }
  return -1;
}
