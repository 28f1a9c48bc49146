import { mulberry32 } from '../../src/formats/gen/random';

/** Deterministic PRNG (mulberry32) for test inputs. */
export const rng = mulberry32;

/**
 * Values from a grid of exactly representable numbers (multiples of 1/8 in [-2, 2]) so that
 * f32 and f16 storage do not round test inputs and hide or fake a mismatch.
 */
export function gridValues(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (Math.floor(r() * 33) - 16) / 8 * scale;
  return out;
}

/** Uniform values in [lo, hi). */
export function uniformValues(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}
