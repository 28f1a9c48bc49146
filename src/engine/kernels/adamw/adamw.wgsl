// AdamW over a flat parameter buffer, PyTorch semantics (torch.optim.AdamW, foreach=False):
//
//   params, grads, m, v: [count] f32 each (all LoRA A/B tensors packed in one flat layout),
//   control: the step-control buffer written by gradnorm.wgsl's CONTROL pass.
//   When control.finite == 0 the kernel returns at once: params, m and v are left untouched.
//   Otherwise, with g = grads[i] · control.grad_scale (1/token count and the clip coefficient):
//     p ← p · (1 − lr·wd)                                  decoupled weight decay
//     m ← β1·m + (1 − β1)·g
//     v ← β2·v + (1 − β2)·g²
//     p ← p − (lr / bc1) · m / (sqrt(v) / sqrt_bc2 + eps)  bc1 = 1 − β1^t, sqrt_bc2 = sqrt(1 − β2^t)
//   The scalars decay = 1 − lr·wd, step_size = lr / bc1 and sqrt_bc2 are computed on the CPU in
//   float64 from the step number t and rounded once to f32 (as PyTorch's Python-float scalars are).
//   Grads are read, not cleared (clear them before the next accumulation).
//
// Geometry: one thread per element, WG per workgroup, 2-D folded grid (grid.ts).

struct Params {
  count: u32, _pad0: u32, _pad1: u32, _pad2: u32,
  decay: f32, beta1: f32, beta2: f32, eps: f32,
  step_size: f32, sqrt_bc2: f32, _pad3: f32, _pad4: f32,
}

struct StepControl {
  grad_norm: f32, clip_scale: f32, grad_scale: f32, finite: u32,
  loss: f32, token_count: f32, flags: u32, sum_sq: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> params: array<f32>;
@group(0) @binding(2) var<storage, read> grads: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@group(0) @binding(5) var<storage, read> control: StepControl;

const WG = {{WG}}u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wg.y * nwg.x + wg.x) * WG + lid.x;
  if (i >= p.count || control.finite == 0u) { return; }
  let g = grads[i] * control.grad_scale;
  let mi = p.beta1 * m[i] + (1.0 - p.beta1) * g;
  let vi = p.beta2 * v[i] + (1.0 - p.beta2) * g * g;
  m[i] = mi;
  v[i] = vi;
  params[i] = params[i] * p.decay - p.step_size * mi / (sqrt(vi) / p.sqrt_bc2 + p.eps);
}
