// RMSNorm with a frozen weight, over `rows` rows of length C.
//
//   forward  x [rows, C], w [C] (f32, or f16 when W_TYPE is f16) → out [rows, C], rrms [rows]
//            rrms[r] = 1 / sqrt(mean_c(x[r,c]²) + eps);  out[r,c] = x[r,c] · rrms[r] · w[c]
//            Saves for backward: rrms (and the caller keeps x, the forward's input).
//   backward dy [rows, C], x, w, rrms → dx [rows, C]  (dx += … when p.accumulate ≠ 0: residual grads
//            add up; a uniform, so one pipeline serves both, each pipeline costing a compile on lavapipe)
//            dx[r,c] = rrms·w[c]·dy[r,c] − x[r,c] · rrms³/C · Σ_j w[j]·dy[r,j]·x[r,j]
//
// The block norms use rows = N, C = hidden; qwen3's per-head q/k norm is the same op with
// rows = N·NH (or N·KVH) and C = HS, since a head's HS values are contiguous in q [N, NH*HS].
//
// Geometry: one workgroup of WG threads per row (2-D folded grid for many rows); each thread
// strides over the row, then a reduction in workgroup memory.
{{ENABLE_F16}}

struct Params {
  rows: u32, C: u32, offset_w: u32, eps: f32,
  accumulate: u32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

const WG = {{WG}}u;
// reduce_sum, reduce_max: ../elementwise/workgroup_reduce.wgsl, appended.

fn row_index(wg: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wg.y * nwg.x + wg.x;
}

#if FORWARD
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<{{W_TYPE}}>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> rrms: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let r = row_index(wg, nwg);
  if (r >= p.rows) { return; } // uniform per workgroup: the whole group leaves together
  let base = r * p.C;
  var ss = 0.0;
  for (var c = li; c < p.C; c += WG) {
    let v = x[base + c];
    ss = fma(v, v, ss);
  }
  let total = reduce_sum(li, ss);
  let inv = inverseSqrt(total / f32(p.C) + p.eps);
  for (var c = li; c < p.C; c += WG) {
    out[base + c] = x[base + c] * inv * f32(w[p.offset_w + c]);
  }
  if (li == 0u) { rrms[r] = inv; }
}
#endif

#if BACKWARD
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<{{W_TYPE}}>;
@group(0) @binding(4) var<storage, read> rrms: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let r = row_index(wg, nwg);
  if (r >= p.rows) { return; }
  let base = r * p.C;
  var dot = 0.0;
  for (var c = li; c < p.C; c += WG) {
    dot = fma(f32(w[p.offset_w + c]) * dy[base + c], x[base + c], dot);
  }
  let total = reduce_sum(li, dot);
  let inv = rrms[r];
  let k = inv * inv * inv * total / f32(p.C);
  for (var c = li; c < p.C; c += WG) {
    var g = inv * f32(w[p.offset_w + c]) * dy[base + c] - x[base + c] * k;
    if (p.accumulate != 0u) { g += dx[base + c]; }
    dx[base + c] = g;
  }
}
#endif
