import { describe, expect, it } from 'vitest';
import { classificationLossRef, inferProblemType, meanLoss, type ClassificationTask } from '../../../src/engine/kernels/classify/classify.ref';
import { expectGradClose, numericGradient, randomF64 } from './finiteDifferences';

describe('classification loss references', () => {
  const B = 5;
  const L = 3;
  const labelsFor: Record<ClassificationTask, number[]> = {
    single_label_classification: [0, 2, -100, 1, 2],
    regression: Array.from(randomF64(B * L, 9, -2, 2)),
    multi_label_classification: [1, 0, 1, 0, 0, 1, 1, 1, 0, 0.25, 0.75, 1, 0, 0, 0],
  };
  for (const task of Object.keys(labelsFor) as ClassificationTask[]) {
    it(`${task}: dlogits = gradScale · d(lossSum)/dlogits (central finite differences)`, () => {
      const logits = randomF64(B * L, 3, -4, 4);
      const labels = labelsFor[task];
      const r = classificationLossRef(task, logits, labels, { B, L }, 0.3);
      const numeric = numericGradient((z) => classificationLossRef(task, z, labels, { B, L }).lossSum, logits).map((g) => 0.3 * g);
      expectGradClose(r.dlogits, numeric, `${task} dlogits`);
    });
  }

  it('single-label: mean over labelled rows, −100 ignored, argmax and correct count', () => {
    const logits = [2, 1, 0, /**/ 0, 0, 5, /**/ 9, 9, 9, /**/ 1, 3, 2];
    const r = classificationLossRef('single_label_classification', logits, [0, 0, -100, 1], { B: 4, L: 3 });
    expect(r.count).toBe(3);
    expect(Array.from(r.predictions)).toEqual([0, 2, 0, 1]); // ties: the first maximum
    expect(r.correct).toBe(2);
    const lse = (a: number[]) => Math.log(a.reduce((s, v) => s + Math.exp(v), 0));
    const want = (lse([2, 1, 0]) - 2 + lse([0, 0, 5]) - 0 + lse([1, 3, 2]) - 3) / 3;
    expect(meanLoss(r)).toBeCloseTo(want, 14);
    expect(r.rowLoss[2]).toBe(0);
    expect(Array.from(r.dlogits.subarray(6, 9))).toEqual([0, 0, 0]);
  });

  it('multi-label: BCE-with-logits equals −(y·log σ + (1−y)·log(1−σ)), mean over all B·L elements', () => {
    const logits = [0.5, -1.5, 3, -0.25];
    const y = [1, 0, 0.5, 1];
    const r = classificationLossRef('multi_label_classification', logits, y, { B: 2, L: 2 });
    const sig = (x: number) => 1 / (1 + Math.exp(-x));
    const want = logits.reduce((s, x, i) => s - (y[i] * Math.log(sig(x)) + (1 - y[i]) * Math.log(1 - sig(x))), 0) / 4;
    expect(r.count).toBe(4);
    expect(meanLoss(r)).toBeCloseTo(want, 14);
    expect(r.correct).toBe(2); // 0.5 > 0 vs 1 ✓, −1.5 vs 0 ✓, 3 vs 0.5 (not > 0.5) ✗, −0.25 vs 1 ✗
    // Large logits stay finite (no exp overflow).
    expect(Number.isFinite(classificationLossRef('multi_label_classification', [800, -800], [0, 1], { B: 1, L: 2 }).lossSum)).toBe(true);
  });

  it('regression: MSE mean over B·L (num_labels 1 is the squeezed case)', () => {
    const r = classificationLossRef('regression', [1, 2, 4], [0, 2, 1], { B: 3, L: 1 });
    expect(meanLoss(r)).toBeCloseTo((1 + 0 + 9) / 3, 14);
    expect(r.correct).toBe(0);
  });

  it('infers problem_type as Transformers does', () => {
    expect(inferProblemType(1, true)).toBe('regression');
    expect(inferProblemType(3, true)).toBe('single_label_classification');
    expect(inferProblemType(3, false)).toBe('multi_label_classification');
  });
});
