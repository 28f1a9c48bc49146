// Global gradient norm, clipping and the finite check, computed on the GPU so that a step
// needs no readback: the result lands in a small "step control" buffer that AdamW reads.
//
//   PARTIALS  grads [count] f32 → partials[partial_offset + g] = Σ grads² over workgroup g's
//             elements, g < G ≤ MAX_GROUPS. Thread t of G·WG sums i = t, t + G·WG, … (a few
//             elements each for millions of parameters), then one invocation adds the WG partials
//             (workgroup memory); the f32 error stays ~(count/(G·WG) + WG)·2⁻²⁴ relative
//             instead of count·2⁻²⁴ (squares: no cancellation).
//             Run once per chunk of the flat gradient (or per gradient buffer), appending.
//   CONTROL   partials [num_partials], stats (loss values, maybe the token count) → control:
//               loss_sum     = Σ stats[loss_index .. loss_index + loss_count) as f32 (one loss sum,
//                              or per-token losses with 0 at ignored labels)
//               token_count  from the uniform (count_mode 0) or counts[count_index] as u32 (1) / f32 (2);
//                            counts is its own binding (e.g. the LM head's targetCount) or stats again
//               grad_norm    = sqrt(Σ partials) / token_count      (the grads are sums over tokens)
//               clip_scale   = min(1, max_norm / (grad_norm + 1e-6)), 1 when max_norm ≤ 0 (PyTorch's
//                              clip_grad_norm_ coefficient)
//               grad_scale   = clip_scale / token_count             (what AdamW multiplies grads by)
//               loss         = loss_sum / token_count
//               flags        bit 0 loss not finite, bit 1 norm not finite, bit 2 token_count ≤ 0
//                            (bit 3 is set later by AdamW's check pass: the update would be non-finite)
//               finite       = 1 when flags = 0; AdamW skips the whole update otherwise
//             Words 8–15 of the buffer (the optimizer's counters) are left as they are.
//             One workgroup of WG threads.
//
// NOTE: squares are summed unscaled; a gradient with norm above ~1e19 overflows f32 and the step
// is reported as not finite (PyTorch in f32 would be lost there too).

struct Params {
  count: u32, partial_offset: u32, num_partials: u32, loss_index: u32,
  count_mode: u32, count_index: u32, count_value: f32, max_norm: f32,
  loss_count: u32, _pad0: u32, _pad1: u32, _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

const WG = {{WG}}u;
// reduce_sum, reduce_max: ../elementwise/workgroup_reduce.wgsl, appended.

#if PARTIALS
@group(0) @binding(1) var<storage, read> grads: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let stride = nwg.x * WG;
  var sum = 0.0;
  for (var i = wg.x * WG + li; i < p.count; i += stride) {
    let g = grads[i];
    sum = fma(g, g, sum);
  }
  let total = reduce_sum(li, sum);
  if (li == 0u) { partials[p.partial_offset + wg.x] = total; }
}
#endif

#if CONTROL
struct StepControl {
  grad_norm: f32, clip_scale: f32, grad_scale: f32, finite: u32,
  loss: f32, token_count: f32, flags: u32, sum_sq: f32,
}

@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<storage, read> stats: array<u32>;
@group(0) @binding(3) var<storage, read> counts: array<u32>;
@group(0) @binding(4) var<storage, read_write> control: StepControl;

fn is_finite(x: f32) -> bool {
  // WGSL has no isnan/isinf, and compilers may assume finite math for x != x: test the bits.
  return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32) {
  var sum = 0.0;
  for (var i = li; i < p.num_partials; i += WG) { sum += partials[i]; }
  let sum_sq = reduce_sum(li, sum);
  var loss_part = 0.0;
  for (var i = li; i < p.loss_count; i += WG) { loss_part += bitcast<f32>(stats[p.loss_index + i]); }
  let loss_sum = reduce_sum(li, loss_part);
  if (li != 0u) { return; }
  var token_count = p.count_value;
  if (p.count_mode == 1u) { token_count = f32(counts[p.count_index]); }
  if (p.count_mode == 2u) { token_count = bitcast<f32>(counts[p.count_index]); }
  var flags = 0u;
  if (!is_finite(loss_sum)) { flags |= 1u; }
  let norm = sqrt(sum_sq) / token_count;
  if (!is_finite(sum_sq) || !is_finite(norm)) { flags |= 2u; }
  if (!(token_count > 0.0) || !is_finite(token_count)) { flags |= 4u; }
  var clip = 1.0;
  if (p.max_norm > 0.0 && flags == 0u) { clip = min(1.0, p.max_norm / (norm + 1e-6)); }
  control.grad_norm = norm;
  control.clip_scale = clip;
  control.grad_scale = clip / token_count;
  control.finite = select(0u, 1u, flags == 0u);
  control.loss = loss_sum / token_count;
  control.token_count = token_count;
  control.flags = flags;
  control.sum_sq = sum_sq;
}
#endif

#if PARAM_NORM
// PARAM_NORM  partials [num_partials] (gradNormPartials run over the PARAMETERS after the update)
//             → control word 11 = Σ p²: the run driver watches parameter magnitudes for divergence.
@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> control: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32) {
  var sum = 0.0;
  for (var i = li; i < p.num_partials; i += WG) { sum += partials[i]; }
  let total = reduce_sum(li, sum);
  if (li == 0u) { control[11] = total; }
}
#endif
