import { describe, expect, it } from 'vitest';
import { lmheadLogitsRef, lmheadLossRef } from '../../../src/engine/kernels/lmhead/lmhead.ref';
import { uniformValues } from '../../helpers/random';

describe('lm head + cross-entropy reference', () => {
  it('dh is gradScale · d(lossSum)/dh by central finite differences, ignored rows contribute nothing', () => {
    const [N, C, V] = [4, 3, 7];
    const h = Float64Array.from(uniformValues(N * C, 1, -2, 2));
    const w = Float64Array.from(uniformValues(V * C, 2, -2, 2));
    const labels = [3, -100, 0, 6];
    const gradScale = 0.37;
    const { dh, targetCount, lossSum } = lmheadLossRef({ N, C, V, h, w, labels, gradScale });
    expect(targetCount).toBe(3);
    expect(lossSum).toBeGreaterThan(0);
    const eps = 1e-6;
    const loss = () => lmheadLossRef({ N, C, V, h, w, labels, gradScale }).lossSum;
    for (let i = 0; i < h.length; i++) {
      const saved = h[i];
      h[i] = saved + eps;
      const plus = loss();
      h[i] = saved - eps;
      const minus = loss();
      h[i] = saved;
      const fd = (gradScale * (plus - minus)) / (2 * eps);
      expect(Math.abs(dh[i] - fd), `dh[${i}]: ${dh[i]} vs finite difference ${fd}`).toBeLessThan(1e-8 + 1e-6 * Math.abs(fd));
    }
    for (let c = 0; c < C; c++) expect(dh[1 * C + c]).toBe(0);
  });

  it('uniform logits give log V per target', () => {
    const [N, C, V] = [2, 2, 5];
    const { lossSum, targetCount } = lmheadLossRef({ N, C, V, h: [0, 0, 0, 0], w: new Array(V * C).fill(0.5), labels: [1, 4], gradScale: 1 });
    expect(targetCount).toBe(2);
    expect(lossSum).toBeCloseTo(2 * Math.log(5), 12);
  });

  it('logits are h·Wᵀ', () => {
    expect(Array.from(lmheadLogitsRef({ N: 1, C: 2, V: 3, h: [1, 2], w: [1, 0, 0, 1, 1, 1] }))).toEqual([1, 2, 3]);
  });
});
