/**
 * Bit-exact conversions between the float formats checkpoints use (BF16, F16, F32, F64) and f32.
 *
 * All byte buffers are little-endian, as safetensors stores them. Inputs may sit at any byte
 * offset: they are copied into an aligned buffer when they are not aligned.
 */

export class DtypeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DtypeError';
  }
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** The f32 bit pattern of a number (after rounding it to f32). */
export function f32Bits(x: number): number {
  f32Scratch[0] = x;
  return u32Scratch[0];
}

/** The f32 value of a 32-bit pattern. */
export function f32FromBits(bits: number): number {
  u32Scratch[0] = bits >>> 0;
  return f32Scratch[0];
}

/** IEEE binary16 bits → f32 bits. Exact: every f16 value (NaN payloads included) is an f32 value. */
export function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0; // inf / NaN (payload kept)
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0; // ±0
  // Subnormal f16: normalize into an f32 normal.
  let e = 113;
  while ((mant & 0x400) === 0) {
    mant <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((mant & 0x3ff) << 13)) >>> 0;
}

/**
 * f32 bits → binary16 bits with round-to-nearest-even. Overflow gives ±inf, tiny values become
 * f16 subnormals or ±0, NaN stays NaN (quiet, top payload bits kept).
 */
export function f32BitsToF16Bits(f: number): number {
  const sign = (f >>> 16) & 0x8000;
  const exp = (f >>> 23) & 0xff;
  const mant = f & 0x7fffff;
  if (exp === 0xff) return mant === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mant >>> 13);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Result is subnormal (or zero): shift the full 24-bit significand right and round.
    if (e < -10) return sign; // below half of the smallest subnormal: rounds to ±0
    const full = mant | 0x800000;
    const shift = 14 - e; // 14..24
    const half = 1 << (shift - 1);
    const rest = full & ((1 << shift) - 1);
    let out = full >>> shift;
    if (rest > half || (rest === half && (out & 1) === 1)) out++;
    return sign | out; // a carry into bit 10 correctly yields the smallest normal
  }
  let out = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (out & 1) === 1)) out++; // may carry into inf: correct
  return sign | out;
}

/** bfloat16 bits → f32 bits (exact). */
export function bf16BitsToF32Bits(b: number): number {
  return (b << 16) >>> 0;
}

/** f32 bits → bfloat16 bits with round-to-nearest-even; NaN stays a quiet NaN. */
export function f32BitsToBf16Bits(f: number): number {
  if ((f & 0x7f800000) === 0x7f800000 && (f & 0x7fffff) !== 0) return ((f >>> 16) | 0x40) & 0xffff;
  const rounded = f + 0x7fff + ((f >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

function aligned(bytes: Uint8Array, elementSize: number): ArrayBuffer {
  if (bytes.byteOffset % elementSize === 0 && bytes.byteLength % elementSize === 0) {
    return bytes.buffer as ArrayBuffer;
  }
  return bytes.slice().buffer;
}

function view<T>(bytes: Uint8Array, elementSize: number, make: (b: ArrayBuffer, off: number, n: number) => T): T {
  if (bytes.byteLength % elementSize !== 0) {
    throw new DtypeError(`${bytes.byteLength} bytes is not a whole number of ${elementSize}-byte elements`);
  }
  const buffer = aligned(bytes, elementSize);
  const offset = buffer === bytes.buffer ? bytes.byteOffset : 0;
  return make(buffer, offset, bytes.byteLength / elementSize);
}

export function bf16ToF32(bytes: Uint8Array): Float32Array {
  const src = view(bytes, 2, (b, o, n) => new Uint16Array(b, o, n));
  const out = new Uint32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = src[i] << 16;
  return new Float32Array(out.buffer);
}

export function f16ToF32(bytes: Uint8Array): Float32Array {
  const src = view(bytes, 2, (b, o, n) => new Uint16Array(b, o, n));
  const out = new Uint32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f16BitsToF32Bits(src[i]);
  return new Float32Array(out.buffer);
}

export function f32ToF32(bytes: Uint8Array): Float32Array {
  const src = view(bytes, 4, (b, o, n) => new Float32Array(b, o, n));
  return new Float32Array(src); // always a fresh copy the caller owns
}

/** F64 → f32 with round-to-nearest-even (what Math.fround and Float32Array do). */
export function f64ToF32(bytes: Uint8Array): Float32Array {
  const src = view(bytes, 8, (b, o, n) => new Float64Array(b, o, n));
  return Float32Array.from(src);
}

/**
 * Index of the first NaN or ±Inf among raw little-endian F32, F16 or BF16 values (all exponent bits
 * set), or -1: a streamed tensor is checked chunk by chunk before the GPU quantizes it (a NaN would
 * otherwise vanish into an absmax and come out as an arbitrary code).
 */
export function firstNonFiniteRaw(dtype: 'F32' | 'F16' | 'BF16', bytes: Uint8Array): number {
  if (dtype === 'F32') {
    const words = view(bytes, 4, (b, o, n) => new Uint32Array(b, o, n));
    for (let i = 0; i < words.length; i++) if ((words[i] & 0x7f800000) === 0x7f800000) return i;
    return -1;
  }
  const mask = dtype === 'F16' ? 0x7c00 : 0x7f80;
  const halves = view(bytes, 2, (b, o, n) => new Uint16Array(b, o, n));
  for (let i = 0; i < halves.length; i++) if ((halves[i] & mask) === mask) return i;
  return -1;
}

/** f32 values → F16 bits (RNE), for frozen weights stored as f16 on the GPU. */
export function f32ToF16(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = f32BitsToF16Bits(bits[i]);
  return out;
}

/** f32 values → BF16 bits (RNE), used to write BF16 checkpoints. */
export function f32ToBf16(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = f32BitsToBf16Bits(bits[i]);
  return out;
}

/** The float dtypes that convert to f32. */
export type FloatDtype = 'BF16' | 'F16' | 'F32' | 'F64';

export function isFloatDtype(dtype: string): dtype is FloatDtype {
  return dtype === 'BF16' || dtype === 'F16' || dtype === 'F32' || dtype === 'F64';
}

/** Little-endian tensor bytes of a float dtype → f32 values. */
export function toF32(dtype: string, bytes: Uint8Array): Float32Array {
  switch (dtype) {
    case 'BF16':
      return bf16ToF32(bytes);
    case 'F16':
      return f16ToF32(bytes);
    case 'F32':
      return f32ToF32(bytes);
    case 'F64':
      return f64ToF32(bytes);
    default:
      throw new DtypeError(`dtype ${dtype} cannot be converted to f32 (supported: BF16, F16, F32, F64)`);
  }
}

/** f32 values → little-endian bytes of BF16, F16 or F32. */
export function fromF32(dtype: 'BF16' | 'F16' | 'F32', values: Float32Array): Uint8Array {
  switch (dtype) {
    case 'BF16': {
      const b = f32ToBf16(values);
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    }
    case 'F16': {
      const b = f32ToF16(values);
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    }
    case 'F32': {
      const copy = new Float32Array(values);
      return new Uint8Array(copy.buffer);
    }
  }
}
