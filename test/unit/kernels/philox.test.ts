import { describe, expect, it } from 'vitest';
import { dropoutKeep, dropoutScaleMask, dropoutThreshold, philox4x32 } from '../../../src/engine/kernels/philox/philox';

// Known-answer vectors of Random123 (kat_vectors, philox4x32_10).
const KAT: [[number, number, number, number], [number, number], [number, number, number, number]][] = [
  [[0, 0, 0, 0], [0, 0], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]],
  [[0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff], [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]],
  [[0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0], [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]],
];

describe('philox4x32-10', () => {
  it('matches the Random123 known-answer vectors', () => {
    for (const [counter, key, want] of KAT) expect(philox4x32(counter, key)).toEqual(want);
  });

  it('dropout keeps about 1 − p of the elements and scales them by 1/(1 − p)', () => {
    const key = { seed: 42, site: 3, step: 7 };
    const mask = dropoutScaleMask(key, 64, 300, 0.25);
    const kept = mask.filter((v) => v !== 0);
    expect(kept.every((v) => v === 1 / 0.75)).toBe(true);
    expect(Math.abs(kept.length / mask.length - 0.75)).toBeLessThan(0.01);
    expect(dropoutScaleMask(key, 3, 5, 0).every((v) => v === 1)).toBe(true);
  });

  it('the mask depends on seed, site, step, token and feature, and only on them', () => {
    const key = { seed: 1, site: 2, step: 3 };
    const base = dropoutScaleMask(key, 8, 40, 0.5);
    expect(dropoutScaleMask({ ...key }, 8, 40, 0.5)).toEqual(base);
    for (const other of [{ ...key, seed: 9 }, { ...key, site: 9 }, { ...key, step: 9 }]) {
      expect(dropoutScaleMask(other, 8, 40, 0.5)).not.toEqual(base);
    }
    // Element (token, feature) is the same whatever the tensor's width: drawn from its own counter.
    const wide = dropoutScaleMask(key, 8, 41, 0.5);
    for (let n = 0; n < 8; n++) for (let f = 0; f < 40; f++) expect(wide[n * 41 + f]).toBe(base[n * 40 + f]);
    expect(dropoutKeep(key, 5, 17, 0.5)).toBe(base[5 * 40 + 17] !== 0);
  });

  it('dropoutThreshold refuses p outside [0, 1)', () => {
    expect(dropoutThreshold(0)).toBe(0);
    expect(dropoutThreshold(0.5)).toBe(2 ** 31);
    expect(() => dropoutThreshold(1)).toThrow(RangeError);
    expect(() => dropoutThreshold(-0.1)).toThrow(RangeError);
  });
});
