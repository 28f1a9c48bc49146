/**
 * ggml's tensor encodings that the GGUF exports write: F32, F16 and Q8_0 (and their decoders, for
 * the reader and the tests).
 *
 * Q8_0 as gguf-py's quants.py computes it, in f32 arithmetic: per block of 32 values
 * d = max|x| / 127, id = d ? 1/d : 0, q = roundHalfAwayFromZero(x·id) as int8; stored as the f16
 * of d (2 bytes) then the 32 int8 values (34 bytes a block). Note that q uses the f32 d, not the
 * f16-rounded one, exactly as the reference does.
 */
import { f16BitsToF32Bits, f32BitsToF16Bits, f32FromBits, f32ToF16 } from '../../dtype';
import { GgmlType, GgufError } from './format';

const fr = Math.fround;

/** numpy-style round half away from zero (gguf-py's np_roundf). */
function roundHalfAway(x: number): number {
  const a = Math.abs(x);
  const f = Math.floor(a);
  const r = f + Math.floor(2 * (a - f));
  return x < 0 ? -r : r;
}

export function encodeF32(values: Float32Array): Uint8Array {
  const copy = new Float32Array(values);
  return new Uint8Array(copy.buffer);
}

export function encodeF16(values: Float32Array): Uint8Array {
  const h = f32ToF16(values);
  return new Uint8Array(h.buffer, h.byteOffset, h.byteLength);
}

export function encodeQ8_0(values: Float32Array): Uint8Array {
  if (values.length % 32 !== 0) throw new GgufError(`Q8_0 needs a multiple of 32 values, got ${values.length}`);
  const blocks = values.length / 32;
  const out = new Uint8Array(blocks * 34);
  const dv = new DataView(out.buffer);
  const bits = new Float32Array(1);
  const bitsU = new Uint32Array(bits.buffer);
  for (let b = 0; b < blocks; b++) {
    let amax = 0;
    for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(values[b * 32 + i]));
    const d = fr(amax / 127);
    const id = d === 0 ? 0 : fr(1 / d);
    bits[0] = d;
    dv.setUint16(b * 34, f32BitsToF16Bits(bitsU[0]), true);
    for (let i = 0; i < 32; i++) dv.setInt8(b * 34 + 2 + i, roundHalfAway(fr(values[b * 32 + i] * id)));
  }
  return out;
}

export function decodeQ8_0(bytes: Uint8Array): Float32Array {
  const blocks = bytes.byteLength / 34;
  const out = new Float32Array(blocks * 32);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let b = 0; b < blocks; b++) {
    const d = f32FromBits(f16BitsToF32Bits(dv.getUint16(b * 34, true)));
    for (let i = 0; i < 32; i++) out[b * 32 + i] = fr(d * dv.getInt8(b * 34 + 2 + i));
  }
  return out;
}

/** Encodes f32 values in a ggml type. */
export function encodeGgml(type: GgmlType, values: Float32Array): Uint8Array {
  switch (type) {
    case GgmlType.F32: return encodeF32(values);
    case GgmlType.F16: return encodeF16(values);
    case GgmlType.Q8_0: return encodeQ8_0(values);
    default: throw new GgufError(`encoding ${GgmlType[type]} is not implemented (F32, F16, Q8_0)`);
  }
}

/** Decodes a tensor's bytes back to f32 (what llama.cpp computes with). */
export function decodeGgml(type: GgmlType, bytes: Uint8Array): Float32Array {
  switch (type) {
    case GgmlType.F32: return new Float32Array(bytes.slice().buffer);
    case GgmlType.F16: {
      const h = new Uint16Array(bytes.slice().buffer);
      const out = new Uint32Array(h.length);
      for (let i = 0; i < h.length; i++) out[i] = f16BitsToF32Bits(h[i]);
      return new Float32Array(out.buffer);
    }
    case GgmlType.Q8_0: return decodeQ8_0(bytes);
    default: throw new GgufError(`decoding ${GgmlType[type]} is not implemented (F32, F16, Q8_0)`);
  }
}
