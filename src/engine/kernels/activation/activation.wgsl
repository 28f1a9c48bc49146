// tanh and ReLU, element-wise over [rows, C] (the heads: BERT's pooler and RoBERTa's classifier.dense
// are followed by tanh, DistilBERT's pre_classifier by ReLU). ACT is a compile-time choice.
//
//   forward  x [count] → y [count],  tanh: y = tanh(x);  relu: y = max(x, 0)
//            Saves the OUTPUT y (not x): both derivatives are functions of it.
//   backward dy [count], y → dx [count],  tanh: dx = dy · (1 − y²);  relu: dx = dy · [y > 0]
//            (torch's relu backward also reads the result: x = 0 gets gradient 0)
//
// Geometry: WG threads per workgroup, one element each, 2-D folded grid (grid.ts).
// NOTE: tanh is clamped to |x| ≤ 20 first (tanh(20) rounds to 1 in f32): WGSL defines tanh through
// sinh/cosh, which overflow to inf/inf = NaN for |x| ≳ 89 on some implementations.

struct Params {
  count: u32, _pad0: u32, _pad1: u32, _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

const WG = {{WG}}u;
const ACT_TANH = {{ACT_TANH}};

fn flat_index(wg: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>) -> u32 {
  return (wg.y * nwg.x + wg.x) * WG + lid.x;
}

#if FORWARD
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_index(wg, nwg, lid);
  if (i >= p.count) { return; }
  let v = x[i];
  if (ACT_TANH) {
    y[i] = tanh(clamp(v, -20.0, 20.0));
  } else {
    y[i] = select(0.0, v, v > 0.0);
  }
}
#endif

#if BACKWARD
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_index(wg, nwg, lid);
  if (i >= p.count) { return; }
  let out = y[i];
  if (ACT_TANH) {
    dx[i] = dy[i] * fma(-out, out, 1.0);
  } else {
    dx[i] = select(0.0, dy[i], out > 0.0);
  }
}
#endif
