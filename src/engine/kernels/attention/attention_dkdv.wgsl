// Flash-attention backward, key side: dk and dv, summed over the query heads of each kv group.
//
//   q, dout [N, NH*HS], k/v [N, KVH*HS], segmentIds [N], lse, delta [N, NH]  →  dk, dv [N, KVH*HS]
//   P_ij = exp(scale·q_i·k_j − lse_i)
//   dv_j = Σ_{h in group} Σ_i P_ij dout_i,   dk_j = scale · Σ_{h in group} Σ_i P_ij (dout_i·v_j − delta_i) q_i
//
// Geometry: workgroup (x, y, z) = (key block, kv head, batch row); WG threads, one key row each,
// holding k, v, dk and dv in registers. For each query head of the group, q and dout stream
// through workgroup memory in tiles of TQ rows, from the key block's first token to the row's
// end (causality: earlier queries never see these keys). Each thread owns its outputs: no atomics.

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
@group(0) @binding(8) var<storage, read_write> dk: array<f32>;
@group(0) @binding(9) var<storage, read_write> dv: array<f32>;

const HS = {{HS}}u;
const WG = {{WG}}u;
const TQ = {{TQ}}u;

var<workgroup> Qs: array<f32, TQ * HS>;
var<workgroup> Ds: array<f32, TQ * HS>;
var<workgroup> lse_s: array<f32, TQ>;
var<workgroup> delta_s: array<f32, TQ>;
// 1 + the index of the last (head, tile) step in which some key of the block is seen by some query.
var<workgroup> tile_used: atomic<u32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let b = wg.z;
  let g = wg.y;
  let ratio = p.NH / p.KVH;
  let k0 = wg.x * WG;
  let t = k0 + li;
  let live = t < p.T;
  let row = b * p.T;
  let n = row + min(t, p.T - 1u);
  let kv_base = n * p.KVH * HS + g * HS;
  let q_stride = p.NH * HS;

  var kr: array<f32, HS>;
  var vr: array<f32, HS>;
  var dkr: array<f32, HS>;
  var dvr: array<f32, HS>;
  for (var d = 0u; d < HS; d++) {
    kr[d] = k[kv_base + d] * p.scale;
    vr[d] = v[kv_base + d];
    dkr[d] = 0.0;
    dvr[d] = 0.0;
  }
  let seg_j = seg[n];

  if (li == 0u) { atomicStore(&tile_used, 0u); }
  workgroupBarrier();
  var mark = 0u;
  for (var hh = 0u; hh < ratio; hh++) {
    let h = g * ratio + hh;
    for (var q0 = k0; q0 < p.T; q0 += TQ) {
      // Query tiles that see none of the block's keys (other documents of a packed row) are skipped.
      mark += 1u;
      if (live) {
        for (var i = 0u; i < p.tile; i++) {
          let ti = q0 + i;
          if (ti < p.T && t <= ti && seg[row + ti] == seg_j) {
            atomicMax(&tile_used, mark);
            break;
          }
        }
      }
      workgroupBarrier();
      let used = atomicLoad(&tile_used) == mark;
      if (used) {
        for (var i = li; i < TQ * HS; i += WG) {
          let ti = q0 + i / HS;
          let src = (row + min(ti, p.T - 1u)) * q_stride + h * HS + i % HS;
          Qs[i] = q[src];
          Ds[i] = dout[src];
        }
        for (var i = li; i < TQ; i += WG) {
          let src = (row + min(q0 + i, p.T - 1u)) * p.NH + h;
          lse_s[i] = lse[src];
          delta_s[i] = delta[src];
        }
      }
      workgroupBarrier();
      if (live && used) {
        for (var i = 0u; i < p.tile; i++) {
          let ti = q0 + i;
          if (ti < p.T && t <= ti && seg[row + ti] == seg_j) {
            var s = 0.0;
            var dp = 0.0;
            for (var d = 0u; d < HS; d++) {
              s = fma(kr[d], Qs[i * HS + d], s);
              dp = fma(vr[d], Ds[i * HS + d], dp);
            }
            let pij = exp(s - lse_s[i]);
            let ds = pij * (dp - delta_s[i]);
            for (var d = 0u; d < HS; d++) {
              dvr[d] = fma(pij, Ds[i * HS + d], dvr[d]);
              dkr[d] = fma(ds, Qs[i * HS + d], dkr[d]);
            }
          }
        }
      }
      workgroupBarrier();
    }
  }

  if (live) {
    for (var d = 0u; d < HS; d++) {
      dk[kv_base + d] = dkr[d] * p.scale;
      dv[kv_base + d] = dvr[d];
    }
  }
}
