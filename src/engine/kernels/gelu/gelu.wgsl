// GELU, erf form, element-wise over [N, I]: exactly torch's nn.GELU() / Transformers' ACT2FN["gelu"].
//
//   forward  x [N, I] → y [N, I],  y = x · Φ(x) = 0.5 · x · (1 + erf(x / √2))
//            Saves nothing of its own: the backward reads the forward's input x.
//   backward dy [N, I], x → dx [N, I],  dx = dy · (Φ(x) + x · φ(x)),  φ(x) = exp(−x²/2) / √(2π)
//   probe    x → erf(x): a test kernel measuring the erf of erf.wgsl (prepended) against float64.
//
// Geometry: WG threads per workgroup, one element each, 2-D folded grid (grid.ts).

struct Params {
  count: u32, _pad0: u32, _pad1: u32, _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

const WG = {{WG}}u;

fn flat_index(wg: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>) -> u32 {
  return (wg.y * nwg.x + wg.x) * WG + lid.x;
}

#if FORWARD
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_index(wg, nwg, lid);
  if (i >= p.count) { return; }
  let v = x[i];
  y[i] = v * normal_cdf(v);
}
#endif

#if BACKWARD
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_index(wg, nwg, lid);
  if (i >= p.count) { return; }
  let v = x[i];
  dx[i] = dy[i] * fma(v, normal_pdf(v), normal_cdf(v));
}
#endif

#if PROBE
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_index(wg, nwg, lid);
  if (i >= p.count) { return; }
  y[i] = erf_f32(x[i]);
}
#endif
