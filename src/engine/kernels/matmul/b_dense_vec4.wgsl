// Operand B of matmul_vec4.wgsl: a dense matrix of f32 (or f16 with shader-f16) elements, in vec4s.
//   load_b4(base, r, c4, stride4) = elements 4·c4 … 4·c4+3 of stored row r, rows `stride4` vec4s
//   apart, from vec4 `base` (offset and batch).
// A quantized B binds its own operand instead (b_quant.wgsl with quant/q8.wgsl or quant/nf4.wgsl).

@group(0) @binding(2) var<storage, read> B: array<vec4<{{B_TYPE}}>>;

fn load_b4(base: u32, r: u32, c4: u32, stride4: u32) -> vec4<f32> {
  return vec4<f32>(B[base + r * stride4 + c4]);
}
