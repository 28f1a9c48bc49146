// Rotary position embedding, Hugging Face rotate_half convention, in place.
//
//   x [N, H*HS] (q with H = NH, or k with H = KVH), positionIds u32 [N], invFreq f32 [HS/2]
//   For each token n, head h, pair i < HS/2, with a = positionIds[n] · invFreq[i]:
//     forward   x1' = x1·cos a − x2·sin a,  x2' = x2·cos a + x1·sin a   (x1 = x[n,h,i], x2 = x[n,h,i+HS/2])
//     backward  the inverse rotation of the gradients: dx1 = dy1·cos a + dy2·sin a,
//               dx2 = dy2·cos a − dy1·sin a  (p.inverse ≠ 0 flips sin: one pipeline for both ways,
//               since each pipeline costs a compile at the first step on lavapipe)
//   Saves nothing: positions and invFreq are inputs of the step.
//
// NOTE: like HF (inv_freq and positions in f32, `freqs = inv_freq @ pos`), the angle is the f32
// product. cos and sin are computed here rather than with WGSL's builtins, which only promise
// ~2^-11 absolute accuracy (SwiftShader errs by 2e-4): the angle is reduced by π/2 in four steps
// (Cody–Waite; the first three pieces of π/2 have 7 significant bits, so k·P is exact for
// k < 2^17, i.e. angles up to ~200k rad), then Cephes' minimax polynomials on [−π/4, π/4] give
// sin and cos to about 1 ulp, and the quadrant k mod 4 picks signs and swaps.
//
// Geometry: one thread per (n, h, i), WG per workgroup, 2-D folded grid (grid.ts).

struct Params {
  N: u32, H: u32, HALF: u32, inverse: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> positionIds: array<u32>;
@group(0) @binding(3) var<storage, read> invFreq: array<f32>;

const WG = {{WG}}u;

const TWO_OVER_PI = 0.6366197466850281;
const P1 = 1.5625;
const P2 = 0.0081787109375;
const P3 = 0.00011730194091796875;
const P4 = 3.1391647326017846e-07;
const S1 = -1.6666654611e-1;
const S2 = 8.3321608736e-3;
const S3 = -1.9515295891e-4;
const C1 = 4.166664568298827e-2;
const C2 = -1.388731625493765e-3;
const C3 = 2.443315711809948e-5;

/** (sin a, cos a) for an angle a ≥ 0 to about 1 ulp. */
fn sin_cos(a: f32) -> vec2<f32> {
  let k = round(a * TWO_OVER_PI);
  var r = a - k * P1;
  r = r - k * P2;
  r = r - k * P3;
  r = r - k * P4;
  let z = r * r;
  let s = r + r * z * (S1 + z * (S2 + z * S3));
  let c = 1.0 - 0.5 * z + z * z * (C1 + z * (C2 + z * C3));
  switch (u32(k) & 3u) {
    case 0u: { return vec2<f32>(s, c); }
    case 1u: { return vec2<f32>(c, -s); }
    case 2u: { return vec2<f32>(-s, -c); }
    default: { return vec2<f32>(-c, s); }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = (wg.y * nwg.x + wg.x) * WG + lid.x;
  if (t >= p.N * p.H * p.HALF) { return; }
  let i = t % p.HALF;
  let row = t / p.HALF; // n·H + h
  let n = row / p.H;
  let a = f32(positionIds[n]) * invFreq[i];
  let sc = sin_cos(a);
  let c = sc.y;
  let s = select(sc.x, -sc.x, p.inverse != 0u);
  let j1 = row * 2u * p.HALF + i;
  let j2 = j1 + p.HALF;
  let x1 = x[j1];
  let x2 = x[j2];
  x[j1] = x1 * c - x2 * s;
  x[j2] = x2 * c + x1 * s;
}
