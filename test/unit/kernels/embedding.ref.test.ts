import { describe, expect, it } from 'vitest';
import { embeddingForwardRef, encoderEmbeddingForwardRef } from '../../../src/engine/kernels/embedding/embedding.ref';
import { absolutePositionIds, robertaPositionIds } from '../../../src/engine/kernels/embedding/positions';
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

describe('encoder embeddings and position ids', () => {
  it('sums word, token-type and position rows; DistilBERT has no token types', () => {
    const W = [1, 2, 3, 4, 5, 6]; // V = 3, C = 2
    const wPos = [10, 20, 30, 40]; // P = 2
    const wType = [100, 200, 300, 400]; // TV = 2
    const base = { ids: [2, 0], positionIds: [0, 1], w: W, wPos, V: 3, P: 2, TV: 2, C: 2 };
    expect(Array.from(encoderEmbeddingForwardRef({ ...base, tokenTypeIds: [1, 0], wType }))).toEqual([5 + 300 + 10, 6 + 400 + 20, 1 + 100 + 30, 2 + 200 + 40]);
    expect(Array.from(encoderEmbeddingForwardRef({ ...base, tokenTypeIds: null, wType: null }))).toEqual([15, 26, 31, 42]);
  });

  it("RoBERTa's position ids count non-padding tokens from padding_idx + 1 (Transformers' create_position_ids_from_input_ids)", () => {
    // <s> Hello world </s> <pad> <pad>  |  left padding  (padding_idx = 1)
    const ids = [0, 31414, 232, 2, 1, 1, /**/ 1, 1, 0, 5, 2, 2];
    expect(Array.from(robertaPositionIds(ids, 2, 6, 1))).toEqual([2, 3, 4, 5, 1, 1, /**/ 1, 1, 2, 3, 4, 5]);
    expect(Array.from(absolutePositionIds(2, 3))).toEqual([0, 1, 2, 0, 1, 2]);
    expect(() => robertaPositionIds(ids, 2, 5, 1)).toThrow(RangeError);
  });
});
