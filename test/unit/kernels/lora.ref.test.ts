import { describe, expect, it } from 'vitest';
import { loraBackwardRef, loraForwardRef, type LoraShape } from '../../../src/engine/kernels/lora/lora.ref';
import { uniformValues } from '../../helpers/random';

function checkGradients(shape: LoraShape, seed: number) {
  const { N, IN, OUT } = shape;
  const R = shape.R ?? 0;
  const x = Float64Array.from(uniformValues(N * IN, seed));
  const w = Float64Array.from(uniformValues(OUT * IN, seed + 1));
  const bias = Float64Array.from(uniformValues(OUT, seed + 2));
  const a = R ? Float64Array.from(uniformValues(R * IN, seed + 3)) : null;
  const b = R ? Float64Array.from(uniformValues(OUT * R, seed + 4)) : null;
  const G = Float64Array.from(uniformValues(N * OUT, seed + 5));
  const loss = () => loraForwardRef({ ...shape, x, w, bias, a, b }).y.reduce((s, y, i) => s + y * G[i], 0);
  const { u } = loraForwardRef({ ...shape, x, w, bias, a, b });
  const grads = loraBackwardRef({ ...shape, dy: G, x, w, a, b, u });
  const eps = 1e-6;
  const pairs: [string, Float64Array, Float64Array][] = [['x', x, grads.dx]];
  if (a && b) pairs.push(['A', a, grads.dA], ['B', b, grads.dB]);
  for (const [name, t, g] of pairs) {
    for (let i = 0; i < t.length; i++) {
      const saved = t[i];
      t[i] = saved + eps;
      const plus = loss();
      t[i] = saved - eps;
      const minus = loss();
      t[i] = saved;
      const fd = (plus - minus) / (2 * eps);
      expect(Math.abs(g[i] - fd), `d${name}[${i}]: analytic ${g[i]} vs finite difference ${fd}`).toBeLessThan(1e-7 + 1e-6 * Math.abs(fd));
    }
  }
  return grads;
}

describe('lora linear reference', () => {
  it('backward matches central finite differences (no dropout)', () => {
    checkGradients({ N: 3, IN: 5, OUT: 4, R: 2, scale: 2 }, 1);
  });
  it('backward matches central finite differences (dropout 0.3: the same mask in both passes)', () => {
    const grads = checkGradients({ N: 4, IN: 7, OUT: 3, R: 3, scale: 0.5, dropout: 0.3, dropoutKey: { seed: 5, site: 1, step: 2 } }, 2);
    expect(grads.dA.some((v) => v !== 0)).toBe(true);
  });
  it('backward matches central finite differences (plain linear, no adapter)', () => {
    checkGradients({ N: 2, IN: 3, OUT: 5 }, 3);
  });
  it('with B = 0 (fresh adapter) the output is the base projection', () => {
    const shape = { N: 2, IN: 3, OUT: 2, R: 2, scale: 4 };
    const x = [1, 2, 3, 4, 5, 6];
    const w = [1, 0, -1, 0.5, 0.5, 0.5];
    const { y } = loraForwardRef({ ...shape, x, w, bias: [1, -1], a: [1, 1, 1, 2, 2, 2], b: [0, 0, 0, 0] });
    expect(Array.from(y)).toEqual([1 + 1 - 3, -1 + 3, 1 + 4 - 6, -1 + 7.5]);
  });
});
