import { describe, expect, it } from 'vitest';
import { erf, erfc, geluBackwardRef, geluForwardRef, normalCdf } from '../../../src/engine/kernels/gelu/gelu.ref';
import { expectGradClose, numericGradient, randomF64 } from './finiteDifferences';

describe('gelu reference', () => {
  it('erf matches published values to ~1e-15', () => {
    // Abramowitz & Stegun table 7.1 / mpmath values.
    const table: [number, number][] = [
      [0, 0],
      [0.1, 0.1124629160182849],
      [0.5, 0.5204998778130465],
      [1, 0.8427007929497149],
      [1.5, 0.9661051464753108],
      [2, 0.9953222650189527],
      [2.9, 0.9999589021219005],
      [3.5, 0.9999992569016276],
      [-1, -0.8427007929497149],
    ];
    for (const [x, want] of table) expect(Math.abs(erf(x) - want), `erf(${x})`).toBeLessThan(2e-16 + 1e-15 * Math.abs(want));
    expect(erfc(3) / 2.209049699858544e-5 - 1).toBeLessThan(1e-13);
    expect(Math.abs(erfc(5) / 1.5374597944280349e-12 - 1)).toBeLessThan(1e-13);
    expect(Math.abs(erfc(10) / 2.088487583762545e-45 - 1)).toBeLessThan(1e-13);
  });

  it('the series and the continued fraction agree where they meet (x = 3)', () => {
    // Just below 3 the series answers, just above the continued fraction; erf is smooth there.
    const below = erf(3 - 1e-9);
    const above = erf(3 + 1e-9);
    const slope = (2 / Math.sqrt(Math.PI)) * Math.exp(-9);
    expect(Math.abs(above - below - 2e-9 * slope)).toBeLessThan(4e-16); // a few ulps of values near 1
  });

  it('gelu(x) = x·Φ(x): known values and the lower tail without cancellation', () => {
    expect(geluForwardRef([1])[0]).toBeCloseTo(0.8413447460685429, 15);
    expect(geluForwardRef([-1])[0]).toBeCloseTo(-0.15865525393145707, 15);
    // Φ(−10) = 7.619853024160527e-24: relative accuracy kept in the tail.
    expect(Math.abs(normalCdf(-10) / 7.619853024160527e-24 - 1)).toBeLessThan(1e-13);
  });

  it('gelu backward matches central finite differences', () => {
    const x = Float64Array.from([...randomF64(40, 3, -6, 6), 0, -0.5, 0.5, 3, -3]);
    const dy = randomF64(x.length, 4);
    const dx = geluBackwardRef(dy, x);
    const numeric = numericGradient((xx) => geluForwardRef(xx).reduce((s, v, i) => s + v * dy[i], 0), x);
    expectGradClose(dx, numeric, 'gelu dx');
  });
});
