import { describe, expect, it } from 'vitest';
import {
  attentionBackwardRef, attentionDropoutScale, attentionForwardRef, type AttentionDropout, type AttentionShape,
} from '../../../src/engine/kernels/attention/attention.ref';
import { uniformValues } from '../../helpers/random';

/** Loss L = Σ out ⊙ G, so dL/dout = G; checks the reference backward against central differences. */
function checkGradients(shape: AttentionShape, segmentIds: number[], seed: number, extra: { keyMask?: number[]; dropout?: AttentionDropout } = {}) {
  const { B, T, NH, KVH, HS } = shape;
  const N = B * T;
  const q = Float64Array.from(uniformValues(N * NH * HS, seed));
  const k = Float64Array.from(uniformValues(N * KVH * HS, seed + 1));
  const v = Float64Array.from(uniformValues(N * KVH * HS, seed + 2));
  const G = Float64Array.from(uniformValues(N * NH * HS, seed + 3));
  const loss = () => {
    const { out } = attentionForwardRef({ ...shape, q, k, v, segmentIds, ...extra });
    return out.reduce((s, o, i) => s + o * G[i], 0);
  };
  const fwd = attentionForwardRef({ ...shape, q, k, v, segmentIds, ...extra });
  const grads = attentionBackwardRef({ ...shape, q, k, v, segmentIds, ...extra, out: fwd.out, lse: fwd.lse, dout: G });
  const eps = 1e-6;
  for (const [name, x, g] of [['q', q, grads.dq], ['k', k, grads.dk], ['v', v, grads.dv]] as const) {
    for (let i = 0; i < x.length; i++) {
      const saved = x[i];
      x[i] = saved + eps;
      const plus = loss();
      x[i] = saved - eps;
      const minus = loss();
      x[i] = saved;
      const fd = (plus - minus) / (2 * eps);
      expect(Math.abs(g[i] - fd), `d${name}[${i}]: analytic ${g[i]} vs finite difference ${fd}`).toBeLessThan(1e-7 + 1e-6 * Math.abs(fd));
    }
  }
}

describe('attention reference', () => {
  it('forward: lse is the log-sum-exp of the allowed scores, and T = 1 copies v', () => {
    const shape = { B: 2, T: 1, NH: 3, KVH: 1, HS: 4 };
    const v = [1, 2, 3, 4, 5, 6, 7, 8];
    const { out } = attentionForwardRef({ ...shape, q: new Array(24).fill(0.3), k: new Array(8).fill(-0.2), v, segmentIds: [0, 0] });
    expect(Array.from(out)).toEqual([1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 5, 6, 7, 8, 5, 6, 7, 8, 5, 6, 7, 8]);
  });

  it('forward: a packed document ignores the one before it', () => {
    const shape = { B: 1, T: 5, NH: 1, KVH: 1, HS: 3 };
    const q = uniformValues(15, 1);
    const k = uniformValues(15, 2);
    const v = uniformValues(15, 3);
    const packed = attentionForwardRef({ ...shape, q, k, v, segmentIds: [0, 0, 1, 1, 1] });
    const alone = attentionForwardRef({ ...shape, T: 3, q: q.slice(6), k: k.slice(6), v: v.slice(6), segmentIds: [1, 1, 1] });
    for (let i = 0; i < 9; i++) expect(packed.out[6 + i]).toBeCloseTo(alone.out[i], 12);
  });

  it('backward matches central finite differences (MHA, 2 rows)', () => checkGradients({ B: 2, T: 3, NH: 2, KVH: 2, HS: 3 }, [0, 0, 0, 1, 1, 1], 10));
  it('backward matches central finite differences (GQA 3, packed segments)', () => checkGradients({ B: 1, T: 5, NH: 3, KVH: 1, HS: 2 }, [4, 4, 5, 5, 5], 20));
  it('backward matches central finite differences (T = 1, custom scale)', () => checkGradients({ B: 3, T: 1, NH: 2, KVH: 1, HS: 2, scale: 0.7 }, [0, 1, 2], 30));

  // Encoders: bidirectional attention with a key padding mask, and dropout on the probabilities.
  it('bidirectional backward matches central finite differences (padding in the batch, GQA 2)', () =>
    checkGradients({ B: 2, T: 4, NH: 2, KVH: 1, HS: 3 }, [], 40, { keyMask: [1, 1, 1, 0, 1, 1, 0, 0] }));
  it('bidirectional backward with a dropout mask (fixed by its Philox key) matches central finite differences', () =>
    checkGradients({ B: 2, T: 4, NH: 2, KVH: 2, HS: 2 }, [], 50, { keyMask: [1, 1, 1, 0, 1, 1, 1, 1], dropout: { p: 0.3, key: { seed: 5, site: 1, step: 2 } } }));
  it('causal backward with attention dropout matches central finite differences', () =>
    checkGradients({ B: 1, T: 5, NH: 2, KVH: 1, HS: 2 }, [0, 0, 0, 0, 0], 60, { dropout: { p: 0.4, key: { seed: 9, site: 3, step: 0 } } }));

  it('bidirectional forward: padded keys get no weight, padded queries attend the real keys, an all-padding row gives zeros', () => {
    const shape = { B: 2, T: 3, NH: 1, KVH: 1, HS: 2 };
    const q = uniformValues(12, 1);
    const k = uniformValues(12, 2);
    const v = uniformValues(12, 3);
    const keyMask = [1, 1, 0, 0, 0, 0];
    const { out, lse } = attentionForwardRef({ ...shape, q, k, v, keyMask });
    // Row 0 computed by hand over keys 0 and 1, for every query including the padded one (2).
    for (let i = 0; i < 3; i++) {
      const s = [0, 1].map((j) => (q[2 * i] * k[2 * j] + q[2 * i + 1] * k[2 * j + 1]) / Math.sqrt(2));
      const z = Math.exp(s[0]) + Math.exp(s[1]);
      for (let d = 0; d < 2; d++) expect(out[2 * i + d]).toBeCloseTo((Math.exp(s[0]) * v[d] + Math.exp(s[1]) * v[2 + d]) / z, 12);
      expect(lse[i]).toBeCloseTo(Math.log(z), 12);
    }
    expect(Array.from(out.subarray(6))).toEqual([0, 0, 0, 0, 0, 0]);
    expect(Array.from(lse.subarray(3))).toEqual([0, 0, 0]);
  });

  it('attention dropout keeps about 1 − p of the probabilities, scaled by 1/(1 − p); p = 0 changes nothing', () => {
    const d = attentionDropoutScale({ p: 0.25, key: { seed: 1, site: 2, step: 3 } }, 2, 16, 3);
    const kept = d.filter((x) => x !== 0);
    expect(kept.every((x) => Math.abs(x - 4 / 3) < 1e-15)).toBe(true);
    expect(kept.length / d.length).toBeGreaterThan(0.65);
    expect(kept.length / d.length).toBeLessThan(0.85);
    const shape = { B: 1, T: 4, NH: 2, KVH: 2, HS: 2 };
    const [q, k, v] = [1, 2, 3].map((seed) => uniformValues(16, seed));
    const plain = attentionForwardRef({ ...shape, q, k, v, keyMask: [1, 1, 1, 1] });
    const zero = attentionForwardRef({ ...shape, q, k, v, keyMask: [1, 1, 1, 1], dropout: { p: 0, key: { seed: 1, site: 1, step: 1 } } });
    expect(Array.from(zero.out)).toEqual(Array.from(plain.out));
  });
});
