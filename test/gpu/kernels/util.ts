import type { Gpu } from '../../../src/engine/gpu/device';
import { readF32 } from '../../../src/engine/gpu/buffers';
import { compare, type Comparison, type Tolerance } from '../../helpers/compare';
import { recordKernelError } from '../../helpers/kernelErrors';
import { expect } from 'vitest';

/** f32 → IEEE half bits, round to nearest even (test inputs are on a grid, so exact). */
export function toF16Bits(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < values.length; i++) {
    f[0] = values[i];
    const x = u[0];
    const sign = (x >>> 16) & 0x8000;
    const exp = ((x >>> 23) & 0xff) - 127 + 15;
    let mant = x & 0x7fffff;
    if (((x >>> 23) & 0xff) === 0xff) {
      out[i] = sign | 0x7c00 | (mant ? 0x200 : 0);
    } else if (exp >= 31) {
      out[i] = sign | 0x7c00;
    } else if (exp <= 0) {
      if (exp < -10) {
        out[i] = sign;
      } else {
        mant |= 0x800000;
        const shift = 14 - exp;
        let half = mant >>> shift;
        const rest = mant & ((1 << shift) - 1);
        const mid = 1 << (shift - 1);
        if (rest > mid || (rest === mid && half & 1)) half++;
        out[i] = sign | half;
      }
    } else {
      let half = (exp << 10) | (mant >>> 13);
      const rest = mant & 0x1fff;
      if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
      out[i] = sign | half;
    }
  }
  return out;
}

/**
 * Reads `count` f32 from `buffer`, compares with the float64 reference, records the error for
 * docs/kernels.md and asserts the tolerance.
 */
export async function checkAgainstReference(
  gpu: Gpu,
  buffer: GPUBuffer,
  expected: ArrayLike<number>,
  tol: Tolerance,
  op: string,
  pass: 'forward' | 'backward' | 'step',
  shape: string,
): Promise<Comparison> {
  const actual = await readF32(gpu, buffer, expected.length);
  const result = compare(actual, expected, tol);
  recordKernelError(op, pass, shape, result, gpu.adapter.name);
  expect(result.mismatches, `${op} ${pass} ${shape}: ${result.report}`).toBe(0);
  return result;
}

/** The weight precisions to test on this adapter: f32 always, f16 where the device has shader-f16. */
export function weightPrecisions(gpu: Gpu): boolean[] {
  return gpu.features.f16 ? [false, true] : [false];
}
