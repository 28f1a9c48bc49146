import { describe, expect, it } from 'vitest';
import { swigluBackwardRef, swigluForwardRef } from '../../../src/engine/kernels/swiglu/swiglu.ref';
import { dot, expectGradClose, numericGradient, randomF64 } from './finiteDifferences';

describe('swiglu reference', () => {
  it('swiglu backward (dgate, dup) matches central finite differences', () => {
    const n = 23;
    const gate = randomF64(n, 1, -6, 6);
    const up = randomF64(n, 2, -2, 2);
    const dh = randomF64(n, 3);
    const { dgate, dup } = swigluBackwardRef(dh, gate, up, n);
    expectGradClose(dgate, numericGradient((g) => dot(swigluForwardRef(g, up, n), dh), gate), 'swiglu dgate');
    expectGradClose(dup, numericGradient((u) => dot(swigluForwardRef(gate, u, n), dh), up), 'swiglu dup');
  });

  it('swiglu forward: silu(0) = 0, silu(large) ≈ identity', () => {
    const h = swigluForwardRef([0, 30, -30], [5, 2, 2], 3);
    expect(h[0]).toBe(0);
    expect(h[1]).toBeCloseTo(60, 9);
    expect(Math.abs(h[2])).toBeLessThan(1e-10);
  });
});
