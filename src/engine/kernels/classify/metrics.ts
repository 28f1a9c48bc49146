/**
 * Evaluation metrics of a classifier from the statistics classify_metrics.wgsl accumulates (its
 * confusion matrix, per-class counts or moments), named as Hugging Face's Trainer logs what a
 * recipe's compute_metrics returns (`eval_` + the metric's name):
 *
 *   single-label  eval_accuracy; eval_f1 (macro over classes, sklearn's f1_score(average="macro"));
 *                 per class precision, recall, f1 and support; the confusion matrix
 *   multi-label   eval_f1 (micro, at threshold 0.5 on σ(logit), i.e. logit > 0), eval_f1_macro,
 *                 eval_accuracy (exact match: every label of the row right, sklearn's subset accuracy)
 *   regression    eval_mse, eval_mae, eval_pearson
 *
 * A class with no prediction has precision 0 (sklearn's zero_division=0), and likewise recall.
 */
import type { ClassificationTask } from './classify.ref';

export interface ClassMetrics {
  label: string;
  precision: number;
  recall: number;
  f1: number;
  /** True examples of the class. */
  support: number;
}

export interface ClassificationMetrics {
  /** eval_* numbers (without eval_loss, which the loss kernel gives). */
  metrics: Record<string, number>;
  perClass?: ClassMetrics[];
  confusion?: { labels: string[]; counts: number[][] };
}

const ratio = (a: number, b: number) => (b > 0 ? a / b : 0);
const f1Of = (p: number, r: number) => (p + r > 0 ? (2 * p * r) / (p + r) : 0);

/** Metrics from a confusion matrix counts[true][predicted] (single-label). */
export function confusionMetrics(counts: ArrayLike<number>, labels: string[]): ClassificationMetrics {
  const L = labels.length;
  const rows = Array.from({ length: L }, (_, t) => Array.from({ length: L }, (_, p) => counts[t * L + p]));
  let total = 0;
  let right = 0;
  const perClass: ClassMetrics[] = labels.map((label, c) => {
    let tp = 0;
    let predicted = 0;
    let support = 0;
    for (let k = 0; k < L; k++) {
      predicted += rows[k][c];
      support += rows[c][k];
    }
    tp = rows[c][c];
    total += support;
    right += tp;
    const precision = ratio(tp, predicted);
    const recall = ratio(tp, support);
    return { label, precision, recall, f1: f1Of(precision, recall), support };
  });
  const macroF1 = L ? perClass.reduce((s, c) => s + c.f1, 0) / L : 0;
  return {
    metrics: { eval_accuracy: ratio(right, total), eval_f1: macroF1 },
    perClass,
    confusion: { labels: [...labels], counts: rows },
  };
}

/** Metrics from per-class tp, fp, fn and the exact-match and row counts (multi-label). */
export function multiLabelMetrics(counts: ArrayLike<number>, labels: string[]): ClassificationMetrics {
  const L = labels.length;
  let tp = 0;
  let fp = 0;
  let fn = 0;
  const perClass: ClassMetrics[] = labels.map((label, c) => {
    const t = counts[c];
    const f = counts[L + c];
    const n = counts[2 * L + c];
    tp += t;
    fp += f;
    fn += n;
    const precision = ratio(t, t + f);
    const recall = ratio(t, t + n);
    return { label, precision, recall, f1: f1Of(precision, recall), support: t + n };
  });
  const microP = ratio(tp, tp + fp);
  const microR = ratio(tp, tp + fn);
  return {
    metrics: {
      eval_f1: f1Of(microP, microR),
      eval_f1_macro: L ? perClass.reduce((s, c) => s + c.f1, 0) / L : 0,
      eval_precision: microP,
      eval_recall: microR,
      eval_accuracy: ratio(counts[3 * L], counts[3 * L + 1]),
    },
    perClass,
  };
}

/** Metrics from the moments n, mean x, mean y, M2x, M2y, Cxy, Σ(x − y)², Σ|x − y| (regression). */
export function regressionMetrics(stats: ArrayLike<number>): ClassificationMetrics {
  const n = stats[0];
  const denom = Math.sqrt(stats[3] * stats[4]);
  return {
    metrics: {
      eval_mse: ratio(stats[6], n),
      eval_mae: ratio(stats[7], n),
      eval_pearson: denom > 0 ? stats[5] / denom : NaN,
    },
  };
}

/** The metrics of a task from its statistics (layout of classify_metrics.wgsl). */
export function metricsFromStats(task: ClassificationTask, stats: ArrayLike<number>, labels: string[]): ClassificationMetrics {
  if (task === 'single_label_classification') return confusionMetrics(stats, labels);
  if (task === 'multi_label_classification') return multiLabelMetrics(stats, labels);
  return regressionMetrics(stats);
}

/** Length of the statistics buffer of a task with L labels (u32 counts or f32 moments). */
export function statsLength(task: ClassificationTask, L: number): number {
  if (task === 'single_label_classification') return L * L;
  if (task === 'multi_label_classification') return 3 * L + 2;
  return 8;
}
