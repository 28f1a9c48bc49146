// Flash-attention forward with grouped-query heads (online softmax), causal and packing-aware
// (decoders) or bidirectional with a key padding mask (encoders), with optional dropout on the
// attention probabilities.
//
//   q [N, NH*HS], k/v [N, KVH*HS], seg u32 [N]                 (N = B*T, token-major)
//   out [N, NH*HS] = (softmax(scale · q·kᵀ + mask) ⊙ drop) · v
//   lse [N, NH]    = log Σ_j exp(scale · q_i·k_j)             saved for the backward (undropped)
//   query head h reads kv head h / (NH/KVH).
//   CAUSAL: seg holds segment ids; token i attends to j iff same row, j ≤ i, same segment.
//   else:   seg holds the key mask (Transformers' attention_mask: 0 = padding); token i attends to
//           every j of its row with seg[j] ≠ 0 — padded queries too, as Transformers computes them.
//           A row with no real key gets out = 0 and lse = 0 (finite; nothing reads it).
//   DROPOUT: drop_ij = [kept]/(1 − p), kept = dropout_keep(seed, site, step, token0 + i, h·T + j)
//           (philox.wgsl, prepended): the backward kernels redraw the same mask. The softmax
//           normalizer l sums the undropped probabilities (dropout acts after the softmax).
//
// Geometry: workgroup (x, y, z) = (query block, query head, batch row) of R query rows; each row
// is worked by L lanes, lane ℓ owning DV vec4s of the head (HS = 4·DV·L). A lane keeps its part
// of q and of the unnormalized output in registers; the running max m and sum l are kept by every
// lane alike. Keys and values stream through workgroup memory in tiles of TK rows, from the row's
// first token to the block's last query; per tile each lane writes its partial dot products to
// workgroup memory and every lane sums the L partials of its row. No T×T score matrix ever
// reaches global memory. Tiles that no query of the block may see (other packed documents) are
// skipped.
// NOTE: small per-lane register arrays keep shader JIT time low (whole-row arrays of 32 vec4s
// took tens of seconds per pipeline on SwiftShader).
// NOTE: causal: every token attends at least to itself, so l > 0 at the end for every real row.
// NOTE: `tile` equals TK; a runtime loop bound keeps compilers from unrolling the tile loops.
// NOTE: with DROPOUT every lane of a row draws the mask of each (query, key) pair itself (one
// Philox4x32-10 call, 10 rounds); sharing one draw per 4 keys or per row is an unmeasured speed-up.
// The bindings, Params, CAUSAL, DROPOUT, attends, seen_by, drop_scale: attention_common.wgsl, prepended by attention.ts.

const HS4 = {{HS4}}u;
const DV = {{DV}}u;
const L = {{L}}u;
const R = {{R}}u;
const TK = {{TK}}u;
const THREADS = R * L;
const NEG = -3.0e38;

var<workgroup> Ks: array<vec4<f32>, TK * HS4>;
var<workgroup> Vs: array<vec4<f32>, TK * HS4>;
var<workgroup> part: array<f32, R * TK * L>; // part[(row·TK + key)·L + lane]
// 1 + the index of the last tile in which some query of the block may attend to some key.
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
  var o: array<vec4<f32>, DV>;
  // @unroll
  for (var i = 0u; i < DV; i++) {
    qr[i] = q[q_base + i] * p.scale;
    o[i] = vec4<f32>(0.0);
  }
  let seg_i = seg[n];
  var m = NEG;
  var l = 0.0;

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
        var acc = vec4<f32>(0.0);
        // @unroll
        for (var i = 0u; i < DV; i++) { acc = fma(qr[i], Ks[j * HS4 + lane * DV + i], acc); }
        part[(r * TK + j) * L + lane] = acc.x + acc.y + acc.z + acc.w;
      }
    }
    workgroupBarrier();
    if (used && live) {
      var s: array<f32, TK>;
      var tile_max = NEG;
      for (var j = 0u; j < p.tile; j++) {
        let tj = k0 + j;
        s[j] = NEG;
        if (attends(row, t, tj, seg_i)) {
          var score = 0.0;
          // @unroll
          for (var x = 0u; x < L; x++) { score += part[(r * TK + j) * L + x]; }
          s[j] = score;
          tile_max = max(tile_max, score);
        }
      }
      if (tile_max > 0.5 * NEG) {
        let m_new = max(m, tile_max);
        let correction = exp(m - m_new);
        l = l * correction;
        // @unroll
        for (var i = 0u; i < DV; i++) { o[i] = o[i] * correction; }
        for (var j = 0u; j < p.tile; j++) {
          if (s[j] > 0.5 * NEG) {
            let pj = exp(s[j] - m_new);
            l += pj;
            var pv = vec4<f32>(pj);
            if (DROPOUT) { pv = pv * drop_scale(n, h, k0 + j); }
            // @unroll
            for (var i = 0u; i < DV; i++) { o[i] = fma(pv, Vs[j * HS4 + lane * DV + i], o[i]); }
          }
        }
        m = m_new;
      }
    }
    // The next tile's first barrier orders these reads of Ks, Vs and part before its writes.
  }

  if (live) {
    // l = 0 only for a bidirectional row without any real key.
    let inv = select(0.0, 1.0 / l, l > 0.0);
    // @unroll
    for (var i = 0u; i < DV; i++) { out[q_base + i] = o[i] * inv; }
    if (lane == 0u) { lse[n * p.NH + h] = select(0.0, m + log(l), l > 0.0); }
  }
}
