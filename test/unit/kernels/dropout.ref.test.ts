import { describe, expect, it } from 'vitest';
import { dropoutBackwardRef, dropoutForwardRef } from '../../../src/engine/kernels/dropout/dropout.ref';
import { loraDropoutScale } from '../../../src/engine/kernels/lora/lora.ref';
import { expectGradClose, numericGradient, randomF64 } from './finiteDifferences';

describe('hidden dropout reference', () => {
  const s = { N: 9, C: 13, p: 0.3, key: { seed: 7, site: 1001, step: 4 } };

  it('dropout backward (same mask) matches central finite differences', () => {
    const x = randomF64(s.N * s.C, 1);
    const dy = randomF64(s.N * s.C, 2);
    const numeric = numericGradient((xx) => dropoutForwardRef(xx, s).reduce((a, v, i) => a + v * dy[i], 0), x);
    expectGradClose(dropoutBackwardRef(dy, s), numeric, 'dropout dx');
  });

  it('draws the LoRA dropout mask for the same key, keeps about 1 − p, and scales kept values by 1/(1 − p)', () => {
    const ones = new Float64Array(s.N * s.C).fill(1);
    const out = dropoutForwardRef(ones, s);
    const lora = loraDropoutScale({ N: s.N, IN: s.C, OUT: 1, dropout: s.p, dropoutKey: s.key });
    expect(Array.from(out)).toEqual(Array.from(lora));
    const kept = out.filter((v) => v !== 0);
    for (const v of kept) expect(v).toBeCloseTo(1 / 0.7, 14);
    expect(kept.length / out.length).toBeGreaterThan(0.55);
    expect(kept.length / out.length).toBeLessThan(0.85);
    // A different step draws a different mask.
    expect(Array.from(dropoutForwardRef(ones, { ...s, key: { ...s.key, step: 5 } }))).not.toEqual(Array.from(out));
  });

  it('adds the residual after dropping', () => {
    const x = randomF64(s.N * s.C, 3);
    const r = randomF64(s.N * s.C, 4);
    const plain = dropoutForwardRef(x, s);
    const withResidual = dropoutForwardRef(x, s, r);
    for (let i = 0; i < x.length; i++) expect(withResidual[i]).toBeCloseTo(plain[i] + r[i], 14);
  });
});
