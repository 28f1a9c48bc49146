// The LoRA part of the input gradient under dropout: dx[n, k] += mask(n, k)/(1 − p) · Σ_r du[n, r] · A[r, k]
//
//   du [N, R], A [R, IN] (at element offset_a) → dx [N, IN] (accumulated onto dy·W)
//   the mask is regenerated from Philox with the forward's key (see lora_dropout.wgsl).
// Geometry: one thread per 4 features of a token, 256 per workgroup, 2-D grid of workgroups.

struct Params {
  count4: u32, IN: u32, R: u32, offset_a: u32,
  seed: u32, site: u32, step: u32, threshold: u32,
  keep_scale: f32, token0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> du: array<f32>;
@group(0) @binding(2) var<storage, read> A: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = (wg.y * nwg.x + wg.x) * 256u + li;
  if (i >= p.count4) { return; }
  let groups = (p.IN + 3u) / 4u;
  let n = i / groups;
  let k4 = i % groups;
  let r = philox4x32_10(vec4<u32>(p.token0 + n, k4, p.step, 0u), vec2<u32>(p.seed, p.site));
  for (var j = 0u; j < 4u; j++) {
    let k = 4u * k4 + j;
    if (k < p.IN && r[j] >= p.threshold) {
      var sum = 0.0;
      for (var rr = 0u; rr < p.R; rr++) { sum = fma(du[n * p.R + rr], A[p.offset_a + rr * p.IN + k], sum); }
      let idx = n * p.IN + k;
      dx[idx] = dx[idx] + sum * p.keep_scale;
    }
  }
}
