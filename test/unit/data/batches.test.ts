import { describe, expect, it } from 'vitest';
import { arrayDataset, Batcher, IGNORE_INDEX, TokenStore, type Batch, type Example } from '../../../src/data/batches';
import { epochPermutation } from '../../../src/data/random';

/** Example k: ids 1000k+0..L-1; the mask trains from `from` on. */
function ex(k: number, L: number, from = 1): Example {
  return { ids: Int32Array.from({ length: L }, (_, j) => 1000 * k + j), lossMask: Uint8Array.from({ length: L }, (_, j) => (j >= from ? 1 : 0)) };
}

function all(b: Batcher): Batch[] {
  const out: Batch[] = [];
  for (let x = b.next(); x; x = b.next()) out.push(x);
  return out;
}

/** Which example each segment of each row came from, read back from the ids. */
function layout(b: Batch): number[][] {
  const rows: number[][] = [];
  for (let r = 0; r < b.B; r++) {
    const segs: number[] = [];
    for (let t = 0; t < b.T; t++) {
      const i = r * b.T + t;
      if (b.positionIds[i] === 0 && b.inputIds[i] !== -1) segs.push(Math.floor(b.inputIds[i] / 1000));
    }
    rows.push(segs);
  }
  return rows;
}

describe('Batcher', () => {
  it('labels are the next token of the same segment, -100 where masked, padded or at a segment end', () => {
    const data = arrayDataset([ex(1, 4, 2), ex(2, 3, 1)]);
    const [b] = all(new Batcher(data, { batchSize: 1, seqLen: 10, padId: -1, packing: true, shuffle: false }));
    const I = IGNORE_INDEX;
    expect(Array.from(b.inputIds)).toEqual([1000, 1001, 1002, 1003, 2000, 2001, 2002, -1, -1, -1]);
    // ex1 trains tokens 2,3 → targets at t=1,2; ex2 trains 1,2 → targets at t=4,5.
    expect(Array.from(b.labels)).toEqual([I, 1002, 1003, I, 2001, 2002, I, I, I, I]);
    expect(Array.from(b.positionIds)).toEqual([0, 1, 2, 3, 0, 1, 2, 0, 0, 0]);
    expect(Array.from(b.segmentIds)).toEqual([0, 0, 0, 0, 1, 1, 1, 2, 2, 2]);
    expect(b.targetTokens).toBe(4);
  });

  it('without packing each row holds one example; longer examples are cut to T', () => {
    const data = arrayDataset([ex(1, 3), ex(2, 9), ex(3, 2)]);
    const bs = all(new Batcher(data, { batchSize: 2, seqLen: 4, padId: -1, shuffle: false }));
    expect(bs.map(layout)).toEqual([[[1], [2]], [[3], []]]);
    expect(Array.from(bs[0].inputIds.subarray(4, 8))).toEqual([2000, 2001, 2002, 2003]);
    expect(bs[0].labels[7]).toBe(IGNORE_INDEX); // a cut segment's last token has no target
    expect(bs[1].targetTokens).toBe(1);
    expect(Array.from(bs[1].segmentIds.subarray(4, 8))).toEqual([0, 0, 0, 0]); // an empty row is all padding
  });

  it('packing fills rows greedily in order and keeps documents whole', () => {
    const data = arrayDataset([ex(1, 5), ex(2, 4), ex(3, 3), ex(4, 8), ex(5, 1)]);
    const bs = all(new Batcher(data, { batchSize: 2, seqLen: 8, padId: -1, packing: true, shuffle: false }));
    expect(bs.map(layout)).toEqual([[[1], [2, 3]], [[4], [5]]]);
  });

  it('the same seed gives the same order; epochs reshuffle; every example once per epoch', () => {
    const data = arrayDataset(Array.from({ length: 20 }, (_, k) => ex(k, 3)));
    const run = (seed: number) => all(new Batcher(data, { batchSize: 4, seqLen: 3, padId: -1, seed, epochs: 2 })).map((b) => layout(b).flat());
    const a = run(7);
    expect(run(7)).toEqual(a);
    expect(run(8)).not.toEqual(a);
    expect(a.length).toBe(10);
    const e0 = a.slice(0, 5).flat();
    const e1 = a.slice(5).flat();
    expect([...e0].sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, k) => k));
    expect([...e1].sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, k) => k));
    expect(e1).not.toEqual(e0);
  });

  it('a batch never spans two epochs', () => {
    const data = arrayDataset(Array.from({ length: 5 }, (_, k) => ex(k, 3)));
    const b = new Batcher(data, { batchSize: 2, seqLen: 3, padId: -1, epochs: 2, seed: 1 });
    expect(b.batchesInEpoch()).toBe(3);
    const bs = all(b);
    expect(bs.length).toBe(6);
    expect(layout(bs[2]).flat().length).toBe(1);
    expect(b.cursor).toEqual({ epoch: 2, index: 0, seed: 1 });
  });

  for (const packing of [false, true]) {
    it(`a resumed run continues from the next example (packing ${packing})`, () => {
      const data = arrayDataset(Array.from({ length: 37 }, (_, k) => ex(k, 1 + ((k * 7) % 6))));
      const opts = { batchSize: 3, seqLen: 8, padId: -1, seed: 42, epochs: 3, packing };
      const full = all(new Batcher(data, opts));
      for (const stopAt of [1, 5, full.length - 1]) {
        const first = new Batcher(data, opts);
        const head: Batch[] = [];
        for (let i = 0; i < stopAt; i++) head.push(first.next()!);
        const saved = JSON.parse(JSON.stringify(first.cursor));
        const resumed = new Batcher(data, { ...opts, seed: 999, cursor: saved });
        const rest = all(resumed);
        expect([...head, ...rest]).toEqual(full);
      }
    });
  }

  it('refuses an empty dataset and a bad cursor', () => {
    expect(() => new Batcher(arrayDataset([]), { batchSize: 1, seqLen: 4, padId: 0 })).toThrow(/no examples/);
    expect(() => new Batcher(arrayDataset([ex(1, 2)]), { batchSize: 1, seqLen: 4, padId: 0, cursor: { epoch: 0, index: 5, seed: 0 } })).toThrow(/outside/);
  });
});

describe('TokenStore', () => {
  it('grows, stores 16-bit ids when the vocabulary fits, and returns examples exactly', () => {
    const small = new TokenStore(49152, 4);
    const big = new TokenStore(151936, 4);
    const xs = Array.from({ length: 300 }, (_, k) => ({ ids: Int32Array.from({ length: 1 + (k % 17) }, (_, j) => (k * 31 + j) % 49152), lossMask: Uint8Array.from({ length: 1 + (k % 17) }, (_, j) => j % 2) }));
    for (const x of xs) {
      small.push(x);
      big.push(x);
    }
    expect(small.length).toBe(300);
    for (let k = 0; k < 300; k += 37) {
      expect(small.get(k)).toEqual(xs[k]);
      expect(big.get(k)).toEqual(xs[k]);
      expect(small.lengthOf(k)).toBe(xs[k].ids.length);
    }
    expect(big.bytes).toBeGreaterThan(small.bytes);
  });
  it('defaults to 32-bit ids, and refuses an id a 16-bit store cannot hold', () => {
    const store = new TokenStore();
    store.push({ ids: Int32Array.from([151_000, 7]), lossMask: Uint8Array.from([0, 1]) });
    expect(Array.from(store.get(0).ids)).toEqual([151_000, 7]);
    expect(() => new TokenStore(49152).push({ ids: Int32Array.from([70_000]), lossMask: Uint8Array.from([1]) })).toThrow(/outside the vocabulary of 49152/);
  });
});

describe('epochPermutation', () => {
  it('is a permutation, deterministic, and identity without shuffling', () => {
    const p = epochPermutation(1000, 3, 0);
    expect(new Set(p).size).toBe(1000);
    expect(epochPermutation(1000, 3, 0)).toEqual(p);
    expect(epochPermutation(1000, 3, 1)).not.toEqual(p);
    expect(Array.from(epochPermutation(5, 3, 0, false))).toEqual([0, 1, 2, 3, 4]);
  });
});
