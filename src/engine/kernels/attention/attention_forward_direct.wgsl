// Attention forward without workgroup memory: the cheap-to-compile kernel for short heads on
// adapters that compile at first use (lavapipe). Same operation, uniforms and outputs as
// attention_forward.wgsl (its header has the math; attention_common.wgsl the masks and dropout):
//
//   out [N, NH*HS] = (softmax(scale · q·kᵀ + mask) ⊙ drop) · v,   lse [N, NH]
//
// Geometry: one invocation per (query token, query head), 64 to a workgroup (x, y, z) = (query
// block, head, batch row). It keeps its whole head of q and of the unnormalized output in registers
// (HS4 vec4s, so the launcher takes it for heads of at most 16) and walks the keys it may attend,
// read straight from storage, with the running max m and sum l updated per key (online softmax,
// one exp per key: llvmpipe's exp is a polynomial written into the shader, a third of its compile).
// No barriers: invocations past the row's end return at once.
// NOTE: llvmpipe turns each workgroup barrier into a coroutine suspend point and its LLVM time grows
// with what lives across them; the tiled kernels took 0.4–0.8 s each to compile cold there
// (docs/performance.md, "First step").
// The bindings, Params, CAUSAL, DROPOUT, attends, seen_by, drop_scale: attention_common.wgsl, prepended by attention.ts.

const HS4 = {{HS4}}u;
const WG = 64u;
const NEG = -3.0e38;

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
  var o: array<vec4<f32>, HS4>;
  // @unroll
  for (var i = 0u; i < HS4; i++) {
    qr[i] = q[q_base + i] * p.scale;
    o[i] = vec4<f32>(0.0);
  }
  let seg_i = seg[n];
  var m = NEG;
  var l = 0.0;
  let k_end = select(p.T, t + 1u, CAUSAL);
  for (var tj = 0u; tj < k_end; tj++) {
    if (!attends(row, t, tj, seg_i)) { continue; }
    let kv = (row + tj) * kv_stride + g * HS4;
    var acc = vec4<f32>(0.0);
    // @unroll
    for (var i = 0u; i < HS4; i++) { acc = fma(qr[i], k[kv + i], acc); }
    let s = acc.x + acc.y + acc.z + acc.w;
    // One exp per key: a new maximum rescales what was summed (by e) and weighs this key 1; any
    // other key weighs e. (The first key: m = NEG, so e = 0 clears the empty sums.)
    let e = exp(-abs(s - m));
    var pj = e;
    if (s > m) {
      l = l * e;
      // @unroll
      for (var i = 0u; i < HS4; i++) { o[i] = o[i] * e; }
      m = s;
      pj = 1.0;
    }
    l += pj;
    var pv = vec4<f32>(pj);
    if (DROPOUT) { pv = pv * drop_scale(n, h, tj); }
    // @unroll
    for (var i = 0u; i < HS4; i++) { o[i] = fma(pv, v[kv + i], o[i]); }
  }

  // l = 0 only for a bidirectional row without any real key: out = 0, lse = 0.
  let inv = select(0.0, 1.0 / l, l > 0.0);
  // @unroll
  for (var i = 0u; i < HS4; i++) { out[q_base + i] = o[i] * inv; }
  lse[n * p.NH + h] = select(0.0, m + log(l), l > 0.0);
}
