// In-place scaled accumulation: y[i] = beta · y[i] + alpha · x[i], i < count.
//
//   x: [count] f32 from element offset offset_x; y: [count] f32 at offset_y, read and written.
//   Used to add a branch's input gradient into the residual stream's gradient (dx += dx_branch)
//   and for any y += alpha·x. x and y must be different buffers.
//
// Geometry: WG threads per workgroup, one element each, 2-D folded grid (grid.ts).

struct Params {
  count: u32, offset_x: u32, offset_y: u32, _pad0: u32,
  alpha: f32, beta: f32, _pad1: u32, _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

const WG = {{WG}}u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wg.y * nwg.x + wg.x) * WG + lid.x;
  if (i >= p.count) { return; }
  let j = p.offset_y + i;
  y[j] = p.beta * y[j] + p.alpha * x[p.offset_x + i];
}
