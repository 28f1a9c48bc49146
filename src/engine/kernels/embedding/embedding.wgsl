// Embedding gather (forward only: the base embedding is frozen).
//
//   ids [N] (u32, or i32 read as u32), W [V, C] (f32, or f16 when W_TYPE is f16) → x [N, C] f32
//   x[n, c] = W[ids[n], c]
//   Saves nothing (no backward).
//
// W may be larger than one binding (151936 × 1024 f32 is 622 MB), so it is split by rows into
// parts (lora/weightParts.ts, the same parts the tied LM head reads), and this kernel runs once
// per part with that part bound: it writes the rows whose id falls in [first_row, first_row + rows),
// reading row id − first_row at element w_offset of the part's binding. The dispatch of part 0 also writes zero rows for ids
// outside [0, V) (an i32 −1 reads as a huge u32), so every row of x is written exactly once.
//
// Geometry: one thread per (n, c), WG per workgroup, 2-D folded grid (grid.ts).
{{ENABLE_F16}}

struct Params {
  N: u32, C: u32, V: u32, first_row: u32,
  rows: u32, zero_out_of_range: u32, w_offset: u32, _pad0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> W: array<{{W_TYPE}}>;
@group(0) @binding(3) var<storage, read_write> x: array<f32>;

const WG = {{WG}}u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = (wg.y * nwg.x + wg.x) * WG + lid.x;
  if (t >= p.N * p.C) { return; }
  let n = t / p.C;
  let c = t % p.C;
  let id = ids[n];
  if (id >= p.first_row && id - p.first_row < p.rows) {
    x[t] = f32(W[p.w_offset + (id - p.first_row) * p.C + c]);
  } else if (p.zero_out_of_range != 0u && id >= p.V) {
    x[t] = 0.0;
  }
}
