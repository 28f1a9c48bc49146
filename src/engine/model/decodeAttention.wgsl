// Attention of ONE new token against the KV cache (generation's decode step).
//
//   q [NH*HS] (the new token, after RoPE), kCache / vCache [maxLen, KVH*HS] (rows 0..len-1 valid,
//   the new token's k/v already written at row len-1), scores scratch [NH, maxLen]
//   out[h*HS + d] = Σ_j softmax_j(scale · q_h·k_j) · v_j[d],  head h reads kv head h / (NH/KVH)
//
// Geometry: one workgroup of WG threads per query head; threads stride over cache rows for the
// scores, tree reductions for the max and the sum, then over head dims for the output.

struct Params {
  len: u32, max_len: u32, NH: u32, KVH: u32,
  HS: u32, scale: f32, _p0: u32, _p1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k_cache: array<f32>;
@group(0) @binding(3) var<storage, read> v_cache: array<f32>;
@group(0) @binding(4) var<storage, read_write> scores: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

const WG = {{WG}}u;
var<workgroup> partial: array<f32, WG>;

fn reduce(li: u32, value: f32, is_max: bool) -> f32 {
  partial[li] = value;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (li < stride) {
      if (is_max) { partial[li] = max(partial[li], partial[li + stride]); }
      else { partial[li] = partial[li] + partial[li + stride]; }
    }
    workgroupBarrier();
  }
  let r = partial[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let h = wg.x;
  let kvh = h / (p.NH / p.KVH);
  let KD = p.KVH * p.HS;
  let srow = h * p.max_len;
  var m = -3.4e38;
  for (var j = li; j < p.len; j += WG) {
    var dot = 0.0;
    for (var d = 0u; d < p.HS; d++) { dot += q[h * p.HS + d] * k_cache[j * KD + kvh * p.HS + d]; }
    let s = dot * p.scale;
    scores[srow + j] = s;
    m = max(m, s);
  }
  m = reduce(li, m, true);
  var sum = 0.0;
  for (var j = li; j < p.len; j += WG) {
    let e = exp(scores[srow + j] - m);
    scores[srow + j] = e;
    sum += e;
  }
  sum = reduce(li, sum, false);
  storageBarrier();
  for (var d = li; d < p.HS; d += WG) {
    var acc = 0.0;
    for (var j = 0u; j < p.len; j++) { acc += scores[srow + j] * v_cache[j * KD + kvh * p.HS + d]; }
    out[h * p.HS + d] = acc / sum;
  }
}
