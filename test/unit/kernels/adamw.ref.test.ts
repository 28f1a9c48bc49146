import { describe, expect, it } from 'vitest';
import { adamwRef } from '../../../src/engine/kernels/adamw/adamw.ref';
import { stepControlRef } from '../../../src/engine/kernels/gradnorm/gradnorm.ref';

describe('adamw and grad-norm references', () => {
  it('adamw step 1 by hand (PyTorch AdamW: decoupled decay, bias correction, eps 1e-8)', () => {
    const p = Float64Array.from([1]);
    const m = new Float64Array(1);
    const v = new Float64Array(1);
    adamwRef(p, [0.5], m, v, { finite: true, gradScale: 1 }, { lr: 0.1, weightDecay: 0.01, step: 1 });
    // p = 1·(1 − 0.1·0.01) − (0.1 / 0.1) · 0.05 / (sqrt(0.00025) / sqrt(0.001) + 1e-8)
    expect(m[0]).toBeCloseTo(0.05, 15);
    expect(v[0]).toBeCloseTo(0.00025, 15);
    expect(p[0]).toBeCloseTo(0.999 - 0.05 / (0.5 + 1e-8), 14);
  });

  it('adamw: the first update has magnitude lr whatever the gradient scale (Adam is scale-invariant)', () => {
    for (const g of [1e-3, 1, 1e3]) {
      const p = new Float64Array(1);
      adamwRef(p, [g], new Float64Array(1), new Float64Array(1), { finite: true, gradScale: 1 }, { lr: 1e-4, weightDecay: 0, step: 1 });
      expect(p[0]).toBeCloseTo(-1e-4, 8); // eps 1e-8 against |g| 1e-3 costs 1e-5 relative
    }
  });

  it('adamw: weight decay applies to the decayed prefix only (weights decayed, biases after it not)', () => {
    const p = Float64Array.from([1, 1, 1]);
    adamwRef(p, [0, 0, 0], new Float64Array(3), new Float64Array(3), { finite: true, gradScale: 1 }, { lr: 0.1, weightDecay: 0.5, step: 1, decayCount: 2 });
    // zero gradients: only the decoupled decay moves a parameter (1 − 0.1·0.5 = 0.95)
    expect(Array.from(p)).toEqual([0.95, 0.95, 1]);
  });

  it('adamw: a step that is not finite changes nothing', () => {
    const p = Float64Array.from([1, 2]);
    const m = Float64Array.from([0.1, 0.2]);
    const v = Float64Array.from([0.01, 0.02]);
    adamwRef(p, [NaN, 1], m, v, { finite: false, gradScale: 1 }, { lr: 0.1, step: 3 });
    expect(Array.from(p)).toEqual([1, 2]);
    expect(Array.from(m)).toEqual([0.1, 0.2]);
    expect(Array.from(v)).toEqual([0.01, 0.02]);
  });

  it('step control: norm of the mean gradient, clip coefficient, token count and flags', () => {
    const c = stepControlRef([3, 4], 10, 2, 1); // mean grad (1.5, 2): norm 2.5
    expect(c.gradNorm).toBeCloseTo(2.5, 15);
    expect(c.clipScale).toBeCloseTo(1 / (2.5 + 1e-6), 15);
    expect(c.gradScale).toBeCloseTo(c.clipScale / 2, 15);
    expect(c.loss).toBe(5);
    expect(c.finite).toBe(true);
    expect(stepControlRef([0.3, 0.4], 1, 1, 1).clipScale).toBe(1);
    expect(stepControlRef([1, NaN], 1, 1, 1)).toMatchObject({ finite: false, flags: 2 });
    expect(stepControlRef([1, 1], Infinity, 1, 1)).toMatchObject({ finite: false, flags: 1 });
    expect(stepControlRef([1, 1], 0, 0, 1)).toMatchObject({ finite: false });
    expect(stepControlRef([1, 1], 0, 0, 1).flags & 4).toBe(4);
  });

});
