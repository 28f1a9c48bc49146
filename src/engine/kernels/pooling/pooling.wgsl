// First-token pooling: the [CLS] / <s> row of each sequence, forward and backward.
//
//   FORWARD   x [B*T, C] → out [B, C],  out[b, c] = x[b*T, c]            one thread per (b, c)
//   BACKWARD  dout [B, C] → dx [B*T, C],  dx[b*T + t, c] = (t == 0 ? dout[b, c] : 0)
//             one thread per element of dx; with ACCUMULATE only the t = 0 rows are touched
//             (dx[b*T, c] += dout[b, c]) and one thread per (b, c) suffices.
//   Saves nothing.
// Geometry: WG threads per workgroup, 2-D folded grid (grid.ts).

struct Params { B: u32, T: u32, C: u32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;

const WG = {{WG}}u;
const ACCUMULATE = {{ACCUMULATE}};

fn flat_index(wg: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>) -> u32 {
  return (wg.y * nwg.x + wg.x) * WG + lid.x;
}

#if FORWARD
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_index(wg, nwg, lid);
  if (i >= p.B * p.C) { return; }
  let b = i / p.C;
  out[i] = x[b * p.T * p.C + i % p.C];
}
#endif

#if BACKWARD
@group(0) @binding(1) var<storage, read> dout: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_index(wg, nwg, lid);
  if (ACCUMULATE) {
    if (i >= p.B * p.C) { return; }
    let j = (i / p.C) * p.T * p.C + i % p.C;
    dx[j] = dx[j] + dout[i];
  } else {
    if (i >= p.B * p.T * p.C) { return; }
    let row = i / p.C;
    let t = row % p.T;
    dx[i] = select(0.0, dout[(row / p.T) * p.C + i % p.C], t == 0u);
  }
}
#endif
