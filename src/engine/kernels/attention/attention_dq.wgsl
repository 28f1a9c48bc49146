// Flash-attention backward, query side: dq.
//
//   q, dout [N, NH*HS], k/v [N, KVH*HS], seg [N], lse, delta [N, NH]  →  dq [N, NH*HS]
//   P_ij = exp(scale·q_i·k_j − lse_i),  dS_ij = P_ij (drop_ij · dout_i·v_j − delta_i),  dq_i = scale · Σ_j dS_ij k_j
//   CAUSAL / key-mask and DROPOUT (drop_ij redrawn from Philox; 1 without dropout) as attention_forward.wgsl.
//
// Geometry as attention_forward.wgsl: workgroup = (query block of R rows, query head, batch row),
// L lanes per row, each owning DV vec4s of q, dout and dq in registers; k and v stream through
// workgroup memory in tiles of TK rows; partial dot products (q·k and dout·v) are summed over the
// lanes through workgroup memory; tiles no query of the block may see are skipped.
// Scores are recomputed from q, k and lse, never stored.
// The bindings, Params, CAUSAL, DROPOUT, attends, seen_by, drop_scale: attention_common.wgsl, prepended by attention.ts.

const HS4 = {{HS4}}u;
const DV = {{DV}}u;
const L = {{L}}u;
const R = {{R}}u;
const TK = {{TK}}u;
const THREADS = R * L;

var<workgroup> Ks: array<vec4<f32>, TK * HS4>;
var<workgroup> Vs: array<vec4<f32>, TK * HS4>;
var<workgroup> part_s: array<f32, R * TK * L>;
var<workgroup> part_dp: array<f32, R * TK * L>;
var<workgroup> tile_used: atomic<u32>;

@compute @workgroup_size(THREADS)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let b = wg.z;
  let h = wg.y;
  let g = h / (p.NH / p.KVH);
  let r = li / L;
  let lane = li % L;
  let q0 = wg.x * R;
  let t = q0 + r;
  let live = t < p.T;
  let row = b * p.T;
  let n = row + min(t, p.T - 1u);
  let q_base = n * p.NH * HS4 + h * HS4 + lane * DV;
  let kv_stride = p.KVH * HS4;

  var qr: array<vec4<f32>, DV>;
  var dor: array<vec4<f32>, DV>;
  var acc: array<vec4<f32>, DV>;
  // @unroll
  for (var i = 0u; i < DV; i++) {
    qr[i] = q[q_base + i] * p.scale;
    dor[i] = dout[q_base + i];
    acc[i] = vec4<f32>(0.0);
  }
  let seg_i = seg[n];
  let lse_i = lse[n * p.NH + h];
  let delta_i = delta[n * p.NH + h];

  let k_end = select(p.T, min(p.T, q0 + R), CAUSAL);
  if (li == 0u) { atomicStore(&tile_used, 0u); }
  workgroupBarrier();
  for (var k0 = 0u; k0 < k_end; k0 += TK) {
    let mark = k0 / TK + 1u;
    if (live && lane == 0u) {
      for (var j = 0u; j < p.tile; j++) {
        let tj = k0 + j;
        if (attends(row, t, tj, seg_i)) {
          atomicMax(&tile_used, mark);
          break;
        }
      }
    }
    workgroupBarrier();
    let used = atomicLoad(&tile_used) == mark;
    if (used) {
      for (var i = li; i < TK * HS4; i += THREADS) {
        let tj = k0 + i / HS4;
        let src = (row + min(tj, p.T - 1u)) * kv_stride + g * HS4 + i % HS4;
        Ks[i] = k[src];
        Vs[i] = v[src];
      }
    }
    workgroupBarrier();
    if (used && live) {
      for (var j = 0u; j < p.tile; j++) {
        var s4 = vec4<f32>(0.0);
        var dp4 = vec4<f32>(0.0);
        // @unroll
        for (var i = 0u; i < DV; i++) {
          s4 = fma(qr[i], Ks[j * HS4 + lane * DV + i], s4);
          dp4 = fma(dor[i], Vs[j * HS4 + lane * DV + i], dp4);
        }
        part_s[(r * TK + j) * L + lane] = s4.x + s4.y + s4.z + s4.w;
        part_dp[(r * TK + j) * L + lane] = dp4.x + dp4.y + dp4.z + dp4.w;
      }
    }
    workgroupBarrier();
    if (used && live) {
      for (var j = 0u; j < p.tile; j++) {
        let tj = k0 + j;
        if (attends(row, t, tj, seg_i)) {
          var s = 0.0;
          var dp = 0.0;
          // @unroll
          for (var x = 0u; x < L; x++) {
            s += part_s[(r * TK + j) * L + x];
            dp += part_dp[(r * TK + j) * L + x];
          }
          if (DROPOUT) { dp = dp * drop_scale(n, h, tj); }
          let ds = vec4<f32>(exp(s - lse_i) * (dp - delta_i));
          // @unroll
          for (var i = 0u; i < DV; i++) { acc[i] = fma(ds, Ks[j * HS4 + lane * DV + i], acc[i]); }
        }
      }
    }
  }

  if (live) {
    // @unroll
    for (var i = 0u; i < DV; i++) { dq[q_base + i] = acc[i] * p.scale; }
  }
}
