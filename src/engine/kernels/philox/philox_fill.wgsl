// Fills out[4·i .. 4·i+3] = philox4x32_10((c0 + i, c1, c2, c3), (k0, k1)) for i < count.
// A test and debugging kernel: it proves the WGSL generator is bit-identical to philox.ts.
// Geometry: 64 threads per workgroup, one counter per thread.

struct Params { count: u32, c0: u32, c1: u32, c2: u32, c3: u32, k0: u32, k1: u32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= p.count) { return; }
  let r = philox4x32_10(vec4<u32>(p.c0 + i, p.c1, p.c2, p.c3), vec2<u32>(p.k0, p.k1));
  out[4u * i] = r.x;
  out[4u * i + 1u] = r.y;
  out[4u * i + 2u] = r.z;
  out[4u * i + 3u] = r.w;
}
