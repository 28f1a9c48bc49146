// Reader of a q8 frozen weight [rows, cols] (layout in layout.ts): int8 codes packed four per u32,
// byte j of word w holding column 4w + j, each row padded to whole words; one scale per row, f32,
// or f16 packed two per u32 when SCALE_F16 (row r in half r & 1 of word r >> 1).
//   value(r, c) = code(r, c) · scale(r)
// Bindings: packed values at @binding(2), scales at @binding(4); the kernel that includes this
// file owns the other bindings and passes each row's first word and first scale index.

@group(0) @binding(2) var<storage, read> Wq: array<u32>;
@group(0) @binding(4) var<storage, read> Ws: array<u32>;

const Q8_SCALE_F16 = {{SCALE_F16}};

fn q8_scale(i: u32) -> f32 {
  if (Q8_SCALE_F16) { return unpack2x16float(Ws[i >> 1u])[i & 1u]; }
  return bitcast<f32>(Ws[i]);
}

// Columns 4·c4 … 4·c4+3 of the row whose values start at word `word0` and scale at `scale0`.
fn dequant4(word0: u32, scale0: u32, c4: u32) -> vec4<f32> {
  let w = Wq[word0 + c4];
  // Sign-extend each byte: shift it to the top, then arithmetic shift right by 24.
  let codes = vec4<i32>(bitcast<i32>(w << 24u), bitcast<i32>(w << 16u), bitcast<i32>(w << 8u), bitcast<i32>(w)) >> vec4<u32>(24u);
  return vec4<f32>(codes) * q8_scale(scale0);
}

// Column c of the row whose values start at word `word0` and scale at `scale0`.
fn dequant1(word0: u32, scale0: u32, c: u32) -> f32 {
  let w = Wq[word0 + (c >> 2u)];
  let code = bitcast<i32>(w << (24u - 8u * (c & 3u))) >> 24u;
  return f32(code) * q8_scale(scale0);
}
