import { describe, expect, it } from 'vitest';
import { rmsnormBackwardRef, rmsnormForwardRef } from '../../../src/engine/kernels/rmsnorm/rmsnorm.ref';
import { dot, expectGradClose, numericGradient, randomF64 } from './finiteDifferences';

describe('rmsnorm reference', () => {
  for (const [rows, C] of [[1, 1], [3, 7], [4, 16], [2, 33]] as const) {
    it(`rmsnorm backward rows=${rows} C=${C} matches central finite differences`, () => {
      const s = { rows, C, eps: 1e-5 };
      const x = randomF64(rows * C, 1 + C);
      const w = randomF64(C, 2 + C, 0.5, 1.5);
      const dy = randomF64(rows * C, 3 + C);
      const { rrms } = rmsnormForwardRef(x, w, s);
      const dx = rmsnormBackwardRef(dy, x, w, rrms, s);
      const numeric = numericGradient((xx) => dot(rmsnormForwardRef(xx, w, s).out, dy), x);
      expectGradClose(dx, numeric, `rmsnorm dx rows=${rows} C=${C}`);
    });
  }

  it('rmsnorm forward normalises each row to unit RMS (weight 1)', () => {
    const x = Float64Array.from([3, 4, 0, 0, 1, 1, 1, 1]);
    const { out, rrms } = rmsnormForwardRef(x, [1, 1, 1, 1], { rows: 2, C: 4, eps: 0 });
    expect(rrms[0]).toBeCloseTo(1 / Math.sqrt(25 / 4), 12);
    expect(rrms[1]).toBeCloseTo(1, 12);
    expect(out[0]).toBeCloseTo(3 / 2.5, 12);
    expect(out[1]).toBeCloseTo(4 / 2.5, 12);
  });

  it('rmsnorm backward with accumulate adds to the existing dx', () => {
    const s = { rows: 2, C: 5, eps: 1e-6 };
    const x = randomF64(10, 9);
    const w = randomF64(5, 10);
    const dy = randomF64(10, 11);
    const dxIn = randomF64(10, 12);
    const { rrms } = rmsnormForwardRef(x, w, s);
    const plain = rmsnormBackwardRef(dy, x, w, rrms, s);
    const acc = rmsnormBackwardRef(dy, x, w, rrms, s, dxIn);
    for (let i = 0; i < 10; i++) expect(acc[i]).toBeCloseTo(plain[i] + dxIn[i], 12);
  });
});
