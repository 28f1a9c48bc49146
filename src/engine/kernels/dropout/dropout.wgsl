// Inverted dropout of activations (Transformers' hidden dropout: embeddings, attention output,
// FFN output, the heads), with the mask drawn from Philox (philox.wgsl, prepended), never stored.
//
//   mask(n, c) = dropout_keep(seed, site, step, token0 + n, c, threshold), scale = 1/(1 − p)
//   OUT       x [N, C] → out [N, C] = x ⊙ mask · scale   (out += … when ACCUMULATE)
//             The backward is the same op on dy: dx = dy ⊙ mask · scale, the mask redrawn from the key.
//   RESIDUAL  x, residual [N, C] → out [N, C] = x ⊙ mask · scale + residual   (dropout before the
//             post-LN residual add; its backward: dresidual = dout, dx = dout ⊙ mask · scale)
//   IN_PLACE  x [N, C] → x ⊙ mask · scale in place
//   The key is the same as LoRA's dropout (philox.ts dropoutScaleMask is the reference mask), so a
//   site id must not be shared between a LoRA module and a hidden dropout.
//
// Geometry: one thread per 4 features of a token (one Philox call yields 4 draws), 256 per
// workgroup, over a 2-D grid of workgroups.

struct Params {
  count4: u32, C: u32, seed: u32, site: u32,
  step: u32, threshold: u32, keep_scale: f32, token0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

const ACCUMULATE = {{ACCUMULATE}};

#if OUT
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
#endif
#if RESIDUAL
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> residual: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
#endif
#if IN_PLACE
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
#endif

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = (wg.y * nwg.x + wg.x) * 256u + li;
  if (i >= p.count4) { return; }
  let groups = (p.C + 3u) / 4u;
  let n = i / groups;
  let c4 = i % groups;
  // Keyed by the token's index in the whole batch (token0: first token of this window).
  let r = philox4x32_10(vec4<u32>(p.token0 + n, c4, p.step, 0u), vec2<u32>(p.seed, p.site));
  for (var j = 0u; j < 4u; j++) {
    let c = 4u * c4 + j;
    if (c < p.C) {
      let idx = n * p.C + c;
      let scale = select(0.0, p.keep_scale, r[j] >= p.threshold);
#if OUT
      var v = x[idx] * scale;
      if (ACCUMULATE) { v += out[idx]; }
      out[idx] = v;
#endif
#if RESIDUAL
      out[idx] = fma(x[idx], scale, residual[idx]);
#endif
#if IN_PLACE
      x[idx] = x[idx] * scale;
#endif
    }
  }
}
