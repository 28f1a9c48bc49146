// Flash-attention backward, key side: dk and dv, summed over the query heads of each kv group.
//
//   q, dout [N, NH*HS], k/v [N, KVH*HS], seg [N], lse, delta [N, NH]  →  dk, dv [N, KVH*HS]
//   P_ij = exp(scale·q_i·k_j − lse_i)
//   dv_j = Σ_{h in group} Σ_i P_ij drop_ij dout_i,   dk_j = scale · Σ_{h in group} Σ_i P_ij (drop_ij dout_i·v_j − delta_i) q_i
//   CAUSAL / key-mask and DROPOUT (drop_ij redrawn from Philox; 1 without dropout) as attention_forward.wgsl.
//
// Geometry: workgroup (x, y, z) = (key block of R rows, kv head, batch row); L lanes per key row,
// each owning DV vec4s of k, v, dk and dv in registers. For each query head of the group, q and
// dout stream through workgroup memory in tiles of TQ rows, from the key block's first token to
// the row's end (causality: earlier queries never see these keys; bidirectional: from the row's
// first token, and a padding key is seen by no query); partial dot products are
// summed over the lanes through workgroup memory; tiles that see none of the block's keys are
// skipped. Each thread owns its outputs: no atomics on gradients.
// The bindings, Params, CAUSAL, DROPOUT, attends, seen_by, drop_scale: attention_common.wgsl, prepended by attention.ts.

const HS4 = {{HS4}}u;
const DV = {{DV}}u;
const L = {{L}}u;
const R = {{R}}u;
const TQ = {{TQ}}u;
const THREADS = R * L;

var<workgroup> Qs: array<vec4<f32>, TQ * HS4>;
var<workgroup> Ds: array<vec4<f32>, TQ * HS4>;
var<workgroup> lse_s: array<f32, TQ>;
var<workgroup> delta_s: array<f32, TQ>;
var<workgroup> part_s: array<f32, R * TQ * L>;
var<workgroup> part_dp: array<f32, R * TQ * L>;
// 1 + the index of the last (head, tile) step in which some key of the block is seen by some query.
var<workgroup> tile_used: atomic<u32>;

@compute @workgroup_size(THREADS)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let b = wg.z;
  let g = wg.y;
  let ratio = p.NH / p.KVH;
  let r = li / L;
  let lane = li % L;
  let k0 = wg.x * R;
  let t = k0 + r;
  let live = t < p.T;
  let row = b * p.T;
  let n = row + min(t, p.T - 1u);
  let kv_base = n * p.KVH * HS4 + g * HS4 + lane * DV;
  let q_stride = p.NH * HS4;

  var kr: array<vec4<f32>, DV>;
  var vr: array<vec4<f32>, DV>;
  var dkr: array<vec4<f32>, DV>;
  var dvr: array<vec4<f32>, DV>;
  // @unroll
  for (var i = 0u; i < DV; i++) {
    kr[i] = k[kv_base + i] * p.scale;
    vr[i] = v[kv_base + i];
    dkr[i] = vec4<f32>(0.0);
    dvr[i] = vec4<f32>(0.0);
  }
  let seg_j = seg[n];

  if (li == 0u) { atomicStore(&tile_used, 0u); }
  workgroupBarrier();
  var mark = 0u;
  for (var hh = 0u; hh < ratio; hh++) {
    let h = g * ratio + hh;
    for (var q0 = select(0u, k0, CAUSAL); q0 < p.T; q0 += TQ) {
      mark += 1u;
      if (live && lane == 0u) {
        for (var i = 0u; i < p.tile; i++) {
          if (seen_by(row, q0 + i, t, seg_j)) {
            atomicMax(&tile_used, mark);
            break;
          }
        }
      }
      workgroupBarrier();
      let used = atomicLoad(&tile_used) == mark;
      if (used) {
        for (var i = li; i < TQ * HS4; i += THREADS) {
          let ti = q0 + i / HS4;
          let src = (row + min(ti, p.T - 1u)) * q_stride + h * HS4 + i % HS4;
          Qs[i] = q[src];
          Ds[i] = dout[src];
        }
        for (var i = li; i < TQ; i += THREADS) {
          let src = (row + min(q0 + i, p.T - 1u)) * p.NH + h;
          lse_s[i] = lse[src];
          delta_s[i] = delta[src];
        }
      }
      workgroupBarrier();
      if (used && live) {
        for (var i = 0u; i < p.tile; i++) {
          var s4 = vec4<f32>(0.0);
          var dp4 = vec4<f32>(0.0);
          // @unroll
          for (var d = 0u; d < DV; d++) {
            s4 = fma(kr[d], Qs[i * HS4 + lane * DV + d], s4);
            dp4 = fma(vr[d], Ds[i * HS4 + lane * DV + d], dp4);
          }
          part_s[(r * TQ + i) * L + lane] = s4.x + s4.y + s4.z + s4.w;
          part_dp[(r * TQ + i) * L + lane] = dp4.x + dp4.y + dp4.z + dp4.w;
        }
      }
      workgroupBarrier();
      if (used && live) {
        for (var i = 0u; i < p.tile; i++) {
          let ti = q0 + i;
          if (seen_by(row, ti, t, seg_j)) {
            var s = 0.0;
            var dp = 0.0;
            // @unroll
            for (var x = 0u; x < L; x++) {
              s += part_s[(r * TQ + i) * L + x];
              dp += part_dp[(r * TQ + i) * L + x];
            }
            let pij = exp(s - lse_s[i]);
            var drop = 1.0;
            if (DROPOUT) { drop = drop_scale(row + ti, h, t); }
            let ds = vec4<f32>(pij * (dp * drop - delta_s[i]));
            let pv = vec4<f32>(pij * drop);
            // @unroll
            for (var d = 0u; d < DV; d++) {
              dvr[d] = fma(pv, Ds[i * HS4 + lane * DV + d], dvr[d]);
              dkr[d] = fma(ds, Qs[i * HS4 + lane * DV + d], dkr[d]);
            }
          }
        }
      }
    }
  }

  if (live) {
    // @unroll
    for (var d = 0u; d < DV; d++) {
      dk[kv_base + d] = dkr[d] * p.scale;
      dv[kv_base + d] = dvr[d];
    }
  }
}
