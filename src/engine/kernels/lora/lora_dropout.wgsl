// Inverted dropout of a LoRA input: xd[n, k] = x[n, k] · mask(n, k) / (1 − p).
//
//   x [N, IN] → xd [N, IN]; mask from dropout_keep (philox.wgsl) keyed by (seed, site, step, n, k),
//   so the backward regenerates exactly the forward's mask instead of storing it.
// Geometry: one thread per 4 features of a token (one Philox call yields 4 draws), 256 per
// workgroup, over a 2-D grid of workgroups.

struct Params {
  count4: u32, IN: u32, seed: u32, site: u32,
  step: u32, threshold: u32, keep_scale: f32, token0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> xd: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = (wg.y * nwg.x + wg.x) * 256u + li;
  if (i >= p.count4) { return; }
  let groups = (p.IN + 3u) / 4u;
  let n = i / groups;
  let k4 = i % groups;
  // The mask is keyed by the token's index in the whole batch (token0: first token of this window).
  let r = philox4x32_10(vec4<u32>(p.token0 + n, k4, p.step, 0u), vec2<u32>(p.seed, p.site));
  for (var j = 0u; j < 4u; j++) {
    let k = 4u * k4 + j;
    if (k < p.IN) {
      let idx = n * p.IN + k;
      xd[idx] = select(0.0, x[idx] * p.keep_scale, r[j] >= p.threshold);
    }
  }
}
