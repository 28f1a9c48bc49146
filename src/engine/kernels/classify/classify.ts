/**
 * Launcher of the sequence-classification losses (classify.ref.ts has the math): cross-entropy,
 * MSE and BCE-with-logits on logits [B, L], each writing per-row losses, dlogits scaled by a
 * caller-given gradScale, argmax predictions, and the step's lossSum / count / correct — so the
 * trainer accumulates over micro-batches and normalizes by a count, as the LM head does, and
 * accuracy never needs the logits read back.
 */
import type { Binding, Recorder } from '../../gpu/recorder';
import type { Kernel } from '../../gpu/pipelines';
import { Uniforms } from '../../gpu/uniforms';
import { GpuError } from '../../gpu/errors';
import { grid1d } from '../elementwise/grid';
import { wgslSections } from '../elementwise/sections';
import type { ClassificationTask } from './classify.ref';
import rowsSource from './classify_rows.wgsl?raw';
import reduceSource from './classify_reduce.wgsl?raw';
import metricsSource from './classify_metrics.wgsl?raw';
import { statsLength } from './metrics';

export { inferProblemType, meanLoss, type ClassificationTask } from './classify.ref';

const SECTION: Record<ClassificationTask, string> = {
  single_label_classification: 'CE',
  regression: 'MSE',
  multi_label_classification: 'BCE',
};

const rowsKernel = (task: ClassificationTask): Kernel => ({
  name: `classify_rows_${SECTION[task].toLowerCase()}`,
  source: wgslSections(rowsSource, [SECTION[task]], 'classify_rows.wgsl'),
});
const reduceKernel = (task: ClassificationTask): Kernel => ({
  name: `classify_reduce_${SECTION[task].toLowerCase()}`,
  source: wgslSections(reduceSource, [SECTION[task]], 'classify_reduce.wgsl'),
});
export const classifyRowsKernels = {
  single_label_classification: rowsKernel('single_label_classification'),
  regression: rowsKernel('regression'),
  multi_label_classification: rowsKernel('multi_label_classification'),
};
export const classifyReduceKernels = {
  single_label_classification: reduceKernel('single_label_classification'),
  regression: reduceKernel('regression'),
  multi_label_classification: reduceKernel('multi_label_classification'),
};

const METRICS_SECTION: Record<ClassificationTask, string> = {
  single_label_classification: 'CONFUSION',
  regression: 'MOMENTS',
  multi_label_classification: 'MULTI',
};
const metricsKernel = (task: ClassificationTask): Kernel => ({
  name: `classify_metrics_${METRICS_SECTION[task].toLowerCase()}`,
  source: wgslSections(metricsSource, [METRICS_SECTION[task]], 'classify_metrics.wgsl'),
});
export const classifyMetricsKernels = {
  single_label_classification: metricsKernel('single_label_classification'),
  regression: metricsKernel('regression'),
  multi_label_classification: metricsKernel('multi_label_classification'),
};

/** A shape or task the classification launcher cannot use; the message names it. */
export class ClassificationArgumentError extends GpuError {}

export interface ClassificationLossArgs {
  task: ClassificationTask;
  /** Sequences. */
  B: number;
  /** num_labels (1 for Transformers' squeezed regression). */
  L: number;
  /** [B, L] f32 */
  logits: Binding;
  /** single-label: i32 [B], −100 ignored; regression and multi-label: f32 targets [B, L]. */
  labels: Binding;
  /** dlogits = gradScale · d(lossSum)/dlogits; 1/count of the effective batch gives Transformers' mean. */
  gradScale: number;
  /** f32 [B]: each row's loss (multi-label and regression: summed over the row's L elements). */
  rowLoss: Binding;
  /** f32 [B, L]: written, a different buffer from logits. */
  dlogits: Binding;
  /** u32 [B]: argmax of each row of logits. */
  predictions: Binding;
  /** f32 [1]: Σ rowLoss. */
  lossSum: Binding;
  /** u32 [1]: what the mean divides by (labelled rows, or B·L elements). */
  count: Binding;
  /** u32 [1]: labelled rows predicted right (single-label), elements on the right side of 0 (multi-label), 0 (regression). */
  correct: Binding;
  /** Add to lossSum / count / correct instead of overwriting them. */
  accumulate?: boolean;
  label?: string;
}

/** Records the per-row pass and the reduction into lossSum, count and correct. */
export function classificationLoss(rec: Recorder, a: ClassificationLossArgs): void {
  const label = a.label ?? `classification loss (${a.task})`;
  for (const name of ['B', 'L'] as const) {
    if (!Number.isInteger(a[name]) || a[name] < 1) throw new ClassificationArgumentError(`${label}: ${name} must be a positive integer, got ${a[name]}`);
  }
  if (!(a.task in SECTION)) throw new ClassificationArgumentError(`${label}: unknown task "${a.task}"`);
  if (a.task === 'single_label_classification' && a.L < 2) {
    throw new ClassificationArgumentError(`${label}: single-label classification needs num_labels ≥ 2 (Transformers treats num_labels 1 as regression)`);
  }
  rec.dispatch({
    kernel: classifyRowsKernels[a.task],
    label,
    constants: { LABEL_TYPE: a.task === 'single_label_classification' ? 'i32' : 'f32' },
    uniforms: new Uniforms().u32(a.B).u32(a.L).f32(a.gradScale).u32(0),
    bindings: [a.logits, a.labels, a.rowLoss, a.dlogits, a.predictions],
    workgroups: grid1d(rec.gpu, a.B, 64, label),
  });
  const outputs = [a.lossSum, a.count, a.correct];
  const inputs = {
    single_label_classification: [a.rowLoss, a.labels, a.predictions],
    regression: [a.rowLoss],
    multi_label_classification: [a.rowLoss, a.labels, a.logits],
  }[a.task];
  rec.dispatch({
    kernel: classifyReduceKernels[a.task],
    label: `${label} sums`,
    uniforms: new Uniforms().u32(a.B).u32(a.L).u32(a.accumulate ? 1 : 0).u32(0),
    bindings: [...inputs, ...outputs],
    workgroups: [1],
  });
}

export interface ClassificationStatsArgs {
  task: ClassificationTask;
  B: number;
  L: number;
  /** [B, L] f32 (multi-label and regression read it). */
  logits: Binding;
  /** As classificationLoss's labels. */
  labels: Binding;
  /** u32 [B] from classificationLoss (single-label reads it). */
  predictions: Binding;
  /** statsLength(task, L) words: u32 counts (single- and multi-label) or f32 moments (regression); accumulated. */
  stats: GPUBuffer;
  /** Clear the statistics first (the first batch of an evaluation). */
  reset: boolean;
  label?: string;
}

/**
 * Adds a batch to an evaluation's statistics (classify_metrics.wgsl): the confusion matrix,
 * per-class counts or regression moments, from which metrics.ts computes the eval_* metrics after
 * one readback.
 */
export function classificationStats(rec: Recorder, a: ClassificationStatsArgs): void {
  const label = a.label ?? `classification metrics (${a.task})`;
  if (a.stats.size < statsLength(a.task, a.L) * 4) throw new ClassificationArgumentError(`${label}: the statistics buffer holds ${a.stats.size / 4} words, needs ${statsLength(a.task, a.L)}`);
  if (a.reset) rec.clear(a.stats);
  const inputs = a.task === 'single_label_classification' ? [a.labels, a.predictions] : [a.logits, a.labels];
  rec.dispatch({
    kernel: classifyMetricsKernels[a.task],
    label,
    uniforms: new Uniforms().u32(a.B).u32(a.L).u32(0).u32(0),
    bindings: [...inputs, a.stats],
    workgroups: [1],
  });
}
