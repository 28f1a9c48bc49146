// AdamW over a flat parameter buffer, PyTorch semantics (torch.optim.AdamW, foreach=False), in
// three passes so that no update that would make a parameter non-finite is ever written:
//
//   params, grads, m, v: [count] f32 each (all trainable tensors packed in one flat layout),
//   control: the step-control buffer (gradnorm.wgsl's StepControl, 16 words).
//   With g = grads[i] · control.grad_scale (1/token count and the clip coefficient):
//     p' = p · (1 − lr·wd)     for i < decay_count           decoupled weight decay (HF's Trainer
//                                                             decays neither biases nor norms: the
//                                                             flat layout keeps them after the prefix)
//     m' = β1·m + (1 − β1)·g
//     v' = β2·v + (1 − β2)·g²
//     p' = p' − step_size · m' / (sqrt(v') / sqrt_bc2 + eps) step_size = lr / (1 − β1ᵗ), sqrt_bc2 = sqrt(1 − β2ᵗ)
//
//   CHECK  computes p', m', v' and sets FLAG_UPDATE_NOT_FINITE in control.flags (atomic) when any
//          is not finite. Nothing is written to params, m or v.
//   APPLY  writes p', m', v' when the step is finite (control.finite) and CHECK flagged nothing.
//          Both passes run the same update function, so they compute the same values.
//   COUNT  one thread: control.applied += 1 when the update was applied, else control.skipped += 1
//          (control.rolled_back += 1 when CHECK refused the update).
//
// t, the bias-correction step, is control.applied + 1: the count of updates applied so far lives on
// the GPU, so the CPU can record the next step before it knows whether this one was skipped. The
// CPU passes the f32 scalars for the few t the step can have (t_min … t_min + t_count − 1, each
// computed in float64 and rounded once, as PyTorch's Python-float scalars are); the kernel picks
// the one for its t.
//
// Geometry: CHECK and APPLY one thread per element, WG per workgroup, 2-D folded grid (grid.ts);
// COUNT one workgroup of one thread. Grads are read, not cleared.

struct Params {
  count: u32, t_min: u32, t_count: u32, decay_count: u32,
  decay: f32, beta1: f32, beta2: f32, eps: f32,
  step_size: vec4<f32>,
  sqrt_bc2: vec4<f32>,
}

const FLAG_UPDATE_NOT_FINITE = 8u;

@group(0) @binding(0) var<uniform> p: Params;

fn is_finite(x: f32) -> bool {
  // WGSL has no isnan/isinf, and compilers may assume finite math for x != x: test the bits.
  return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

#if CHECK
struct StepControl {
  grad_norm: f32, clip_scale: f32, grad_scale: f32, finite: u32,
  loss: f32, token_count: f32, flags: atomic<u32>, sum_sq: f32,
  applied: u32, skipped: u32, rolled_back: u32, _r0: u32,
  _r1: u32, _r2: u32, _r3: u32, _r4: u32,
}
@group(0) @binding(1) var<storage, read> params: array<f32>;
@group(0) @binding(2) var<storage, read> grads: array<f32>;
@group(0) @binding(3) var<storage, read> m: array<f32>;
@group(0) @binding(4) var<storage, read> v: array<f32>;
@group(0) @binding(5) var<storage, read_write> control: StepControl;
#endif

#if APPLY
struct StepControl {
  grad_norm: f32, clip_scale: f32, grad_scale: f32, finite: u32,
  loss: f32, token_count: f32, flags: u32, sum_sq: f32,
  applied: u32, skipped: u32, rolled_back: u32, _r0: u32,
  _r1: u32, _r2: u32, _r3: u32, _r4: u32,
}
@group(0) @binding(1) var<storage, read_write> params: array<f32>;
@group(0) @binding(2) var<storage, read> grads: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@group(0) @binding(5) var<storage, read> control: StepControl;
#endif

#if COUNT
struct StepControl {
  grad_norm: f32, clip_scale: f32, grad_scale: f32, finite: u32,
  loss: f32, token_count: f32, flags: u32, sum_sq: f32,
  applied: u32, skipped: u32, rolled_back: u32, _r0: u32,
  _r1: u32, _r2: u32, _r3: u32, _r4: u32,
}
@group(0) @binding(1) var<storage, read_write> control: StepControl;

@compute @workgroup_size(1)
fn main() {
  if (control.finite == 1u && (control.flags & FLAG_UPDATE_NOT_FINITE) == 0u) {
    control.applied += 1u;
  } else {
    control.skipped += 1u;
    if ((control.flags & FLAG_UPDATE_NOT_FINITE) != 0u) { control.rolled_back += 1u; }
  }
}
#endif

#if CHECK || APPLY
const WG = {{WG}}u;

struct Update { p: f32, m: f32, v: f32 }

fn update(i: u32, grad_scale: f32, applied: u32) -> Update {
  let k = min(applied + 1u - min(applied + 1u, p.t_min), p.t_count - 1u);
  let step_size = p.step_size[k];
  let sqrt_bc2 = p.sqrt_bc2[k];
  let g = grads[i] * grad_scale;
  let mi = p.beta1 * m[i] + (1.0 - p.beta1) * g;
  let vi = p.beta2 * v[i] + (1.0 - p.beta2) * g * g;
  let decay = select(1.0, p.decay, i < p.decay_count);
  let pi = params[i] * decay - step_size * mi / (sqrt(vi) / sqrt_bc2 + p.eps);
  return Update(pi, mi, vi);
}
#endif

#if CHECK
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wg.y * nwg.x + wg.x) * WG + lid.x;
  if (i >= p.count || control.finite == 0u) { return; }
  let u = update(i, control.grad_scale, control.applied);
  if (!is_finite(u.p) || !is_finite(u.m) || !is_finite(u.v)) {
    atomicOr(&control.flags, FLAG_UPDATE_NOT_FINITE);
  }
}
#endif

#if APPLY
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wg.y * nwg.x + wg.x) * WG + lid.x;
  if (i >= p.count || control.finite == 0u || (control.flags & FLAG_UPDATE_NOT_FINITE) != 0u) { return; }
  let u = update(i, control.grad_scale, control.applied);
  params[i] = u.p;
  m[i] = u.m;
  v[i] = u.v;
}
#endif
