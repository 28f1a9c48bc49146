// LayerNorm with weight and bias (torch.nn.LayerNorm over the last dimension), over `rows` rows of length C.
//
//   forward  x [rows, C], weight [C], bias [C] (f32, or f16 when W_TYPE is f16) → out [rows, C], mean [rows], rstd [rows]
//            mean[r] = Σ_c x[r,c] / C;  rstd[r] = 1 / sqrt(Σ_c (x[r,c] − mean[r])² / C + eps)   (biased variance)
//            out[r,c] = (x[r,c] − mean[r]) · rstd[r] · weight[c] + bias[c]
//            Saves for backward: mean and rstd (and the caller keeps x, the forward's input).
//   backward dy [rows, C], x, weight, mean, rstd → dx [rows, C]  (dx += … when ACCUMULATE: residual grads add up)
//            g = dy ⊙ weight, xhat = (x − mean) · rstd
//            dx[r,c] = rstd · (g[r,c] − Σ_j g[r,j] / C − xhat[r,c] · Σ_j g[r,j]·xhat[r,j] / C)
//   params   dy, x, mean, rstd → dweight [C] += Σ_r dy·xhat,  dbias [C] += Σ_r dy   (always accumulated)
//
// Geometry: forward and backward use one workgroup of WG threads per row (2-D folded grid for many
// rows); each thread strides over the row, then tree reductions in workgroup memory. The variance
// is a second pass over the row around the mean (not E[x²] − mean², which cancels badly when
// |mean| ≫ std). The parameter gradients use workgroups of 64 columns × 4 row slices: each thread
// sums every 4th row of its column, then the 4 slices are added in workgroup memory.
{{ENABLE_F16}}

struct Params {
  rows: u32, C: u32, offset_w: u32, offset_b: u32,
  eps: f32, offset_dw: u32, offset_db: u32, _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

const WG = {{WG}}u;
const ACCUMULATE = {{ACCUMULATE}};

fn row_index(wg: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wg.y * nwg.x + wg.x;
}

#if FORWARD
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<{{W_TYPE}}>;
@group(0) @binding(3) var<storage, read> bias: array<{{W_TYPE}}>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> mean: array<f32>;
@group(0) @binding(6) var<storage, read_write> rstd: array<f32>;

var<workgroup> partial: array<f32, WG>;

fn reduce_sum(li: u32, value: f32) -> f32 {
  partial[li] = value;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (li < stride) { partial[li] += partial[li + stride]; }
    workgroupBarrier();
  }
  let total = partial[0];
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let r = row_index(wg, nwg);
  if (r >= p.rows) { return; } // uniform per workgroup: the whole group leaves together
  let base = r * p.C;
  var s = 0.0;
  for (var c = li; c < p.C; c += WG) { s += x[base + c]; }
  let m = reduce_sum(li, s) / f32(p.C);
  var ss = 0.0;
  for (var c = li; c < p.C; c += WG) {
    let d = x[base + c] - m;
    ss = fma(d, d, ss);
  }
  let inv = inverseSqrt(reduce_sum(li, ss) / f32(p.C) + p.eps);
  for (var c = li; c < p.C; c += WG) {
    out[base + c] = fma((x[base + c] - m) * inv, f32(weight[p.offset_w + c]), f32(bias[p.offset_b + c]));
  }
  if (li == 0u) {
    mean[r] = m;
    rstd[r] = inv;
  }
}
#endif

#if BACKWARD
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> weight: array<{{W_TYPE}}>;
@group(0) @binding(4) var<storage, read> mean: array<f32>;
@group(0) @binding(5) var<storage, read> rstd: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;

var<workgroup> partial2: array<vec2<f32>, WG>;

fn reduce_sum2(li: u32, value: vec2<f32>) -> vec2<f32> {
  partial2[li] = value;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (li < stride) { partial2[li] += partial2[li + stride]; }
    workgroupBarrier();
  }
  let total = partial2[0];
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let r = row_index(wg, nwg);
  if (r >= p.rows) { return; }
  let base = r * p.C;
  let m = mean[r];
  let inv = rstd[r];
  // (Σ g, Σ g·xhat)
  var acc = vec2<f32>(0.0);
  for (var c = li; c < p.C; c += WG) {
    let g = dy[base + c] * f32(weight[p.offset_w + c]);
    acc += vec2<f32>(g, g * (x[base + c] - m) * inv);
  }
  let sums = reduce_sum2(li, acc) / f32(p.C);
  for (var c = li; c < p.C; c += WG) {
    let xhat = (x[base + c] - m) * inv;
    var d = inv * (dy[base + c] * f32(weight[p.offset_w + c]) - sums.x - xhat * sums.y);
    if (ACCUMULATE) { d += dx[base + c]; }
    dx[base + c] = d;
  }
}
#endif

#if PARAMS
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> rstd: array<f32>;
@group(0) @binding(5) var<storage, read_write> dweight: array<f32>;
@group(0) @binding(6) var<storage, read_write> dbias: array<f32>;

const COLS = 64u;
const SLICES = 4u;
var<workgroup> part_w: array<f32, COLS * SLICES>;
var<workgroup> part_b: array<f32, COLS * SLICES>;

@compute @workgroup_size(64, 4)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let c = wg.x * COLS + lid.x;
  var sw = 0.0;
  var sb = 0.0;
  if (c < p.C) {
    for (var r = lid.y; r < p.rows; r += SLICES) {
      let g = dy[r * p.C + c];
      sw = fma(g, (x[r * p.C + c] - mean[r]) * rstd[r], sw);
      sb += g;
    }
  }
  part_w[lid.y * COLS + lid.x] = sw;
  part_b[lid.y * COLS + lid.x] = sb;
  workgroupBarrier();
  if (lid.y == 0u && c < p.C) {
    var tw = 0.0;
    var tb = 0.0;
    for (var s = 0u; s < SLICES; s++) {
      tw += part_w[s * COLS + lid.x];
      tb += part_b[s * COLS + lid.x];
    }
    dweight[p.offset_dw + c] += tw;
    dbias[p.offset_db + c] += tb;
  }
}
#endif
