// Backward preprocessing: delta[n, h] = Σ_d dout[n, h*HS + d] · out[n, h*HS + d]   (D_i of attention.ref.ts)
//
//   out, dout [N, NH*HS]  →  delta [N, NH]
// Geometry: one thread per (token, head) pair, 64 per workgroup, over a 2-D grid of workgroups.

struct Params { count: u32, HS: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> out: array<f32>;
@group(0) @binding(2) var<storage, read> dout: array<f32>;
@group(0) @binding(3) var<storage, read_write> delta: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = (wg.y * nwg.x + wg.x) * 64u + li;
  if (i >= p.count) { return; }
  var sum = 0.0;
  for (var d = 0u; d < p.HS; d++) { sum = fma(out[i * p.HS + d], dout[i * p.HS + d], sum); }
  delta[i] = sum;
}
