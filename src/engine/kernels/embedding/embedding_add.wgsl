// Adds the encoders' position and token-type embeddings to the gathered word embeddings (BERT,
// RoBERTa; DistilBERT has no token types), in Transformers' order: (word + type) + position.
//
//   x [N, C] f32 (word embeddings, read and written), positionIds u32 [N], tokenTypeIds u32 [N],
//   Wpos [P, C], Wtype [TV, C] (f32, or f16 when W_TYPE is f16)
//   x[n, c] = (x[n, c] + Wtype[type[n], c]) + Wpos[pos[n], c]
//   An id outside its table adds nothing (the launcher's callers validate ids on the CPU).
//   Saves nothing (the embeddings are frozen: no backward).
//
// Geometry: one thread per (n, c), WG per workgroup, 2-D folded grid (grid.ts).
{{ENABLE_F16}}

struct Params {
  N: u32, C: u32, P: u32, TV: u32,
  offset_pos: u32, offset_type: u32, _pad0: u32, _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> position_ids: array<u32>;
@group(0) @binding(2) var<storage, read> w_pos: array<{{W_TYPE}}>;
#if TYPES
@group(0) @binding(3) var<storage, read> token_type_ids: array<u32>;
@group(0) @binding(4) var<storage, read> w_type: array<{{W_TYPE}}>;
@group(0) @binding(5) var<storage, read_write> x: array<f32>;
#endif
#if NO_TYPES
@group(0) @binding(3) var<storage, read_write> x: array<f32>;
#endif

const WG = {{WG}}u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wg.y * nwg.x + wg.x) * WG + lid.x;
  if (i >= p.N * p.C) { return; }
  let n = i / p.C;
  let c = i % p.C;
  var v = x[i];
#if TYPES
  let t = token_type_ids[n];
  if (t < p.TV) { v = v + f32(w_type[p.offset_type + t * p.C + c]); }
#endif
  let pos = position_ids[n];
  if (pos < p.P) { v = v + f32(w_pos[p.offset_pos + pos * p.C + c]); }
  x[i] = v;
}
