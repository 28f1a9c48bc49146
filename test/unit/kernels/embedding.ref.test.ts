import { describe, expect, it } from 'vitest';
import { embeddingForwardRef } from '../../../src/engine/kernels/embedding/embedding.ref';
import { planRowSplit } from '../../../src/engine/kernels/embedding/embedding';

describe('embedding reference and table split', () => {
  it('embedding forward gathers rows; ids outside [0, V) give zero rows', () => {
    const W = [1, 2, 3, 4, 5, 6]; // V = 3, C = 2
    expect(Array.from(embeddingForwardRef([2, 0, -1, 3, 2], W, 3, 2))).toEqual([5, 6, 1, 2, 0, 0, 0, 0, 5, 6]);
  });

  it('planRowSplit covers every row once, each part within the binding limit', () => {
    for (const [V, C, bytes, max] of [[151936, 1024, 4, 128 << 20], [49152, 576, 2, 128 << 20], [37, 5, 4, 7 * 20], [10, 3, 2, 20], [5, 4, 4, 1 << 30]]) {
      const parts = planRowSplit(V, C, bytes, max);
      let next = 0;
      for (const part of parts) {
        expect(part.firstRow).toBe(next);
        expect(part.rows * C * bytes).toBeLessThanOrEqual(max);
        next += part.rows;
      }
      expect(next).toBe(V);
    }
    expect(planRowSplit(151936, 1024, 4, 128 << 20)).toHaveLength(5);
    expect(planRowSplit(37, 5, 4, 7 * 20)).toHaveLength(6);
  });

  it('planRowSplit refuses a row larger than a binding', () => {
    expect(() => planRowSplit(10, 100, 4, 256)).toThrow(/does not fit/);
  });
});
