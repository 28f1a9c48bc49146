// In-place scale and fill: x[i] = scale · x[i] + value, i < count; with FILL the old value is
// not read at all (so NaN or garbage in x does not survive a fill: 0·NaN would be NaN).
//
//   x: [count] f32 from element offset offset_x.
//
// Geometry: WG threads per workgroup, one element each, 2-D folded grid (grid.ts).

struct Params {
  count: u32, offset_x: u32, scale: f32, value: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;

const WG = {{WG}}u;
const FILL = {{FILL}};

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wg.y * nwg.x + wg.x) * WG + lid.x;
  if (i >= p.count) { return; }
  let j = p.offset_x + i;
  if (FILL) {
    x[j] = p.value;
  } else {
    x[j] = p.scale * x[j] + p.value;
  }
}
