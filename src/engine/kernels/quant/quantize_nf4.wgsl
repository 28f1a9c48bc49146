// Quantizes rows of a frozen weight to NF4 block-wise, as QLoRA (layout in layout.ts; reference
// quantizeNF4Ref in quant.ref.ts):
//
//   src   one staged chunk of raw rows [rows, cols] (F32, F16 or BF16 bytes; source.wgsl)
//   Wq    u32 indices of the whole weight part: row r has `blocks` blocks of 64 columns, 8 words each;
//         the chunk's block b (row-major over [rows, blocks]) goes to words value_offset + 8·b …,
//         nibble j of a word = column 8w + j; columns past cols hold index 7 (the value 0)
//   Ws    absmax per block as f16, two per u32; the chunk's block b at index scale_offset + b
//
//   a = f16(max |w| over the block)   (the stored absmax; blocks normalize by it, so dequantizing
//                                      with it reproduces the nearest code exactly)
//   index = #{ t in NF4_THRESHOLD : w / a > t }   (the nearest NF4 value; a tie at a midpoint goes
//                                                   to the lower value, as bitsandbytes' tree does)
//   a block of zeros (or one whose absmax rounds to f16 zero) gets index 7 throughout.
// Geometry: one thread per pair of blocks (they share an absmax word), WG per workgroup, 2-D folded
// grid. scale_offset must be even.
// NOTE: absmax beyond the f16 range (65504) would be infinite; LLM weights are orders of magnitude below.

struct Params {
  rows: u32, cols: u32, blocks: u32, value_offset: u32,
  scale_offset: u32, total_blocks: u32, _p0: u32, _p1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> Wq: array<u32>;
@group(0) @binding(3) var<storage, read_write> Ws: array<u32>;

const WG = 64u;
const BLOCK = 64u;

fn nf4_index(x: f32) -> u32 {
  var index = 0u;
  // Written out where the compiler does not unroll (SwiftShader), so every threshold is a constant.
  // @unroll
  for (var i = 0u; i < 15u; i++) { index += select(0u, 1u, x > NF4_THRESHOLD[i]); }
  return index;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let t = (wg.y * nwg.x + wg.x) * WG + li;
  if (2u * t >= p.total_blocks) { return; }
  var absmax = vec2<f32>(0.0);
  for (var h = 0u; h < 2u; h++) {
    let b = 2u * t + h;
    if (b >= p.total_blocks) { break; }
    let r = b / p.blocks;
    let c0 = (b % p.blocks) * BLOCK;
    let e0 = r * p.cols;
    let n = min(BLOCK, p.cols - c0);
    var m = 0.0;
    for (var j = 0u; j < n; j++) { m = max(m, abs(src_value(e0 + c0 + j))); }
    let a = round_to_f16(m);
    absmax[h] = a;
    for (var w = 0u; w < BLOCK / 8u; w++) {
      var word = 0u;
      for (var j = 0u; j < 8u; j++) {
        let c = 8u * w + j;
        var x = 0.0;
        if (c < n && a > 0.0) { x = src_value(e0 + c0 + c) / a; }
        word = word | (nf4_index(x) << (4u * j));
      }
      Wq[p.value_offset + 8u * b + w] = word;
    }
  }
  Ws[(p.scale_offset >> 1u) + t] = pack2x16float(absmax);
}
