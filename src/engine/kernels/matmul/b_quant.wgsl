// Operand B of matmul.wgsl / matmul_vec4.wgsl read from a quantized frozen weight [rows, cols]
// (the format's file, quant/q8.wgsl or quant/nf4.wgsl, binds its packed values at @binding(2)
// and its scales at @binding(4), and defines dequant1 / dequant4). The weight is dequantized as a
// slab is staged into workgroup memory, so the inner loop is the dense kernel's.
//   Stored row r starts at word p.offset_b + r·p.row_words of the values and at scale
//   p.scale_offset + r·p.scales_per_row. `base` and the stride are not used: a quantized B is
//   never batched, and its row length is fixed by its layout (quant/layout.ts).

fn load_b1(base: u32, r: u32, c: u32, stride: u32) -> f32 {
  return dequant1(p.offset_b + r * p.row_words, p.scale_offset + r * p.scales_per_row, c);
}

fn load_b4(base: u32, r: u32, c4: u32, stride4: u32) -> vec4<f32> {
  return dequant4(p.offset_b + r * p.row_words, p.scale_offset + r * p.scales_per_row, c4);
}
