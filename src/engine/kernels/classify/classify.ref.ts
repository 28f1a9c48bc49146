/**
 * Float64 reference of the sequence-classification losses of Transformers' *ForSequenceClassification
 * (problem_type), same argument names as classify.ts. logits [B, L], L = num_labels.
 *
 *   single_label_classification  labels i32 [B], −100 (anything outside [0, L)) ignored
 *       rowLoss[b] = lse(logits[b]) − logits[b, label[b]];  count = labelled rows
 *       dlogits[b] = gradScale · (softmax(logits[b]) − onehot(label[b]))   (0 for ignored rows)
 *   regression (MSELoss; L = 1 is Transformers' squeezed case)  targets f32 [B, L]
 *       rowLoss[b] = Σ_l (logits − target)²;  count = B·L;  dlogits = gradScale · 2 (logits − target)
 *   multi_label_classification (BCEWithLogitsLoss)  targets f32 [B, L] in [0, 1]
 *       rowLoss[b] = Σ_l max(x, 0) − x·y + log(1 + e^(−|x|));  count = B·L;  dlogits = gradScale · (σ(x) − y)
 *   lossSum = Σ_b rowLoss[b]; Transformers' loss (a mean) = lossSum / count, so gradScale = 1/count
 *   (of the whole effective batch with gradient accumulation) reproduces its gradient.
 *   predictions[b] = argmax_l logits[b, l] (first maximum, as torch.argmax)
 *   correct: single-label: labelled rows whose prediction is the label; multi-label: elements with
 *   (logit > 0) = (target > 0.5); regression: 0.
 */
export type ClassificationTask = 'single_label_classification' | 'regression' | 'multi_label_classification';

export interface ClassifyShape {
  /** Sequences (rows of logits). */
  B: number;
  /** num_labels. */
  L: number;
}

export interface ClassificationResult {
  rowLoss: Float64Array;
  lossSum: number;
  count: number;
  dlogits: Float64Array;
  predictions: Uint32Array;
  correct: number;
}

/** Transformers' choice of problem_type when config.problem_type is unset (num_labels and the label dtype). */
export function inferProblemType(numLabels: number, integerLabels: boolean): ClassificationTask {
  if (numLabels === 1) return 'regression';
  return integerLabels ? 'single_label_classification' : 'multi_label_classification';
}

/** log(1 + e^(−|x|)) without overflow. */
function softplusNegAbs(x: number): number {
  return Math.log1p(Math.exp(-Math.abs(x)));
}

function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

export function classificationLossRef(
  task: ClassificationTask,
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  s: ClassifyShape,
  gradScale = 1,
): ClassificationResult {
  const { B, L } = s;
  const rowLoss = new Float64Array(B);
  const dlogits = new Float64Array(B * L);
  const predictions = new Uint32Array(B);
  let count = 0;
  let correct = 0;
  for (let b = 0; b < B; b++) {
    const base = b * L;
    let arg = 0;
    for (let l = 1; l < L; l++) if (logits[base + l] > logits[base + arg]) arg = l;
    predictions[b] = arg;
    if (task === 'single_label_classification') {
      const label = labels[b];
      if (!(Number.isInteger(label) && label >= 0 && label < L)) continue;
      let max = -Infinity;
      for (let l = 0; l < L; l++) max = Math.max(max, logits[base + l]);
      let sum = 0;
      for (let l = 0; l < L; l++) sum += Math.exp(logits[base + l] - max);
      const lse = max + Math.log(sum);
      rowLoss[b] = lse - logits[base + label];
      for (let l = 0; l < L; l++) dlogits[base + l] = gradScale * (Math.exp(logits[base + l] - lse) - (l === label ? 1 : 0));
      count++;
      if (arg === label) correct++;
    } else {
      for (let l = 0; l < L; l++) {
        const x = logits[base + l];
        const y = labels[base + l];
        if (task === 'regression') {
          rowLoss[b] += (x - y) ** 2;
          dlogits[base + l] = gradScale * 2 * (x - y);
        } else {
          rowLoss[b] += Math.max(x, 0) - x * y + softplusNegAbs(x);
          dlogits[base + l] = gradScale * (sigmoid(x) - y);
          if (x > 0 === y > 0.5) correct++;
        }
      }
      count += L;
    }
  }
  return { rowLoss, lossSum: rowLoss.reduce((a, v) => a + v, 0), count, dlogits, predictions, correct };
}

/** Transformers' loss (the mean): lossSum / count, 0 when nothing counts. */
export function meanLoss(r: Pick<ClassificationResult, 'lossSum' | 'count'>): number {
  return r.count > 0 ? r.lossSum / r.count : 0;
}

/**
 * What classify_metrics.wgsl accumulates over an evaluation, in float64 (same layout):
 *   single-label  counts [L, L]: counts[label·L + argmax] over labelled rows
 *   multi-label   counts [3L + 2]: tp[l], fp[l], fn[l] at (logit > 0) vs (target > 0.5), exact-match rows, rows
 *   regression    stats [8]: n, mean x, mean y, M2x, M2y, Cxy, Σ(x − y)², Σ|x − y| over the B·L pairs (x logit, y target)
 */
export function classificationStatsRef(task: ClassificationTask, logits: ArrayLike<number>, labels: ArrayLike<number>, s: ClassifyShape): Float64Array {
  const { B, L } = s;
  if (task === 'single_label_classification') {
    const counts = new Float64Array(L * L);
    const { predictions } = classificationLossRef(task, logits, labels, s);
    for (let b = 0; b < B; b++) {
      const label = labels[b];
      if (Number.isInteger(label) && label >= 0 && label < L) counts[label * L + predictions[b]]++;
    }
    return counts;
  }
  if (task === 'multi_label_classification') {
    const counts = new Float64Array(3 * L + 2);
    for (let b = 0; b < B; b++) {
      let exact = true;
      for (let l = 0; l < L; l++) {
        const predicted = logits[b * L + l] > 0;
        const truth = labels[b * L + l] > 0.5;
        if (predicted && truth) counts[l]++;
        if (predicted && !truth) counts[L + l]++;
        if (!predicted && truth) counts[2 * L + l]++;
        exact &&= predicted === truth;
      }
      if (exact) counts[3 * L]++;
      counts[3 * L + 1]++;
    }
    return counts;
  }
  const n = B * L;
  const stats = new Float64Array(8);
  if (n === 0) return stats;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += logits[i];
    my += labels[i];
  }
  mx /= n;
  my /= n;
  stats[0] = n;
  stats[1] = mx;
  stats[2] = my;
  for (let i = 0; i < n; i++) {
    const dx = logits[i] - mx;
    const dy = labels[i] - my;
    stats[3] += dx * dx;
    stats[4] += dy * dy;
    stats[5] += dx * dy;
    stats[6] += (logits[i] - labels[i]) ** 2;
    stats[7] += Math.abs(logits[i] - labels[i]);
  }
  return stats;
}
