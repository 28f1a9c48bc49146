// Operand B of matmul.wgsl: a dense matrix of f32 (or f16 with shader-f16) elements.
//   load_b1(base, r, c, stride) = element (r, c) of stored B, whose rows are `stride` elements
//   apart, from element `base` (offset and batch).
// A quantized B binds its own operand instead (b_quant.wgsl with quant/q8.wgsl or quant/nf4.wgsl).

@group(0) @binding(2) var<storage, read> B: array<{{B_TYPE}}>;

fn load_b1(base: u32, r: u32, c: u32, stride: u32) -> f32 {
  return f32(B[base + r * stride + c]);
}
