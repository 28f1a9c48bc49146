import { describe, it } from 'vitest';
import { addBackwardRef, addForwardRef, axpyRef } from '../../../src/engine/kernels/elementwise/elementwise.ref';
import { dot, expectGradClose, numericGradient, randomF64 } from './finiteDifferences';

describe('element-wise references', () => {
  it('add backward (da, db) matches central finite differences', () => {
    const n = 9;
    const a = randomF64(n, 1);
    const b = randomF64(n, 2);
    const dout = randomF64(n, 3);
    const { da, db } = addBackwardRef(dout, n, 0.5, -2);
    expectGradClose(da, numericGradient((x) => dot(addForwardRef(x, b, n, 0.5, -2), dout), a), 'add da');
    expectGradClose(db, numericGradient((x) => dot(addForwardRef(a, x, n, 0.5, -2), dout), b), 'add db');
  });

  it('axpy gradient with respect to x and y matches central finite differences', () => {
    const n = 5;
    const x = randomF64(n, 4);
    const y = randomF64(n, 5);
    const dout = randomF64(n, 6);
    expectGradClose(dout.map((d) => 3 * d), numericGradient((xx) => dot(axpyRef(xx, y, n, 3, 0.5), dout), x), 'axpy dx');
    expectGradClose(dout.map((d) => 0.5 * d), numericGradient((yy) => dot(axpyRef(x, yy, n, 3, 0.5), dout), y), 'axpy dy');
  });
});
