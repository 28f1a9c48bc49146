// Element-wise add: out[i] = alpha · a[i] + beta · b[i], i < count.
//
//   a, b, out: [count] f32 each, read from element offsets offset_a, offset_b, written at offset_out.
//   The residual add of the forward (x = x_prev + f(x_prev)) is alpha = beta = 1; out must be a
//   different buffer from a and b (WebGPU forbids binding a buffer as writable and readable at
//   once); use axpy for in-place accumulation. Saves nothing: its backward passes dy to both inputs.
//
// Geometry: WG threads per workgroup, one element each; the grid is folded into 2-D for large
// counts (see grid.ts).

struct Params {
  count: u32, offset_a: u32, offset_b: u32, offset_out: u32,
  alpha: f32, beta: f32, _pad0: u32, _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

const WG = {{WG}}u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wg.y * nwg.x + wg.x) * WG + lid.x;
  if (i >= p.count) { return; }
  out[p.offset_out + i] = p.alpha * a[p.offset_a + i] + p.beta * b[p.offset_b + i];
}
