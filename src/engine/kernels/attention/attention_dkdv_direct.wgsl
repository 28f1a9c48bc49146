// Attention backward, key side, without workgroup memory (see attention_forward_direct.wgsl for
// when it is used): the same dk and dv as attention_dkdv.wgsl, whose header has the math, summed
// over the query heads of each kv group.
//
//   P_ij = exp(scale·q_i·k_j − lse_i)
//   dv_j = Σ_{h in group} Σ_i P_ij drop_ij dout_i,   dk_j = scale · Σ_{h in group} Σ_i P_ij (drop_ij dout_i·v_j − delta_i) q_i
//
// Geometry: one invocation per (key token, kv head), 64 to a workgroup (x, y, z) = (key block, kv
// head, batch row), keeping its head of k, v, dk and dv in registers and walking, for each query
// head of the group, the queries that may see its key (causal: from the key on; a padding key of an
// encoder is seen by none), read straight from storage. Each invocation owns its outputs.
// The bindings, Params, CAUSAL, DROPOUT, attends, seen_by, drop_scale: attention_common.wgsl, prepended by attention.ts.

const HS4 = {{HS4}}u;
const WG = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let t = wg.x * WG + li;
  if (t >= p.T) { return; }
  let g = wg.y;
  let ratio = p.NH / p.KVH;
  let row = wg.z * p.T;
  let n = row + t;
  let kv_base = n * p.KVH * HS4 + g * HS4;
  let q_stride = p.NH * HS4;

  var kr: array<vec4<f32>, HS4>;
  var vr: array<vec4<f32>, HS4>;
  var dkr: array<vec4<f32>, HS4>;
  var dvr: array<vec4<f32>, HS4>;
  // @unroll
  for (var i = 0u; i < HS4; i++) {
    kr[i] = k[kv_base + i] * p.scale;
    vr[i] = v[kv_base + i];
    dkr[i] = vec4<f32>(0.0);
    dvr[i] = vec4<f32>(0.0);
  }
  let seg_j = seg[n];
  for (var hh = 0u; hh < ratio; hh++) {
    let h = g * ratio + hh;
    for (var ti = select(0u, t, CAUSAL); ti < p.T; ti++) {
      if (!seen_by(row, ti, t, seg_j)) { continue; }
      let qi = (row + ti) * q_stride + h * HS4;
      var s4 = vec4<f32>(0.0);
      var dp4 = vec4<f32>(0.0);
      // @unroll
      for (var i = 0u; i < HS4; i++) {
        s4 = fma(kr[i], q[qi + i], s4);
        dp4 = fma(vr[i], dout[qi + i], dp4);
      }
      let at = (row + ti) * p.NH + h;
      let pij = exp(s4.x + s4.y + s4.z + s4.w - lse[at]);
      var drop = 1.0;
      if (DROPOUT) { drop = drop_scale(row + ti, h, t); }
      let ds = vec4<f32>(pij * ((dp4.x + dp4.y + dp4.z + dp4.w) * drop - delta[at]));
      let pv = vec4<f32>(pij * drop);
      // @unroll
      for (var i = 0u; i < HS4; i++) {
        dvr[i] = fma(pv, dout[qi + i], dvr[i]);
        dkr[i] = fma(ds, q[qi + i], dkr[i]);
      }
    }
  }
  // @unroll
  for (var i = 0u; i < HS4; i++) {
    dk[kv_base + i] = dkr[i] * p.scale;
    dv[kv_base + i] = dvr[i];
  }
}
