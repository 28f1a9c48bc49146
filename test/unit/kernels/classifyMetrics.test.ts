import { describe, expect, it } from 'vitest';
import { classificationStatsRef } from '../../../src/engine/kernels/classify/classify.ref';
import { confusionMetrics, metricsFromStats, multiLabelMetrics, regressionMetrics } from '../../../src/engine/kernels/classify/metrics';

describe('classification metrics as compute_metrics computes them (worked examples, sklearn conventions)', () => {
  it('single-label: accuracy, macro-F1, per-class precision/recall, the confusion matrix', () => {
    // true:  0 0 0 1 1 2   predicted: 0 0 1 1 2 2
    const logits = [[5, 0, 0], [5, 0, 0], [0, 5, 0], [0, 5, 0], [0, 0, 5], [0, 0, 5]].flat();
    const stats = classificationStatsRef('single_label_classification', logits, [0, 0, 0, 1, 1, 2, -100].slice(0, 6), { B: 6, L: 3 });
    const m = confusionMetrics(stats, ['a', 'b', 'c']);
    expect(m.confusion!.counts).toEqual([[2, 1, 0], [0, 1, 1], [0, 0, 1]]);
    expect(m.metrics.eval_accuracy).toBeCloseTo(4 / 6, 12);
    // a: p 1, r 2/3, f1 0.8;  b: p 1/2, r 1/2, f1 1/2;  c: p 1/2, r 1, f1 2/3
    expect(m.perClass!.map((c) => [c.precision, c.recall, c.support])).toEqual([[1, 2 / 3, 3], [0.5, 0.5, 2], [0.5, 1, 1]]);
    expect(m.metrics.eval_f1).toBeCloseTo((0.8 + 0.5 + 2 / 3) / 3, 12);
  });

  it('single-label: a class never predicted has precision 0 (zero_division=0), and ignored rows do not count', () => {
    const stats = classificationStatsRef('single_label_classification', [1, 0, 1, 0, 1, 0], [0, 1, -100], { B: 3, L: 2 });
    const m = confusionMetrics(stats, ['x', 'y']);
    expect(m.metrics.eval_accuracy).toBe(0.5);
    expect(m.perClass![1]).toMatchObject({ precision: 0, recall: 0, f1: 0, support: 1 });
  });

  it('multi-label: micro-F1 at logit > 0, macro-F1, exact match', () => {
    // rows: pred [1,0], [1,1]; truth [1,0], [0,1] → tp: a 1, b 1; fp: a 1; fn: 0; exact 1 of 2
    const stats = classificationStatsRef('multi_label_classification', [2, -1, 3, 4], [1, 0, 0, 1], { B: 2, L: 2 });
    const m = multiLabelMetrics(stats, ['a', 'b']).metrics;
    expect(m.eval_accuracy).toBe(0.5);
    expect(m.eval_f1).toBeCloseTo((2 * (2 / 3) * 1) / (2 / 3 + 1), 12);
    expect(m.eval_f1_macro).toBeCloseTo((2 / 3 + 1) / 2, 12);
  });

  it('regression: MSE, MAE and Pearson r', () => {
    const x = [1, 2, 3, 4];
    const y = [1.5, 1.5, 3.5, 3.5];
    const m = regressionMetrics(classificationStatsRef('regression', x, y, { B: 4, L: 1 })).metrics;
    expect(m.eval_mse).toBeCloseTo(0.25, 12);
    expect(m.eval_mae).toBeCloseTo(0.5, 12);
    expect(m.eval_pearson).toBeCloseTo(4 / Math.sqrt(5 * 4), 12);
    expect(metricsFromStats('regression', classificationStatsRef('regression', x, y, { B: 4, L: 1 }), []).metrics.eval_mse).toBeCloseTo(0.25, 12);
  });
});
