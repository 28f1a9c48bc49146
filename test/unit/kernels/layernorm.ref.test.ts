import { describe, expect, it } from 'vitest';
import { layernormBackwardRef, layernormForwardRef, layernormParamGradsRef } from '../../../src/engine/kernels/layernorm/layernorm.ref';
import { dot, expectGradClose, numericGradient, randomF64 } from './finiteDifferences';

describe('layernorm reference', () => {
  for (const [rows, C, eps] of [[1, 2, 1e-12], [3, 7, 1e-12], [4, 16, 1e-5], [2, 33, 1e-12]] as const) {
    it(`layernorm backward rows=${rows} C=${C} eps=${eps} matches central finite differences (dx, dweight, dbias)`, () => {
      const s = { rows, C, eps };
      const x = randomF64(rows * C, 1 + C);
      const w = randomF64(C, 2 + C, 0.5, 1.5);
      const b = randomF64(C, 3 + C);
      const dy = randomF64(rows * C, 4 + C);
      const { mean, rstd } = layernormForwardRef(x, w, b, s);
      const dx = layernormBackwardRef(dy, x, w, mean, rstd, s);
      expectGradClose(dx, numericGradient((xx) => dot(layernormForwardRef(xx, w, b, s).out, dy), x), `layernorm dx rows=${rows} C=${C}`);
      const { dweight, dbias } = layernormParamGradsRef(dy, x, mean, rstd, s);
      expectGradClose(dweight, numericGradient((ww) => dot(layernormForwardRef(x, ww, b, s).out, dy), Float64Array.from(w)), 'layernorm dweight');
      expectGradClose(dbias, numericGradient((bb) => dot(layernormForwardRef(x, w, bb, s).out, dy), Float64Array.from(b)), 'layernorm dbias');
    });
  }

  it('layernorm forward gives each row mean 0 and (biased) variance 1 before the affine part', () => {
    const x = Float64Array.from([1, 2, 3, 4, -2, -2, 2, 2]);
    const { out, mean, rstd } = layernormForwardRef(x, [1, 1, 1, 1], [0, 0, 0, 0], { rows: 2, C: 4, eps: 0 });
    expect(mean[0]).toBeCloseTo(2.5, 12);
    expect(rstd[0]).toBeCloseTo(1 / Math.sqrt(1.25), 12);
    expect(rstd[1]).toBeCloseTo(0.5, 12);
    for (let r = 0; r < 2; r++) {
      const row = Array.from(out.subarray(r * 4, r * 4 + 4));
      expect(row.reduce((a, v) => a + v, 0)).toBeCloseTo(0, 12);
      expect(row.reduce((a, v) => a + v * v, 0) / 4).toBeCloseTo(1, 12);
    }
  });

  it('layernorm backward with accumulate adds to the existing dx', () => {
    const s = { rows: 2, C: 5, eps: 1e-12 };
    const x = randomF64(10, 9);
    const w = randomF64(5, 10);
    const dy = randomF64(10, 11);
    const dxIn = randomF64(10, 12);
    const { mean, rstd } = layernormForwardRef(x, w, w, s);
    const plain = layernormBackwardRef(dy, x, w, mean, rstd, s);
    const acc = layernormBackwardRef(dy, x, w, mean, rstd, s, dxIn);
    for (let i = 0; i < 10; i++) expect(acc[i]).toBeCloseTo(plain[i] + dxIn[i], 12);
  });
});
