// Flash-attention backward, query side: dq.
//
//   q, dout [N, NH*HS], k/v [N, KVH*HS], segmentIds [N], lse, delta [N, NH]  →  dq [N, NH*HS]
//   P_ij = exp(scale·q_i·k_j − lse_i),  dS_ij = P_ij (dout_i·v_j − delta_i),  dq_i = scale · Σ_j dS_ij k_j
//
// Geometry as attention_forward.wgsl: workgroup = (query block, query head, batch row), one query
// row per thread with q, dout and dq in registers (vec4s, HS4 = HS/4); k and v stream through
// workgroup memory in tiles of TK rows; tiles no query of the block may see are skipped.
// Scores are recomputed from q, k and lse, never stored.

struct Params { T: u32, NH: u32, KVH: u32, scale: f32, tile: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> k: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> seg: array<u32>;
@group(0) @binding(5) var<storage, read> dout: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> lse: array<f32>;
@group(0) @binding(7) var<storage, read> delta: array<f32>;
@group(0) @binding(8) var<storage, read_write> dq: array<vec4<f32>>;

const HS4 = {{HS4}}u;
const WG = {{WG}}u;
const TK = {{TK}}u;

var<workgroup> Ks: array<vec4<f32>, TK * HS4>;
var<workgroup> Vs: array<vec4<f32>, TK * HS4>;
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
  let q_base = n * p.NH * HS4 + h * HS4;
  let kv_stride = p.KVH * HS4;

  var qr: array<vec4<f32>, HS4>;
  var dor: array<vec4<f32>, HS4>;
  var acc: array<vec4<f32>, HS4>;
  for (var d = 0u; d < HS4; d++) {
    qr[d] = q[q_base + d] * p.scale;
    dor[d] = dout[q_base + d];
    acc[d] = vec4<f32>(0.0);
  }
  let seg_i = seg[n];
  let lse_i = lse[n * p.NH + h];
  let delta_i = delta[n * p.NH + h];

  let k_end = min(p.T, q0 + WG);
  if (li == 0u) { atomicStore(&tile_used, 0u); }
  workgroupBarrier();
  for (var k0 = 0u; k0 < k_end; k0 += TK) {
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
      for (var i = li; i < TK * HS4; i += WG) {
        let tj = k0 + i / HS4;
        let src = (row + min(tj, p.T - 1u)) * kv_stride + g * HS4 + i % HS4;
        Ks[i] = k[src];
        Vs[i] = v[src];
      }
    }
    workgroupBarrier();
    if (live && used) {
      for (var j = 0u; j < p.tile; j++) {
        let tj = k0 + j;
        if (tj <= t && seg[row + tj] == seg_i) {
          var s4 = vec4<f32>(0.0);
          var dp4 = vec4<f32>(0.0);
          for (var d = 0u; d < HS4; d++) {
            s4 = fma(qr[d], Ks[j * HS4 + d], s4);
            dp4 = fma(dor[d], Vs[j * HS4 + d], dp4);
          }
          let s = s4.x + s4.y + s4.z + s4.w;
          let dp = dp4.x + dp4.y + dp4.z + dp4.w;
          let ds = vec4<f32>(exp(s - lse_i) * (dp - delta_i));
          for (var d = 0u; d < HS4; d++) { acc[d] = fma(ds, Ks[j * HS4 + d], acc[d]); }
        }
      }
    }
    workgroupBarrier();
  }

  if (live) {
    for (var d = 0u; d < HS4; d++) { dq[q_base + d] = acc[d] * p.scale; }
  }
}
