// Embedding gather from a quantized table (forward only: the base embedding is frozen).
//
//   ids [N] (u32, or i32 read as u32), W [V, C] as q8 or nf4 rows (quant/layout.ts; the reader,
//   quant/q8.wgsl or quant/nf4.wgsl, is appended and binds W's values at @binding(2) and its
//   scales at @binding(4)) → x [N, C] f32
//   x[n, c] = dequant(W)[ids[n], c]   (the values the tied LM head's matmul sees)
//   Saves nothing (no backward).
//
// As embedding.wgsl: one dispatch per binding window of W's rows [first_row, first_row + rows);
// the window's row 0 starts at word value_offset and scale scale_offset; the dispatch of window 0
// also writes zero rows for ids outside [0, V).
// Geometry: one thread per (n, c), WG per workgroup, 2-D folded grid (grid.ts).

struct Params {
  N: u32, C: u32, V: u32, first_row: u32,
  rows: u32, zero_out_of_range: u32, value_offset: u32, scale_offset: u32,
  row_words: u32, scales_per_row: u32, _p0: u32, _p1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
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
    let r = id - p.first_row;
    x[t] = dequant1(p.value_offset + r * p.row_words, p.scale_offset + r * p.scales_per_row, c);
  } else if (p.zero_out_of_range != 0u && id >= p.V) {
    x[t] = 0.0;
  }
}
