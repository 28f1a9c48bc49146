// The bias of a dense layer, forward and backward.
//
//   ADD   y [N, OUT] += b [OUT]  (b f32, or f16 when W_TYPE is f16), one thread per element, WG per
//         workgroup, 2-D folded grid (grid.ts).
//   GRAD  db [OUT] += Σ_n dy [N, OUT]   (column sums; always accumulated: gradient accumulation)
//         Workgroups of 64 columns × 4 row slices: each thread sums every 4th row of its column,
//         coalesced across the 64 columns, then the 4 slices are added in workgroup memory.
{{ENABLE_F16}}

struct Params { N: u32, OUT: u32, offset_b: u32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;

const WG = {{WG}}u;

#if ADD
@group(0) @binding(1) var<storage, read> b: array<{{W_TYPE}}>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wg.y * nwg.x + wg.x) * WG + lid.x;
  if (i >= p.N * p.OUT) { return; }
  y[i] = y[i] + f32(b[p.offset_b + i % p.OUT]);
}
#endif

#if GRAD
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> db: array<f32>;

const COLS = 64u;
const SLICES = 4u;
var<workgroup> part: array<f32, COLS * SLICES>;

@compute @workgroup_size(64, 4)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let o = wg.x * COLS + lid.x;
  var s = 0.0;
  if (o < p.OUT) {
    for (var n = lid.y; n < p.N; n += SLICES) { s += dy[n * p.OUT + o]; }
  }
  part[lid.y * COLS + lid.x] = s;
  workgroupBarrier();
  if (lid.y == 0u && o < p.OUT) {
    db[p.offset_b + o] += part[lid.x] + part[COLS + lid.x] + part[2u * COLS + lid.x] + part[3u * COLS + lid.x];
  }
}
#endif
