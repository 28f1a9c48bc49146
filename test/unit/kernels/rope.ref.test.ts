import { describe, expect, it } from 'vitest';
import { ropeBackwardRef, ropeForwardRef } from '../../../src/engine/kernels/rope/rope.ref';
import { RopeConfigError, ropeInvFreq, ropeScalingFromHf } from '../../../src/formats/rope';
import { dot, expectGradClose, numericGradient, randomF64 } from './finiteDifferences';

describe('rope reference', () => {
  it('rope backward matches central finite differences (GQA k with 3 heads, odd N)', () => {
    const s = { N: 5, heads: 3, headSize: 8 };
    const invFreq = ropeInvFreq({ headSize: 8, theta: 10000 });
    const positions = [0, 1, 2, 0, 7];
    const x = randomF64(5 * 3 * 8, 1);
    const dy = randomF64(5 * 3 * 8, 2);
    const dx = ropeBackwardRef(dy, positions, invFreq, s);
    expectGradClose(dx, numericGradient((xx) => dot(ropeForwardRef(xx, positions, invFreq, s), dy), x), 'rope dx');
  });

  it('rope forward: position 0 is the identity, and backward undoes forward', () => {
    const s = { N: 2, heads: 2, headSize: 4 };
    const invFreq = ropeInvFreq({ headSize: 4, theta: 100 });
    const x = randomF64(16, 3);
    const y = ropeForwardRef(x, [0, 0], invFreq, s);
    for (let i = 0; i < 16; i++) expect(y[i]).toBe(x[i]);
    const z = ropeBackwardRef(ropeForwardRef(x, [5, 9], invFreq, s), [5, 9], invFreq, s);
    for (let i = 0; i < 16; i++) expect(z[i]).toBeCloseTo(x[i], 12);
  });

  it('rope forward rotates (x1, x2) by the angle pos·inv_freq, rotate_half layout', () => {
    // HS = 2: one pair (x[0], x[1]); inv_freq = [1]; position 1 → angle 1 rad.
    const y = ropeForwardRef([1, 0], [1], [1], { N: 1, heads: 1, headSize: 2 });
    expect(y[0]).toBeCloseTo(Math.cos(1), 7);
    expect(y[1]).toBeCloseTo(Math.sin(1), 7);
  });

  it('inv_freq default: theta^(−2i/HS)', () => {
    const inv = ropeInvFreq({ headSize: 4, theta: 10000 });
    expect(Array.from(inv)).toEqual([1, 0.01]);
  });

  it('inv_freq llama3: high frequencies kept, low divided by factor, medium blended (HF formula)', () => {
    const scaling = { type: 'llama3' as const, factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 };
    const base = ropeInvFreq({ headSize: 64, theta: 500000 });
    const scaled = ropeInvFreq({ headSize: 64, theta: 500000, scaling });
    let kept = 0;
    let divided = 0;
    let blended = 0;
    for (let i = 0; i < 32; i++) {
      const wavelen = (2 * Math.PI) / base[i];
      if (wavelen < 8192 / 4) {
        expect(scaled[i]).toBe(base[i]);
        kept++;
      } else if (wavelen > 8192) {
        expect(scaled[i]).toBeCloseTo(base[i] / 32, 15);
        divided++;
      } else {
        const smooth = (8192 / wavelen - 1) / 3;
        expect(scaled[i]).toBeCloseTo((1 - smooth) * (base[i] / 32) + smooth * base[i], 15);
        expect(scaled[i]).toBeLessThan(base[i]);
        expect(scaled[i]).toBeGreaterThan(base[i] / 32);
        blended++;
      }
    }
    expect(kept).toBeGreaterThan(0);
    expect(divided).toBeGreaterThan(0);
    expect(blended).toBeGreaterThan(0);
  });

  it('rope_scaling from config.json: null, llama3, and unsupported types', () => {
    expect(ropeScalingFromHf(null)).toEqual({ type: 'default' });
    expect(
      ropeScalingFromHf({ factor: 32.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 8192, rope_type: 'llama3' }),
    ).toEqual({ type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 });
    expect(() => ropeScalingFromHf({ rope_type: 'yarn', factor: 4 })).toThrow(RopeConfigError);
    expect(() => ropeScalingFromHf({ rope_type: 'llama3', factor: 8 })).toThrow(/low_freq_factor/);
    expect(() => ropeInvFreq({ headSize: 7, theta: 1e4 })).toThrow(/even/);
  });
});
