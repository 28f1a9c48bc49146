// SwiGLU, the gate of the Llama MLP: h = silu(gate) · up, element-wise over [N, I].
//
//   forward  gate [N, I], up [N, I] → h [N, I];  silu(g) = g · σ(g), σ(g) = 1 / (1 + e^(−g))
//            Saves nothing: the backward reads the forward's inputs gate and up.
//   backward dh [N, I], gate, up → dgate [N, I], dup [N, I]
//            dup   = dh · silu(g)
//            dgate = dh · up · σ(g) · (1 + g · (1 − σ(g)))
//
// Geometry: WG threads per workgroup, one element each, 2-D folded grid (grid.ts).

struct Params {
  count: u32, _pad0: u32, _pad1: u32, _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

const WG = {{WG}}u;

fn sigmoid(g: f32) -> f32 {
  // NOTE: for g < −88, exp(−g) overflows to +inf and σ = 1/inf = 0 exactly, which is the limit.
  return 1.0 / (1.0 + exp(-g));
}

#if FORWARD
@group(0) @binding(1) var<storage, read> gate: array<f32>;
@group(0) @binding(2) var<storage, read> up: array<f32>;
@group(0) @binding(3) var<storage, read_write> h: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wg.y * nwg.x + wg.x) * WG + lid.x;
  if (i >= p.count) { return; }
  let g = gate[i];
  h[i] = g * sigmoid(g) * up[i];
}
#endif

#if BACKWARD
@group(0) @binding(1) var<storage, read> dh: array<f32>;
@group(0) @binding(2) var<storage, read> gate: array<f32>;
@group(0) @binding(3) var<storage, read> up: array<f32>;
@group(0) @binding(4) var<storage, read_write> dgate: array<f32>;
@group(0) @binding(5) var<storage, read_write> dup: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wg.y * nwg.x + wg.x) * WG + lid.x;
  if (i >= p.count) { return; }
  let g = gate[i];
  let s = sigmoid(g);
  let d = dh[i];
  dup[i] = d * g * s;
  dgate[i] = d * up[i] * s * (1.0 + g * (1.0 - s));
}
#endif
