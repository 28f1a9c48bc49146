// Adds a frozen bias to every row: y[n, o] += b[o].   y [N, OUT], b [OUT] (f32, or f16 with shader-f16)
// Geometry: one thread per element, 256 per workgroup, 2-D grid of workgroups.
{{ENABLE_F16}}

struct Params { count: u32, OUT: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> b: array<{{W_TYPE}}>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = (wg.y * nwg.x + wg.x) * 256u + li;
  if (i >= p.count) { return; }
  y[i] = y[i] + f32(b[i % p.OUT]);
}
