/**
 * Float64 reference of weight quantization (layouts in layout.ts), with the launchers' arguments:
 *
 *   q8   per row r:   absmax_r = max_c |W[r,c]|,  code = roundHalfEven(127·W/absmax_r) ∈ [−127, 127],
 *                     scale_r = f32(absmax_r · f32(1/127)) (stored f32, or rounded on to f16 with scaleF16)
 *   nf4  per block of 64 columns:  a = f16(max |W|),  index = #{t ∈ NF4_THRESHOLD : W/a > t}
 *                     (the nearest NF4 value; a tie at a midpoint goes to the lower one, as in
 *                     bitsandbytes' decision tree), stored a as f16
 *   dequantize:  q8  W ≈ code·scale_r;   nf4  W ≈ NF4_CODE[index]·a
 *
 * The packed words are exactly what the GPU kernels write, so tests compare codes bit for bit.
 * NOTE: the reference divides in float64 and the GPU in f32, so a value within an f32 rounding of a
 * decision boundary (a half-integer for q8, a threshold for nf4) may fall on the other side on the
 * GPU; grid inputs (multiples of 1/8) never land within that distance except exactly on a tie,
 * where both agree (127·W is exact in f32 and the quotient is exact).
 */
import { f16BitsToF32Bits, f32Bits, f32BitsToF16Bits, f32FromBits } from '../../../formats/dtype';
import { NF4_BLOCK, quantLayout, type QuantFormat, type QuantLayout } from './layout';

/** QLoRA's NF4 values (bitsandbytes' code, as f32). */
export const NF4_CODE = Float64Array.from(
  [
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635, -0.18477343022823334,
    -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
  ].map(Math.fround),
);

/** Decision thresholds: the f32 nearest to the midpoint of each adjacent pair of NF4 values. */
export const NF4_THRESHOLD = Float64Array.from({ length: 15 }, (_, i) => Math.fround((NF4_CODE[i] + NF4_CODE[i + 1]) / 2));

/** f32(1/127): the q8 scale is absmax·INV_127, a multiply, so every device stores the same bits. */
export const INV_127 = Math.fround(1 / 127);

/** Source dtypes of the raw checkpoint bytes the quantizer reads. */
export type SourceDtype = 'f32' | 'f16' | 'bf16';

/** The values of raw little-endian F32 / F16 / BF16 bytes. */
export function decodeSourceRef(bytes: Uint8Array, dtype: SourceDtype): Float64Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dtype === 'f32') return Float64Array.from({ length: bytes.byteLength >> 2 }, (_, i) => view.getFloat32(4 * i, true));
  return Float64Array.from({ length: bytes.byteLength >> 1 }, (_, i) => {
    const h = view.getUint16(2 * i, true);
    return f32FromBits(dtype === 'f16' ? f16BitsToF32Bits(h) : (h << 16) >>> 0);
  });
}

/** Round to nearest, ties to even (WGSL round(), torch.round). */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** f16 bits of x (rounded to f32 first, then to f16, nearest even), as pack2x16float does. */
export function toF16Bits(x: number): number {
  return f32BitsToF16Bits(f32Bits(x));
}

export function fromF16Bits(h: number): number {
  return f32FromBits(f16BitsToF32Bits(h));
}

/** NF4 index of a normalized value: the count of thresholds strictly below it. */
export function nf4Index(x: number): number {
  let index = 0;
  for (const t of NF4_THRESHOLD) if (x > t) index++;
  return index;
}

/** A quantized weight as the GPU stores it: packed value words and scale words. */
export interface QuantizedRef {
  layout: QuantLayout;
  /** u32 [rows · rowWords] */
  values: Uint32Array;
  /** u32 words of scales: f32 bits, or f16 pairs (index i in half i & 1 of word i >> 1). */
  scales: Uint32Array;
}

export interface QuantizeRefArgs {
  format: QuantFormat;
  /** W [rows, cols] (the decoded source values). */
  data: ArrayLike<number>;
  rows: number;
  cols: number;
  /** q8: f16 scales (nf4 always stores f16). */
  scaleF16?: boolean;
}

/** The scale (q8) or absmax (nf4) at flat index i of a quantized weight. */
export function scaleAt(q: Pick<QuantizedRef, 'layout' | 'scales'>, i: number): number {
  if (q.layout.scaleBytes === 4) return f32FromBits(q.scales[i]);
  return fromF16Bits((q.scales[i >> 1] >>> (16 * (i & 1))) & 0xffff);
}

function setScale(scales: Uint32Array, layout: QuantLayout, i: number, value: number): void {
  if (layout.scaleBytes === 4) {
    scales[i] = f32Bits(value);
  } else {
    const shift = 16 * (i & 1);
    scales[i >> 1] = ((scales[i >> 1] & ~(0xffff << shift)) | (toF16Bits(value) << shift)) >>> 0;
  }
}

export function quantizeRef(a: QuantizeRefArgs): QuantizedRef {
  return a.format === 'q8' ? quantizeQ8Ref(a) : quantizeNF4Ref(a);
}

export function quantizeQ8Ref(a: Omit<QuantizeRefArgs, 'format'>): QuantizedRef {
  const { rows, cols } = a;
  const layout = quantLayout('q8', rows, cols, a.scaleF16);
  const values = new Uint32Array(rows * layout.rowWords);
  const scales = new Uint32Array(Math.ceil((rows * layout.scaleBytes) / 4));
  for (let r = 0; r < rows; r++) {
    let absmax = 0;
    for (let c = 0; c < cols; c++) absmax = Math.max(absmax, Math.abs(a.data[r * cols + c]));
    for (let c = 0; c < cols; c++) {
      const code = absmax > 0 ? Math.min(127, Math.max(-127, roundHalfEven((127 * a.data[r * cols + c]) / absmax))) : 0;
      const w = r * layout.rowWords + (c >> 2);
      values[w] = (values[w] | ((code & 0xff) << (8 * (c & 3)))) >>> 0;
    }
    setScale(scales, layout, r, Math.fround(absmax * INV_127));
  }
  return { layout, values, scales };
}

export function quantizeNF4Ref(a: Omit<QuantizeRefArgs, 'format'>): QuantizedRef {
  const { rows, cols } = a;
  const layout = quantLayout('nf4', rows, cols);
  const blocks = layout.scalesPerRow;
  // Every nibble starts as index 7 (the value 0), which is what padding columns keep.
  const values = new Uint32Array(rows * layout.rowWords).fill(0x77777777);
  const scales = new Uint32Array(Math.ceil((rows * blocks) / 2));
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < blocks; b++) {
      const c0 = b * NF4_BLOCK;
      const n = Math.min(NF4_BLOCK, cols - c0);
      let m = 0;
      for (let j = 0; j < n; j++) m = Math.max(m, Math.abs(a.data[r * cols + c0 + j]));
      setScale(scales, layout, r * blocks + b, m);
      const absmax = scaleAt({ layout, scales }, r * blocks + b); // normalize by the stored f16 value
      for (let j = 0; j < n; j++) {
        const x = absmax > 0 ? a.data[r * cols + c0 + j] / absmax : 0;
        const c = c0 + j;
        const w = r * layout.rowWords + (c >> 3);
        const shift = 4 * (c & 7);
        values[w] = ((values[w] & ~(0xf << shift)) | (nf4Index(x) << shift)) >>> 0;
      }
    }
  }
  return { layout, values, scales };
}

/** The code (q8: −127…127) or index (nf4: 0…15) at (r, c). */
export function codeAt(q: Pick<QuantizedRef, 'layout' | 'values'>, r: number, c: number): number {
  const { layout } = q;
  if (layout.format === 'q8') {
    const byte = (q.values[r * layout.rowWords + (c >> 2)] >>> (8 * (c & 3))) & 0xff;
    return byte >= 128 ? byte - 256 : byte;
  }
  return (q.values[r * layout.rowWords + (c >> 3)] >>> (4 * (c & 7))) & 0xf;
}

/** W [rows, cols] as the matmul kernels see it: code·scale (q8) or NF4[index]·absmax (nf4). */
export function dequantizeRef(q: Pick<QuantizedRef, 'layout' | 'values' | 'scales'>): Float64Array {
  const { rows, cols, scalesPerRow, format } = q.layout;
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const code = codeAt(q, r, c);
      out[r * cols + c] = format === 'q8' ? code * scaleAt(q, r) : NF4_CODE[code] * scaleAt(q, r * scalesPerRow + Math.floor(c / NF4_BLOCK));
    }
  }
  return out;
}
