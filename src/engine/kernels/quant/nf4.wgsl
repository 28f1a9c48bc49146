// Reader of an NF4 frozen weight [rows, cols] (layout in layout.ts): 4-bit indices into NF4_CODE
// (nf4_code.wgsl), eight per u32, nibble j of word w holding column 8w + j; each row is padded to
// whole blocks of 64 columns (padding holds index 7, the value 0); one absmax per block of 64
// columns as f16, packed two per u32 (block b of the weight in half b & 1 of word b >> 1).
//   value(r, c) = NF4_CODE[index(r, c)] · absmax(r, c / 64)
// Bindings: packed values at @binding(2), absmax at @binding(4); the kernel that includes this
// file owns the other bindings and passes each row's first word and first block index.

@group(0) @binding(2) var<storage, read> Wq: array<u32>;
@group(0) @binding(4) var<storage, read> Ws: array<u32>;

fn nf4_absmax(i: u32) -> f32 {
  return unpack2x16float(Ws[i >> 1u])[i & 1u];
}

// Columns 4·c4 … 4·c4+3 of the row whose values start at word `word0` and blocks at `scale0`.
fn dequant4(word0: u32, scale0: u32, c4: u32) -> vec4<f32> {
  let w = Wq[word0 + (c4 >> 1u)] >> ((c4 & 1u) * 16u);
  let code = vec4<f32>(NF4_CODE[w & 15u], NF4_CODE[(w >> 4u) & 15u], NF4_CODE[(w >> 8u) & 15u], NF4_CODE[(w >> 12u) & 15u]);
  return code * nf4_absmax(scale0 + (c4 >> 4u));
}

// Column c of the row whose values start at word `word0` and blocks at `scale0`.
fn dequant1(word0: u32, scale0: u32, c: u32) -> f32 {
  let w = Wq[word0 + (c >> 3u)];
  return NF4_CODE[(w >> ((c & 7u) * 4u)) & 15u] * nf4_absmax(scale0 + (c >> 6u));
}
