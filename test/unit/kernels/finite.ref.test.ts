import { describe, expect, it } from 'vitest';
import { firstNonFiniteRef } from '../../../src/engine/kernels/finite/finite.ref';

describe('finite scan reference', () => {
  it('finds the first NaN or ±Inf, f32 values or f16 bit patterns', () => {
    expect(firstNonFiniteRef([1, 2, 3])).toBe(-1);
    expect(firstNonFiniteRef([1, Infinity, NaN])).toBe(1);
    expect(firstNonFiniteRef([0x3c00, 0x7bff, 0xfc00, 0x7e00], true)).toBe(2); // 1, 65504, -Inf, NaN
    expect(firstNonFiniteRef([0x3c00, 0x7bff], true)).toBe(-1);
  });
});
