// Causal, packing-aware flash-attention forward with grouped-query heads (online softmax).
//
//   q [N, NH*HS], k/v [N, KVH*HS], segmentIds u32 [N]          (N = B*T, token-major)
//   out [N, NH*HS] = softmax(scale · q·kᵀ + mask) · v
//   lse [N, NH]    = log Σ_j exp(scale · q_i·k_j)             saved for the backward
//   query head h reads kv head h / (NH/KVH); token i attends to j iff same row, j ≤ i, same segment.
//
// Geometry: workgroup (x, y, z) = (query block, query head, batch row); WG threads, one query row
// each, holding q, the running max m, the running sum l and the unnormalized output in registers.
// Keys and values stream through workgroup memory in tiles of TK rows, from the row's first
// token to the block's last query: no T×T score matrix ever reaches global memory.
// NOTE: every token attends at least to itself, so l > 0 at the end for every real row.

// tile and hs equal the TK/TQ and HS constants; runtime loop bounds keep shader compilers from
// unrolling the tile and head loops into huge code (tens of seconds of JIT time on SwiftShader).
struct Params { T: u32, NH: u32, KVH: u32, scale: f32, tile: u32, hs: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> seg: array<u32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<storage, read_write> lse: array<f32>;

const HS = {{HS}}u;
const WG = {{WG}}u;
const TK = {{TK}}u;
const NEG = -3.0e38;

var<workgroup> Ks: array<f32, TK * HS>;
var<workgroup> Vs: array<f32, TK * HS>;
// 1 + the index of the last tile in which some query of the block may attend to some key.
var<workgroup> tile_used: atomic<u32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let b = wg.z;
  let h = wg.y;
  let g = h / (p.NH / p.KVH);
  let q0 = wg.x * WG;
  let t = q0 + li;
  let live = t < p.T;
  let row = b * p.T;
  let n = row + min(t, p.T - 1u);
  let q_base = n * p.NH * HS + h * HS;
  let kv_stride = p.KVH * HS;

  var qr: array<f32, HS>;
  var o: array<f32, HS>;
  for (var d = 0u; d < HS; d++) {
    qr[d] = q[q_base + d] * p.scale;
    o[d] = 0.0;
  }
  let seg_i = seg[n];
  var m = NEG;
  var l = 0.0;

  let k_end = min(p.T, q0 + WG);
  if (li == 0u) { atomicStore(&tile_used, 0u); }
  workgroupBarrier();
  for (var k0 = 0u; k0 < k_end; k0 += TK) {
    // Tiles that no query of the block may see (other documents of a packed row) are skipped.
    let mark = k0 / TK + 1u;
    if (live) {
      for (var j = 0u; j < p.tile; j++) {
        let tj = k0 + j;
        if (tj <= t && seg[row + tj] == seg_i) {
          atomicMax(&tile_used, mark);
          break;
        }
      }
    }
    workgroupBarrier();
    let used = atomicLoad(&tile_used) == mark;
    if (used) {
      for (var i = li; i < TK * HS; i += WG) {
        let tj = k0 + i / HS;
        let src = (row + min(tj, p.T - 1u)) * kv_stride + g * HS + i % HS;
        Ks[i] = k[src];
        Vs[i] = v[src];
      }
    }
    workgroupBarrier();
    if (live && used) {
      var s: array<f32, TK>;
      var tile_max = NEG;
      for (var j = 0u; j < p.tile; j++) {
        let tj = k0 + j;
        s[j] = NEG;
        if (tj <= t && seg[row + tj] == seg_i) {
          var dot = 0.0;
          for (var d = 0u; d < HS; d++) { dot = fma(qr[d], Ks[j * HS + d], dot); }
          s[j] = dot;
          tile_max = max(tile_max, dot);
        }
      }
      if (tile_max > 0.5 * NEG) {
        let m_new = max(m, tile_max);
        let correction = exp(m - m_new);
        l = l * correction;
        for (var d = 0u; d < HS; d++) { o[d] = o[d] * correction; }
        for (var j = 0u; j < p.tile; j++) {
          if (s[j] > 0.5 * NEG) {
            let pj = exp(s[j] - m_new);
            l += pj;
            for (var d = 0u; d < HS; d++) { o[d] = fma(pj, Vs[j * HS + d], o[d]); }
          }
        }
        m = m_new;
      }
    }
    workgroupBarrier();
  }

  if (live) {
    let inv = 1.0 / l;
    for (var d = 0u; d < HS; d++) { out[q_base + d] = o[d] * inv; }
    lse[n * p.NH + h] = m + log(l);
  }
}
