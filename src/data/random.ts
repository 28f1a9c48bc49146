/** Small seeded generators: the same seed gives the same shuffle in the browser, in Node and after a resume. */
import { mulberry32 } from '../formats/gen/random';

/** 32-bit mix of two integers (a murmur3-style finalizer); stable across platforms. */
export function hash32(a: number, b: number): number {
  let h = (Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x632be5ab, 0xc2b2ae35)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The order of examples in an epoch: a Fisher–Yates shuffle seeded by (seed, epoch). */
export function epochPermutation(n: number, seed: number, epoch: number, shuffle = true): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  if (!shuffle) return p;
  const rand = mulberry32(hash32(seed, epoch));
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}
