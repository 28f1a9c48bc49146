// The uniforms of the three matmul kernels (matmul.wgsl, matmul_vec4.wgsl, matmul_direct.wgsl),
// written by matmul.ts in this order: the problem, the batch strides, the offsets (in each kernel's
// units), alpha and beta, the leading dimensions, a quantized B's scales, and the direct kernel's
// layout flags (bit 0 TRANS_A, bit 1 TRANS_B, bit 2 ACCUMULATE; the staged kernels take constants).
{{ENABLE_F16}}

struct Params {
  M: u32, N: u32, K: u32, batch_stride_a: u32,
  batch_stride_b: u32, batch_stride_c: u32, offset_a: u32, offset_b: u32,
  offset_c: u32, alpha: f32, beta: f32, lda: u32,
  ldc: u32, scale_offset: u32, row_words: u32, scales_per_row: u32,
  flags: u32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
