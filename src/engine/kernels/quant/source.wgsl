// Element e of a staged chunk of raw checkpoint bytes (little-endian, as safetensors stores them),
// as f32: SRC_DTYPE 0 = F32, 1 = F16, 2 = BF16 (two 16-bit values per u32, element e in half e & 1).
// The kernel that includes this file binds the chunk as `src: array<u32>`.

const SRC_DTYPE = {{SRC_DTYPE}}u;

fn src_value(e: u32) -> f32 {
  if (SRC_DTYPE == 0u) { return bitcast<f32>(src[e]); }
  let w = src[e >> 1u];
  if (SRC_DTYPE == 1u) { return unpack2x16float(w)[e & 1u]; }
  return bitcast<f32>(select(w << 16u, w & 0xffff0000u, (e & 1u) == 1u));
}

// x rounded to the nearest f16 value (ties to even), as an f32; |x| beyond the f16 range is not
// handled (weights' absmax are far below 65504).
// NOTE: written with integer ops rather than unpack2x16float(pack2x16float(x)): Mesa folds that
// round trip to x (and WGSL leaves pack2x16float's rounding to the implementation), so the stored
// scale and the one blocks normalize by would differ.
fn round_to_f16(x: f32) -> f32 {
  let a = abs(x);
  if (a < 0x1.0p-14f) {
    // f16 subnormals are multiples of 2⁻²⁴: scale up exactly, round half to even, scale back.
    return sign(x) * round(a * 0x1.0p+24f) * 0x1.0p-24f;
  }
  let bits = bitcast<u32>(x);
  let rounded = (bits + 0xfffu + ((bits >> 13u) & 1u)) & 0xffffe000u;
  return bitcast<f32>(rounded);
}
