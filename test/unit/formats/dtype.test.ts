import { describe, expect, it } from 'vitest';
import {
  bf16ToF32,
  f16BitsToF32Bits,
  f16ToF32,
  f32Bits,
  f32BitsToBf16Bits,
  f32BitsToF16Bits,
  f32FromBits,
  f32ToBf16,
  f32ToF16,
  f64ToF32,
  fromF32,
  toF32,
} from '../../../src/formats/dtype';
import { rng } from '../../helpers/random';

/** Independent float64 model of an IEEE binary format with `mant` fraction bits and minimum exponent `emin`. */
function roundToFormat(x: number, mant: number, emin: number, max: number): number {
  if (Number.isNaN(x) || x === 0 || !Number.isFinite(x)) return x;
  const a = Math.abs(x);
  const e = Math.max(Math.floor(Math.log2(a)), emin);
  // log2 can be off by one near powers of two; fix it.
  let exp = e;
  if (2 ** exp > a && exp > emin) exp--;
  if (2 ** (exp + 1) <= a) exp++;
  const ulp = 2 ** (Math.max(exp, emin) - mant);
  const q = a / ulp;
  const fl = Math.floor(q);
  const rounded = q - fl > 0.5 || (q - fl === 0.5 && fl % 2 === 1) ? fl + 1 : fl;
  const v = rounded * ulp;
  // Values at or beyond max + ulp/2 of the top binade round to infinity (RNE at the top).
  const out = v > max ? Infinity : v;
  return x < 0 ? -out : out;
}

const F16_MAX = 65504;

/** Collects mismatches so a loop over 10^5 cases makes one assertion (fast) that still names the first failures. */
function mismatches() {
  const list: string[] = [];
  return {
    check(ok: boolean, what: () => string) {
      if (!ok && list.length < 10) list.push(what());
    },
    done() {
      expect(list).toEqual([]);
    },
  };
}
const half = (bits: number) => f32FromBits(f16BitsToF32Bits(bits));

function f16Value(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 31;
  const m = h & 1023;
  if (e === 31) return m ? NaN : s * Infinity;
  if (e === 0) return s * m * 2 ** -24;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

describe('f16 → f32', () => {
  it('decodes all 65536 f16 values exactly (signed zeros, subnormals, inf, NaN)', () => {
    const m = mismatches();
    for (let h = 0; h < 65536; h++) {
      const got = half(h);
      const want = f16Value(h);
      if (Number.isNaN(want)) {
        // payload kept: the fraction bits land in the top of the f32 fraction
        m.check(Number.isNaN(got) && ((f16BitsToF32Bits(h) >>> 13) & 0x3ff) === (h & 0x3ff), () => `f16 0x${h.toString(16)} NaN`);
      } else m.check(Object.is(got, want), () => `f16 0x${h.toString(16)}: ${got} vs ${want}`);
    }
    m.done();
  });

  it('converts unaligned little-endian byte buffers', () => {
    const bytes = new Uint8Array([0xff, 0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00]); // at offset 1: 1.0, -2.0, 2^-24
    const out = f16ToF32(bytes.subarray(1, 7));
    expect(Array.from(out)).toEqual([1, -2, 2 ** -24]);
  });
});

describe('f32 → f16 (round to nearest even)', () => {
  it('round-trips every non-NaN f16 value', () => {
    const m = mismatches();
    for (let h = 0; h < 65536; h++) {
      if (Number.isNaN(f16Value(h))) continue;
      m.check(f32BitsToF16Bits(f16BitsToF32Bits(h)) === h, () => `0x${h.toString(16)}`);
    }
    m.done();
  });

  it('rounds every midpoint between adjacent f16 values to the even one, and ±1 f32 ulp away correctly', () => {
    const m = mismatches();
    for (let h = 0; h < 0x7bff; h++) {
      const lo = f16Value(h);
      const hi = f16Value(h + 1);
      const mid = (lo + hi) / 2; // exact in f32: f16 has 11 significant bits
      const midBits = f32Bits(mid);
      const even = h % 2 === 0 ? h : h + 1;
      m.check(f32BitsToF16Bits(midBits) === even, () => `midpoint above 0x${h.toString(16)}`);
      m.check(f32BitsToF16Bits(midBits - 1) === h, () => `below midpoint above 0x${h.toString(16)}`);
      m.check(f32BitsToF16Bits(midBits + 1) === h + 1, () => `above midpoint above 0x${h.toString(16)}`);
    }
    m.done();
  });

  it('overflows to infinity at 65520 and keeps 65519 finite', () => {
    expect(f32BitsToF16Bits(f32Bits(65519))).toBe(0x7bff);
    expect(f32BitsToF16Bits(f32Bits(65520))).toBe(0x7c00);
    expect(f32BitsToF16Bits(f32Bits(-1e10))).toBe(0xfc00);
    expect(f32BitsToF16Bits(f32Bits(Infinity))).toBe(0x7c00);
  });

  it('handles tiny values: ties at 2^-25 go to zero, just above go to the smallest subnormal', () => {
    expect(f32BitsToF16Bits(f32Bits(2 ** -25))).toBe(0);
    expect(f32BitsToF16Bits(f32Bits(2 ** -25) + 1)).toBe(1);
    expect(f32BitsToF16Bits(f32Bits(3 * 2 ** -25))).toBe(2);
    expect(f32BitsToF16Bits(f32Bits(-(2 ** -30)))).toBe(0x8000);
    expect(f32BitsToF16Bits(f32Bits(2 ** -14 - 2 ** -26))).toBe(0x0400); // rounds up into the smallest normal
  });

  it('keeps NaN a NaN', () => {
    const out = f32ToF16(new Float32Array([NaN, -NaN]));
    for (const b of out) expect(Number.isNaN(half(b))).toBe(true);
  });

  it('matches an independent float64 model on 200k random f32 bit patterns', () => {
    const r = rng(7);
    const m = mismatches();
    for (let i = 0; i < 200_000; i++) {
      const bits = (r() * 2 ** 32) >>> 0;
      const x = f32FromBits(bits);
      if (Number.isNaN(x)) continue;
      const got = half(f32BitsToF16Bits(bits));
      const want = roundToFormat(x, 10, -14, F16_MAX);
      m.check(Object.is(got, want), () => `x=${x} (0x${bits.toString(16)}): ${got} vs ${want}`);
    }
    m.done();
  });
});

describe('bf16', () => {
  it('decodes bf16 bits as the top half of f32', () => {
    const bytes = new Uint8Array(new Uint16Array([0x3f80, 0xc000, 0x7f80, 0xff80, 0x0001, 0x7fc0]).buffer);
    const out = bf16ToF32(bytes);
    expect(Array.from(out.subarray(0, 5))).toEqual([1, -2, Infinity, -Infinity, f32FromBits(0x00010000)]);
    expect(Number.isNaN(out[5])).toBe(true);
  });

  it('f32 → bf16 matches an independent float64 model on 200k random bit patterns, and keeps NaN', () => {
    const r = rng(11);
    const BF16_MAX = f32FromBits(0x7f7f0000);
    const m = mismatches();
    for (let i = 0; i < 200_000; i++) {
      const bits = (r() * 2 ** 32) >>> 0;
      const x = f32FromBits(bits);
      const got = f32FromBits(f32BitsToBf16Bits(bits) << 16);
      if (Number.isNaN(x)) {
        m.check(Number.isNaN(got), () => `NaN 0x${bits.toString(16)}`);
        continue;
      }
      const want = roundToFormat(x, 7, -126, BF16_MAX);
      m.check(Object.is(got, want), () => `x=${x} (0x${bits.toString(16)}): ${got} vs ${want}`);
    }
    m.done();
  });

  it('rounds ties to even', () => {
    expect(f32BitsToBf16Bits(0x3f808000)).toBe(0x3f80); // tie, even stays
    expect(f32BitsToBf16Bits(0x3f818000)).toBe(0x3f82); // tie, odd goes up
    expect(f32BitsToBf16Bits(0x3f808001)).toBe(0x3f81);
    expect(f32BitsToBf16Bits(0x7f7fffff)).toBe(0x7f80); // largest f32 rounds to inf
  });

  it('round-trips through bytes', () => {
    const v = new Float32Array([1, -0.5, 3.140625, 0, -0]);
    const back = toF32('BF16', fromF32('BF16', v));
    expect(Array.from(back)).toEqual(Array.from(v));
    expect(Object.is(back[4], -0)).toBe(true);
    expect(f32ToBf16(new Float32Array([NaN]))[0] & 0x7fc0).toBe(0x7fc0);
  });
});

describe('F32 and F64', () => {
  it('F32 bytes come back as a copy; F64 rounds to nearest f32', () => {
    const src = new Float32Array([1.5, -2, NaN]);
    const out = toF32('F32', new Uint8Array(src.buffer));
    expect(out.buffer).not.toBe(src.buffer);
    expect(out[0]).toBe(1.5);
    const d = new Float64Array([0.1, 1 + 2 ** -24, 1 + 2 ** -24 + 2 ** -40, 1e300, -1e-300]);
    const f = f64ToF32(new Uint8Array(d.buffer));
    expect(Array.from(f)).toEqual([Math.fround(0.1), 1, 1 + 2 ** -23, Infinity, -0]);
  });

  it('refuses integer dtypes with a message naming them', () => {
    expect(() => toF32('I64', new Uint8Array(8))).toThrow(/I64 cannot be converted/);
  });
});
