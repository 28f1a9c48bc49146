import { describe, expect, it } from 'vitest';
import { denseBackwardRef, denseForwardRef } from '../../../src/engine/kernels/dense/dense.ref';
import { firstTokenBackwardRef, firstTokenForwardRef } from '../../../src/engine/kernels/pooling/pooling.ref';
import { dot, expectGradClose, numericGradient, randomF64 } from './finiteDifferences';

describe('dense and first-token pooling references', () => {
  for (const [N, IN, OUT] of [[1, 1, 1], [3, 5, 2], [4, 8, 7]] as const) {
    it(`dense backward N=${N} IN=${IN} OUT=${OUT} matches central finite differences (dx, dW, db)`, () => {
      const s = { N, IN, OUT };
      const x = randomF64(N * IN, 1);
      const w = randomF64(OUT * IN, 2);
      const b = randomF64(OUT, 3);
      const dy = randomF64(N * OUT, 4);
      const { dx, dW, db } = denseBackwardRef(dy, x, w, s);
      expectGradClose(dx, numericGradient((xx) => dot(denseForwardRef(xx, w, b, s), dy), x), 'dense dx');
      expectGradClose(dW, numericGradient((ww) => dot(denseForwardRef(x, ww, b, s), dy), w), 'dense dW');
      expectGradClose(db, numericGradient((bb) => dot(denseForwardRef(x, w, bb, s), dy), b), 'dense db');
    });
  }

  it('first-token pooling backward matches central finite differences and touches only row 0 of each sequence', () => {
    const s = { B: 3, T: 4, C: 5 };
    const x = randomF64(s.B * s.T * s.C, 5);
    const dout = randomF64(s.B * s.C, 6);
    const dx = firstTokenBackwardRef(dout, s);
    expectGradClose(dx, numericGradient((xx) => dot(firstTokenForwardRef(xx, s), dout), x), 'first token dx');
    const dxIn = randomF64(s.B * s.T * s.C, 7);
    const acc = firstTokenBackwardRef(dout, s, dxIn);
    for (let i = 0; i < acc.length; i++) expect(acc[i]).toBeCloseTo(dx[i] + dxIn[i], 14);
  });
});
