/**
 * Weight encodings of the ONNX variants. Each returns the stored bytes and the values the runtime
 * computes with after dequantization (`dequantized`, in HF's [out, in] layout), so a test can run
 * the float64 reference on exactly those weights and check the file's layout bit for bit.
 *
 * - int8 / uint8 per output channel (DequantizeLinear, axis 1 of the [in, out] MatMul weight):
 *   scale = max|w_row| / 127, q = round(w / scale) (uint8 adds the zero point 128).
 * - 4-bit blocks for com.microsoft MatMulNBits (bits 4, block 32 along K): B [N, K/32, 16] with
 *   two values a byte, low nibble first; scale = max|w_block| / 7 (f32, or f16 for q4f16),
 *   q = clamp(round(w / scale), −8, 7) + 8, no zero_points input (the default zero point is 8).
 */
import { f16BitsToF32Bits, f32FromBits, f32ToF16 } from '../../dtype';

const fr = Math.fround;

export interface Quantized {
  /** Stored tensors (names are suffixes the caller prefixes). */
  data: Uint8Array;
  scales: Uint8Array;
  zeroPoints?: Uint8Array;
  /** Dequantized weights [out, in]. */
  dequantized: Float32Array;
}

/** W [out, in] → int8/uint8 Wᵀ [in, out] with per-output scales [out] (f32). */
export function quantizeInt8PerChannel(w: Float32Array, outF: number, inF: number, unsigned: boolean): Quantized {
  const scales = new Float32Array(outF);
  const q = new Int16Array(outF * inF); // signed values, stored as int8 or uint8 later
  const deq = new Float32Array(outF * inF);
  for (let o = 0; o < outF; o++) {
    let amax = 0;
    for (let i = 0; i < inF; i++) amax = Math.max(amax, Math.abs(w[o * inF + i]));
    const s = amax === 0 ? 1 : fr(amax / 127);
    scales[o] = s;
    for (let i = 0; i < inF; i++) {
      const v = Math.max(-127, Math.min(127, Math.round(w[o * inF + i] / s)));
      q[o * inF + i] = v;
      deq[o * inF + i] = fr(v * s);
    }
  }
  const data = new Uint8Array(inF * outF);
  for (let o = 0; o < outF; o++) {
    for (let i = 0; i < inF; i++) {
      const v = q[o * inF + i];
      data[i * outF + o] = unsigned ? v + 128 : v & 0xff;
    }
  }
  const zeroPoints = unsigned ? new Uint8Array(outF).fill(128) : undefined;
  return { data, scales: new Uint8Array(scales.buffer), zeroPoints, dequantized: deq };
}

/** Rows [rows, cols] → int8 rows with one f32 scale per row (embedding tables: Gather then scale). */
export function quantizeInt8Rows(w: Float32Array, rows: number, cols: number): Quantized {
  const scales = new Float32Array(rows);
  const data = new Uint8Array(rows * cols);
  const deq = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let amax = 0;
    for (let c = 0; c < cols; c++) amax = Math.max(amax, Math.abs(w[r * cols + c]));
    const s = amax === 0 ? 1 : fr(amax / 127);
    scales[r] = s;
    for (let c = 0; c < cols; c++) {
      const v = Math.max(-127, Math.min(127, Math.round(w[r * cols + c] / s)));
      data[r * cols + c] = v & 0xff;
      deq[r * cols + c] = fr(v * s);
    }
  }
  return { data, scales: new Uint8Array(scales.buffer), dequantized: deq };
}

export const Q4_BLOCK = 32;

/** W [N=out, K=in] → MatMulNBits B [N, ceil(K/32), 16] and scales [N·blocks] (f32 or f16). */
export function quantizeQ4Blocks(w: Float32Array, outF: number, inF: number, f16Scales: boolean): Quantized {
  const blocks = Math.ceil(inF / Q4_BLOCK);
  const data = new Uint8Array(outF * blocks * (Q4_BLOCK / 2));
  const scalesF = new Float32Array(outF * blocks);
  const deq = new Float32Array(outF * inF);
  const nib = new Uint8Array(Q4_BLOCK);
  for (let n = 0; n < outF; n++) {
    for (let b = 0; b < blocks; b++) {
      const k0 = b * Q4_BLOCK;
      const k1 = Math.min(inF, k0 + Q4_BLOCK);
      let amax = 0;
      for (let k = k0; k < k1; k++) amax = Math.max(amax, Math.abs(w[n * inF + k]));
      let s = amax === 0 ? 1 : fr(amax / 7);
      if (f16Scales) s = f32FromBits(f16BitsToF32Bits(f32ToF16(Float32Array.of(s))[0]));
      scalesF[n * blocks + b] = s;
      nib.fill(8);
      for (let k = k0; k < k1; k++) {
        const v = Math.max(-8, Math.min(7, Math.round(w[n * inF + k] / s)));
        nib[k - k0] = v + 8;
        deq[n * inF + k] = fr(v * s);
      }
      const base = (n * blocks + b) * (Q4_BLOCK / 2);
      for (let j = 0; j < Q4_BLOCK / 2; j++) data[base + j] = nib[2 * j] | (nib[2 * j + 1] << 4);
    }
  }
  let scales: Uint8Array;
  if (f16Scales) {
    const h = f32ToF16(scalesF);
    scales = new Uint8Array(h.buffer, h.byteOffset, h.byteLength);
  } else scales = new Uint8Array(scalesF.buffer);
  return { data, scales, dequantized: deq };
}

/** The value an f32 takes once stored as f16. */
export function roundToF16(values: Float32Array): Float32Array {
  const h = f32ToF16(values);
  const out = new Float32Array(h.length);
  for (let i = 0; i < h.length; i++) out[i] = f32FromBits(f16BitsToF32Bits(h[i]));
  return out;
}

/** Transposes [rows, cols] → [cols, rows]. */
export function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c];
  return out;
}
