// Attention backward, query side, without workgroup memory (see attention_forward_direct.wgsl for
// when it is used): the same dq as attention_dq.wgsl, whose header has the math.
//
//   P_ij = exp(scale·q_i·k_j − lse_i),  dS_ij = P_ij (drop_ij · dout_i·v_j − delta_i),  dq_i = scale · Σ_j dS_ij k_j
//
// Geometry: one invocation per (query token, query head), 64 to a workgroup (x, y, z) = (query
// block, head, batch row), keeping its head of q, dout and dq in registers and reading the keys
// and values it may attend straight from storage.
// The bindings, Params, CAUSAL, DROPOUT, attends, seen_by, drop_scale: attention_common.wgsl, prepended by attention.ts.

const HS4 = {{HS4}}u;
const WG = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let t = wg.x * WG + li;
  if (t >= p.T) { return; }
  let h = wg.y;
  let g = h / (p.NH / p.KVH);
  let row = wg.z * p.T;
  let n = row + t;
  let q_base = n * p.NH * HS4 + h * HS4;
  let kv_stride = p.KVH * HS4;

  var qr: array<vec4<f32>, HS4>;
  var dor: array<vec4<f32>, HS4>;
  var acc: array<vec4<f32>, HS4>;
  // @unroll
  for (var i = 0u; i < HS4; i++) {
    qr[i] = q[q_base + i] * p.scale;
    dor[i] = dout[q_base + i];
    acc[i] = vec4<f32>(0.0);
  }
  let seg_i = seg[n];
  let lse_i = lse[n * p.NH + h];
  let delta_i = delta[n * p.NH + h];
  let k_end = select(p.T, t + 1u, CAUSAL);
  for (var tj = 0u; tj < k_end; tj++) {
    if (!attends(row, t, tj, seg_i)) { continue; }
    let kv = (row + tj) * kv_stride + g * HS4;
    var s4 = vec4<f32>(0.0);
    var dp4 = vec4<f32>(0.0);
    // @unroll
    for (var i = 0u; i < HS4; i++) {
      s4 = fma(qr[i], k[kv + i], s4);
      dp4 = fma(dor[i], v[kv + i], dp4);
    }
    var dp = dp4.x + dp4.y + dp4.z + dp4.w;
    if (DROPOUT) { dp = dp * drop_scale(n, h, tj); }
    let ds = vec4<f32>(exp(s4.x + s4.y + s4.z + s4.w - lse_i) * (dp - delta_i));
    // @unroll
    for (var i = 0u; i < HS4; i++) { acc[i] = fma(ds, k[kv + i], acc[i]); }
  }
  // @unroll
  for (var i = 0u; i < HS4; i++) { dq[q_base + i] = acc[i] * p.scale; }
}
