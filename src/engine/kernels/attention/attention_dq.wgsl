// Flash-attention backward, query side: dq.
//
//   q, dout [N, NH*HS], k/v [N, KVH*HS], segmentIds [N], lse, delta [N, NH]  →  dq [N, NH*HS]
//   P_ij = exp(scale·q_i·k_j − lse_i),  dS_ij = P_ij (dout_i·v_j − delta_i),  dq_i = scale · Σ_j dS_ij k_j
//
// Geometry as attention_forward.wgsl: workgroup = (query block, query head, batch row), one query
// row per thread with q, dout and dq in registers; k and v stream through workgroup memory in
// tiles of TK rows. Scores are recomputed, never stored.

// tile and hs equal the TK/TQ and HS constants; runtime loop bounds keep shader compilers from
// unrolling the tile and head loops into huge code (tens of seconds of JIT time on SwiftShader).
struct Params { T: u32, NH: u32, KVH: u32, scale: f32, tile: u32, hs: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> seg: array<u32>;
@group(0) @binding(5) var<storage, read> dout: array<f32>;
@group(0) @binding(6) var<storage, read> lse: array<f32>;
@group(0) @binding(7) var<storage, read> delta: array<f32>;
@group(0) @binding(8) var<storage, read_write> dq: array<f32>;

const HS = {{HS}}u;
const WG = {{WG}}u;
const TK = {{TK}}u;

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
  var dor: array<f32, HS>;
  var acc: array<f32, HS>;
  for (var d = 0u; d < HS; d++) {
    qr[d] = q[q_base + d] * p.scale;
    dor[d] = dout[q_base + d];
    acc[d] = 0.0;
  }
  let seg_i = seg[n];
  let lse_i = lse[n * p.NH + h];
  let delta_i = delta[n * p.NH + h];

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
      for (var j = 0u; j < p.tile; j++) {
        let tj = k0 + j;
        if (tj <= t && seg[row + tj] == seg_i) {
          var s = 0.0;
          var dp = 0.0;
          for (var d = 0u; d < HS; d++) {
            s = fma(qr[d], Ks[j * HS + d], s);
            dp = fma(dor[d], Vs[j * HS + d], dp);
          }
          let ds = exp(s - lse_i) * (dp - delta_i);
          for (var d = 0u; d < HS; d++) { acc[d] = fma(ds, Ks[j * HS + d], acc[d]); }
        }
      }
    }
    workgroupBarrier();
  }

  if (live) {
    for (var d = 0u; d < HS; d++) { dq[q_base + d] = acc[d] * p.scale; }
  }
}
