import { describe, expect, it } from 'vitest';
import { attentionBackwardRef, attentionForwardRef, type AttentionShape } from '../../../src/engine/kernels/attention/attention.ref';
import { uniformValues } from '../../helpers/random';

/** Loss L = Σ out ⊙ G, so dL/dout = G; checks the reference backward against central differences. */
function checkGradients(shape: AttentionShape, segmentIds: number[], seed: number) {
  const { B, T, NH, KVH, HS } = shape;
  const N = B * T;
  const q = Float64Array.from(uniformValues(N * NH * HS, seed));
  const k = Float64Array.from(uniformValues(N * KVH * HS, seed + 1));
  const v = Float64Array.from(uniformValues(N * KVH * HS, seed + 2));
  const G = Float64Array.from(uniformValues(N * NH * HS, seed + 3));
  const loss = () => {
    const { out } = attentionForwardRef({ ...shape, q, k, v, segmentIds });
    return out.reduce((s, o, i) => s + o * G[i], 0);
  };
  const fwd = attentionForwardRef({ ...shape, q, k, v, segmentIds });
  const grads = attentionBackwardRef({ ...shape, q, k, v, segmentIds, out: fwd.out, lse: fwd.lse, dout: G });
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
});
