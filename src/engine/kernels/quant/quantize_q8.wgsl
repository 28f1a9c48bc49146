// Quantizes rows of a frozen weight to q8 (layout in layout.ts; reference quantizeQ8Ref in quant.ref.ts):
//
//   src   one staged chunk of raw rows [rows, cols] (F32, F16 or BF16 bytes; source.wgsl)
//   Wq    u32 codes of the whole weight part; the chunk's row r goes to words
//         value_offset + r·row_words …, four int8 codes per word (byte j = column 4w + j, 0 past cols)
//   Ws    scales of the part (f32, or f16 pairs when SCALE_F16); the chunk's row r at scale_offset + r
//
//   absmax_r = max_c |w[r, c]|,  code = round(127 · w / absmax_r)  (round half to even, WGSL round),
//   scale_r = absmax_r · f32(1/127) (then rounded to f16 when SCALE_F16);  a row of zeros gets
//   codes 0 and scale 0.
// Geometry: one thread per pair of rows (an f16 pair shares a u32, so one thread writes it), which
// reads each row twice (max, then codes); WG threads per workgroup, 2-D folded grid. No barriers
// (a workgroup per row pair with a tree reduction quantized 576×576 in 3.1–3.3 ms on lavapipe,
// this in 1.5–1.9 ms). scale_offset must be even when SCALE_F16.

struct Params {
  rows: u32, cols: u32, row_words: u32, value_offset: u32,
  scale_offset: u32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> Wq: array<u32>;
@group(0) @binding(3) var<storage, read_write> Ws: array<u32>;

const WG = 64u;
const SCALE_F16 = {{SCALE_F16}};
const INV_127 = 0x1.020408p-7f; // f32(1/127)

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let pair = (wg.y * nwg.x + wg.x) * WG + li;
  if (2u * pair >= p.rows) { return; }
  var scales = vec2<f32>(0.0);
  for (var h = 0u; h < 2u; h++) {
    let r = 2u * pair + h;
    if (r >= p.rows) { break; }
    let e0 = r * p.cols;
    var absmax = 0.0;
    for (var c = 0u; c < p.cols; c++) { absmax = max(absmax, abs(src_value(e0 + c))); }
    for (var w = 0u; w < p.row_words; w++) {
      var word = 0u;
      for (var j = 0u; j < 4u; j++) {
        let c = 4u * w + j;
        var code = 0;
        if (c < p.cols && absmax > 0.0) {
          code = i32(clamp(round(127.0 * src_value(e0 + c) / absmax), -127.0, 127.0));
        }
        word = word | ((bitcast<u32>(code) & 0xffu) << (8u * j));
      }
      Wq[p.value_offset + r * p.row_words + w] = word;
    }
    // A multiply (correctly rounded everywhere) rather than a division (2.5 ulp in WGSL), so the
    // stored scale is the same bits on every device.
    let scale = absmax * INV_127;
    scales[h] = select(scale, round_to_f16(scale), SCALE_F16);
  }
  if (SCALE_F16) {
    Ws[(p.scale_offset >> 1u) + pair] = pack2x16float(scales);
  } else {
    Ws[p.scale_offset + 2u * pair] = bitcast<u32>(scales.x);
    if (2u * pair + 1u < p.rows) { Ws[p.scale_offset + 2u * pair + 1u] = bitcast<u32>(scales.y); }
  }
}
