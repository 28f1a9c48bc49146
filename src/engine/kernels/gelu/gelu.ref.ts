/**
 * Float64 reference of GELU in its erf form (torch's nn.GELU(), Transformers' ACT2FN["gelu"]) and
 * the float64 erf it needs (JavaScript has none), with the same argument names as gelu.ts.
 *
 *   y = x · Φ(x) = 0.5 · x · (1 + erf(x/√2)),   dx = dy · (Φ(x) + x·φ(x)),   φ(x) = exp(−x²/2)/√(2π)
 */

/** erfc(x) for x ≥ 3 from its continued fraction, evaluated backwards (converged to ~1e-16 there). */
function erfcContinuedFraction(x: number): number {
  // erfc(x) = exp(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + …)))))
  let f = x;
  for (let k = 120; k >= 1; k--) f = x + k / 2 / f;
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}

/**
 * erf(x) in float64: for |x| < 3 the series erf(x) = 2/√π · e^(−x²) · Σ (2x²)ⁿ x / (1·3·…·(2n+1)),
 * whose terms are all positive (no cancellation); beyond, 1 − erfc from the continued fraction.
 */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const a = Math.abs(x);
  if (a >= 3) return Math.sign(x) * (1 - erfcContinuedFraction(a));
  let term = a;
  let sum = a;
  for (let n = 0; n < 200 && term > 1e-17 * sum; n++) {
    term *= (2 * a * a) / (2 * n + 3);
    sum += term;
  }
  return Math.sign(x) * ((2 / Math.sqrt(Math.PI)) * Math.exp(-a * a) * sum);
}

/** erfc(x) = 1 − erf(x), accurate in relative terms for large positive x. */
export function erfc(x: number): number {
  return x >= 3 ? erfcContinuedFraction(x) : 1 - erf(x);
}

/** Φ(x), the standard normal CDF, with relative accuracy in the lower tail. */
export function normalCdf(x: number): number {
  return 0.5 * erfc(-x / Math.SQRT2);
}

/** φ(x), the standard normal density. */
export function normalPdf(x: number): number {
  return Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
}

/** y = x · Φ(x) element-wise over count values. */
export function geluForwardRef(x: ArrayLike<number>, count = x.length): Float64Array {
  const y = new Float64Array(count);
  for (let i = 0; i < count; i++) y[i] = x[i] * normalCdf(x[i]);
  return y;
}

/** Backward of `y = x · Φ(x)`: dx = dy · (Φ(x) + x·φ(x)). */
export function geluBackwardRef(dy: ArrayLike<number>, x: ArrayLike<number>, count = x.length): Float64Array {
  const dx = new Float64Array(count);
  for (let i = 0; i < count; i++) dx[i] = dy[i] * (normalCdf(x[i]) + x[i] * normalPdf(x[i]));
  return dx;
}
