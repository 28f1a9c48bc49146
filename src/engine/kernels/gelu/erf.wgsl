// erf and the standard normal CDF / PDF in f32 (WGSL has no erf). A library: kernels prepend it.
//
//   |z| < 0.9 erf(z) = z · Σ_{n=0..11} c_n z^(2n),  c_n = (−1)ⁿ · 2/√π / (n! (2n+1))  (Maclaurin series,
//             truncation below 1e-10 at |z| = 1; Horner in z²)
//   |z| ≥ 0.9 erfc(|z|) = t · exp(−z² − 1.26551223 + t·P(t)),  t = 1 / (1 + |z|/2)  (the Chebyshev fit of
//             Numerical Recipes' erfcc, fractional error < 1.2e-7), and erf = sign(z) · (1 − erfc(|z|))
// normal_cdf takes erfc directly in the lower tail, so Φ(x) keeps its relative accuracy for very
// negative x where 1 + erf(x/√2) would cancel. Measured max |erf_f32(x) − erf(x)| against float64
// over every multiple of 2⁻¹⁴ in [−10, 10): 1.3e-7 on lavapipe, 9.7e-8 on SwiftShader, about 2 ulp of
// values near 1 (test/gpu/kernels/gelu.test.ts records it as op "erf").
// NOTE: WGSL's fma need not be fused (lavapipe's is not), so the split-constant trick of erf_series
// helps only where it is.
// NOTE: exp underflows to 0 for |z| > ~9.3, where erfc < 1e-38 anyway; ±inf give ±1, NaN stays NaN.

// Where the series hands over to the erfc fit. NOTE: measured over [−10, 10) (gelu.test.ts), 0.9 gave
// the smallest max error of 0.5 … 1.2 on both software adapters: both pieces err most near the seam.
const ERF_SPLIT = 0.9;
const ERF_SQRT1_2 = 0.70710678118654757;
const ERF_INV_SQRT_2PI = 0.39894228040143270;

// erf(z) for |z| < 1. The leading term z·2/√π is added last, with 2/√π split into an f32 head and
// tail, so that the largest term carries no rounding of its coefficient.
fn erf_series(z: f32) -> f32 {
  let z2 = z * z;
  var s = -1.2290555301717926e-9;
  s = fma(s, z2, 1.4807192815879218e-8);
  s = fma(s, z2, -1.6365844691234924e-7);
  s = fma(s, z2, 1.6462114365889246e-6);
  s = fma(s, z2, -1.4925650358406250e-5);
  s = fma(s, z2, 1.2055332981789664e-4);
  s = fma(s, z2, -8.5483270234508522e-4);
  s = fma(s, z2, 5.2239776254421879e-3);
  s = fma(s, z2, -2.6866170645131252e-2);
  s = fma(s, z2, 1.1283791670955126e-1);
  s = fma(s, z2, -3.7612638903183754e-1);
  // 2/√π = 1.1283792257308960 (exact in f32) − 5.8635383437533051e-8
  return fma(z, 1.1283792257308960, fma(z * z2, s, z * -5.8635383437533051e-8));
}

// erfc(a) for a ≥ 0.9 (any a ≥ 0 works, with the fit's 1.2e-7 fractional error).
fn erfc_tail(a: f32) -> f32 {
  let t = 1.0 / fma(0.5, a, 1.0);
  var q = 0.17087277;
  q = fma(q, t, -0.82215223);
  q = fma(q, t, 1.48851587);
  q = fma(q, t, -1.13520398);
  q = fma(q, t, 0.27886807);
  q = fma(q, t, -0.18628806);
  q = fma(q, t, 0.09678418);
  q = fma(q, t, 0.37409196);
  q = fma(q, t, 1.00002368);
  q = fma(q, t, -1.26551223);
  return t * exp(q - a * a);
}

fn erf_f32(z: f32) -> f32 {
  let a = abs(z);
  if (a < ERF_SPLIT) { return erf_series(z); }
  return sign(z) * (1.0 - erfc_tail(a));
}

// Φ(x) = P(N(0,1) ≤ x) = (1 + erf(x/√2)) / 2
fn normal_cdf(x: f32) -> f32 {
  let z = x * ERF_SQRT1_2;
  if (abs(z) < ERF_SPLIT) { return fma(0.5, erf_series(z), 0.5); }
  if (z < 0.0) { return 0.5 * erfc_tail(-z); }
  return fma(-0.5, erfc_tail(z), 1.0);
}

// φ(x) = exp(−x²/2) / √(2π)
fn normal_pdf(x: f32) -> f32 {
  return ERF_INV_SQRT_2PI * exp(-0.5 * x * x);
}
