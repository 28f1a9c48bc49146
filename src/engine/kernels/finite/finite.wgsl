// The first non-finite value of a tensor, found on the GPU (weights are checked once as they load).
//
//   data: [count] values as raw words: f32 (one per word) or, with F16, f16 (two per word, low half
//         first); result: u32 [slots], set to 0xffffffff before the scan.
//   result[slot] = min(result[slot], base + i) for every i whose value is NaN or ±Inf
//   (exponent bits all ones: 0x7f800000 for f32, 0x7c00 for f16; no float compare, which a compiler
//   may assume finite). `base` is the chunk's first index when a tensor is scanned chunk by chunk.
// Geometry: one thread per value, WG per workgroup, 2-D folded grid (elementwise/grid.ts).

struct Params { count: u32, slot: u32, base: u32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> data: array<u32>;
@group(0) @binding(2) var<storage, read_write> result: array<atomic<u32>>;

const WG = {{WG}}u;
const F16 = {{F16}};

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wg.y * nwg.x + wg.x) * WG + lid.x;
  if (i >= p.count) { return; }
  var bad = false;
  if (F16) {
    let half = (data[i >> 1u] >> (16u * (i & 1u))) & 0xffffu;
    bad = (half & 0x7c00u) == 0x7c00u;
  } else {
    bad = (data[i] & 0x7f800000u) == 0x7f800000u;
  }
  if (bad) { atomicMin(&result[p.slot], p.base + i); }
}
