import { describe, expect, it } from 'vitest';
import { niceScale, stepDecimals, tickLabel } from '../../../src/app/components/chartScale';

const labels = (min: number, max: number, count = 5, opts = {}) => {
  const s = niceScale(min, max, count, opts);
  return s.ticks.map((t) => tickLabel(s, t));
};

describe('loss chart scales', () => {
  it('gives a narrow range distinct labels with the digits it needs (never "6.3, 6.3, 6.2, 6.2")', () => {
    const l = labels(6.2134, 6.2871);
    expect(new Set(l).size).toBe(l.length);
    expect(l).toEqual(['6.20', '6.22', '6.24', '6.26', '6.28', '6.30']);
    const tiny = labels(5.4401, 5.4408);
    expect(new Set(tiny).size).toBe(tiny.length);
    expect(tiny.length).toBeGreaterThanOrEqual(3);
  });

  it('covers every value: the domain ends on ticks at or beyond the data', () => {
    for (const [a, b] of [[6.2134, 6.2871], [0.013, 9.7], [2.5, 2.5], [100, 4000], [0.5, 0.51]]) {
      const s = niceScale(a, b, 5, { floor: 0 });
      expect(s.lo).toBeLessThanOrEqual(a);
      expect(s.hi).toBeGreaterThanOrEqual(b);
      expect(s.ticks[0]).toBe(s.lo);
      expect(s.ticks.at(-1)).toBe(s.hi);
      expect(s.ticks.length).toBeGreaterThanOrEqual(2);
      expect(s.ticks.length).toBeLessThanOrEqual(12);
    }
  });

  it('never crosses the floor (a loss is not negative) and keeps optimizer steps whole', () => {
    expect(niceScale(0.01, 3, 5, { floor: 0 }).lo).toBe(0);
    const x = niceScale(0, 7, 6, { integer: true });
    expect(x.ticks.every(Number.isInteger)).toBe(true);
    expect(x.ticks).toEqual([0, 2, 4, 6, 8]);
    expect(labels(0, 20, 6, { integer: true })).toEqual(['0', '5', '10', '15', '20']);
  });

  it('one value gets a small window around it, labelled distinctly', () => {
    const l = labels(6.23, 6.23);
    expect(new Set(l).size).toBe(l.length);
    expect(l.some((t) => Number(t) <= 6.23)).toBe(true);
    expect(l.some((t) => Number(t) >= 6.23)).toBe(true);
  });

  it('counts the decimals a step needs', () => {
    expect(stepDecimals(5)).toBe(0);
    expect(stepDecimals(0.2)).toBe(1);
    expect(stepDecimals(0.25)).toBe(2);
    expect(stepDecimals(0.0005)).toBe(4);
  });
});
