import { describe, expect, it } from 'vitest';
import { activationBackwardRef, activationForwardRef } from '../../../src/engine/kernels/activation/activation.ref';
import { expectGradClose, numericGradient, randomF64 } from './finiteDifferences';

describe('tanh and relu references', () => {
  for (const act of ['tanh', 'relu'] as const) {
    it(`${act} backward (from the saved output) matches central finite differences`, () => {
      // Keep relu inputs away from its kink at 0.
      const x = randomF64(50, act === 'tanh' ? 5 : 6, -3, 3).map((v) => (Math.abs(v) < 0.01 ? v + 0.1 : v));
      const dy = randomF64(50, 7);
      const y = activationForwardRef(act, x);
      const dx = activationBackwardRef(act, dy, y);
      const numeric = numericGradient((xx) => activationForwardRef(act, xx).reduce((s, v, i) => s + v * dy[i], 0), x);
      expectGradClose(dx, numeric, `${act} dx`);
    });
  }

  it('relu passes no gradient at 0 (as torch does) and tanh saturates to ±1', () => {
    expect(Array.from(activationBackwardRef('relu', [1, 1, 1], activationForwardRef('relu', [-1, 0, 2])))).toEqual([0, 0, 1]);
    expect(Array.from(activationForwardRef('tanh', [-1000, 0, 1000]))).toEqual([-1, 0, 1]);
  });
});
