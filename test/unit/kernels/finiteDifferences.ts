import { expect } from 'vitest';

/**
 * Central finite differences in float64: for a scalar loss L(x), returns dL/dx[i] ≈
 * (L(x + h·e_i) − L(x − h·e_i)) / 2h for every i. `x` is restored afterwards.
 */
export function numericGradient(loss: (x: Float64Array) => number, x: Float64Array, h = 1e-6): Float64Array {
  const grad = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const keep = x[i];
    x[i] = keep + h;
    const plus = loss(x);
    x[i] = keep - h;
    const minus = loss(x);
    x[i] = keep;
    grad[i] = (plus - minus) / (2 * h);
  }
  return grad;
}

/** Σ a·b, the loss whose gradient with respect to a forward output `a` is the upstream `b`. */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Asserts analytic ≈ numeric with |a − n| ≤ atol + rtol·|n|, naming the first mismatch. */
export function expectGradClose(analytic: ArrayLike<number>, numeric: ArrayLike<number>, what: string, atol = 1e-7, rtol = 1e-6): void {
  expect(analytic.length, `${what}: length`).toBe(numeric.length);
  let worst = 0;
  let worstAt = -1;
  for (let i = 0; i < numeric.length; i++) {
    const err = Math.abs(analytic[i] - numeric[i]) - (atol + rtol * Math.abs(numeric[i]));
    if (!(err <= worst)) {
      worst = err;
      worstAt = i;
    }
  }
  expect(
    worstAt,
    worstAt < 0 ? what : `${what}: [${worstAt}] analytic ${analytic[worstAt]} vs finite differences ${numeric[worstAt]}`,
  ).toBe(-1);
}

/** Float64 copy of uniform values in [lo, hi) from a small LCG (tests only). */
export function randomF64(n: number, seed: number, lo = -1, hi = 1): Float64Array {
  let s = seed >>> 0 || 1;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = lo + ((hi - lo) * s) / 4294967296;
  }
  return out;
}
