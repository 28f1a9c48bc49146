// What every attention kernel but the delta shares, prepended by attention.ts: the uniforms it
// writes, the mode constants, and the mask and dropout of a (query, key) pair.
//   CAUSAL: seg holds segment ids; query t attends key tj iff same batch row, tj ≤ t, same segment.
//   else:   seg holds the key mask (Transformers' attention_mask: 0 = padding); a query attends every
//           real key of its row.
//   DROPOUT: drop_ij = [kept]/(1 − p), kept = dropout_keep(seed, site, step, token0 + i, h·T + j)
//           (philox.wgsl, prepended too): every pass redraws the same mask.
// The bindings of each pass, kept per kernel by attention.ts (#if FORWARD / DQ / DKDV): the tiled and
// the direct kernel of a pass bind the same buffers.

struct Params {
  T: u32, NH: u32, KVH: u32, scale: f32,
  tile: u32, token0: u32, seed: u32, site: u32,
  step: u32, threshold: u32, keep_scale: f32, _p0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> k: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> seg: array<u32>;
#if FORWARD
@group(0) @binding(5) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> lse: array<f32>;
#endif
#if DQ || DKDV
@group(0) @binding(5) var<storage, read> dout: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> lse: array<f32>;
@group(0) @binding(7) var<storage, read> delta: array<f32>;
#endif
#if DQ
@group(0) @binding(8) var<storage, read_write> dq: array<vec4<f32>>;
#endif
#if DKDV
@group(0) @binding(8) var<storage, read_write> dk: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read_write> dv: array<vec4<f32>>;
#endif

const CAUSAL = {{CAUSAL}};
const DROPOUT = {{DROPOUT}};

// Whether query t may attend key tj of the batch row starting at token `row` (seg_i: the query's seg).
fn attends(row: u32, t: u32, tj: u32, seg_i: u32) -> bool {
  if (CAUSAL) { return tj <= t && seg[row + tj] == seg_i; }
  return tj < p.T && seg[row + tj] != 0u;
}

// Whether query ti of the batch row starting at `row` (ti may run past the row) sees key t (seg_j: the key's seg).
fn seen_by(row: u32, ti: u32, t: u32, seg_j: u32) -> bool {
  if (ti >= p.T) { return false; }
  if (CAUSAL) { return t <= ti && seg[row + ti] == seg_j; }
  return seg_j != 0u;
}

// drop_ij of (query token n of this window, query head h, key tj of its row): 1/(1 − p) or 0.
fn drop_scale(n: u32, h: u32, tj: u32) -> f32 {
  return select(0.0, p.keep_scale, dropout_keep(p.seed, p.site, p.step, p.token0 + n, h * p.T + tj, p.threshold));
}
