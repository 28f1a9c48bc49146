/**
 * Validation splits and train/validation overlap. A held-out fraction is chosen by hashing each row's number with
 * the seed: deterministic, independent of the shuffle, stable when the file grows. Classification data is split per
 * class (each class held out in proportion: the rows of a class with the smallest hashes), so a rare class is not
 * left out of validation by chance. An example whose tokens equal a training example's is reported as a
 * duplicate: validation loss on it measures memory, not generalization.
 */
import { hash32 } from './random';
import type { DuplicateReport } from './report';

/** Whether a row goes to validation under a plain (unstratified) split. */
export function heldOut(row: number, fraction: number, seed: number): boolean {
  return fraction > 0 && hash32(seed ^ 0x5bd1e995, row) < fraction * 2 ** 32;
}

/**
 * Per-class holdout: for each class with n ≥ 2 examples, round(fraction · n) of them (at least 1, at most n − 1),
 * those whose rows hash lowest. Returns a flag per example (1 = validation).
 */
export function stratifiedHoldout(classOf: ArrayLike<number>, rowOf: (i: number) => number, fraction: number, seed: number): Uint8Array {
  const n = classOf.length;
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const c = classOf[i];
    let list = byClass.get(c);
    if (!list) byClass.set(c, (list = []));
    list.push(i);
  }
  const out = new Uint8Array(n);
  for (const list of byClass.values()) {
    if (list.length < 2) continue;
    const k = Math.min(list.length - 1, Math.max(1, Math.round(fraction * list.length)));
    const h = list.map((i) => hash32(seed ^ 0x5bd1e995, rowOf(i)));
    const order = list.map((_, j) => j).sort((a, b) => h[a] - h[b] || list[a] - list[b]);
    for (let j = 0; j < k; j++) out[list[order[j]]] = 1;
  }
  return out;
}

/** Examples with their token ids and source rows. */
export interface IdsSource {
  readonly length: number;
  idsView(i: number): ArrayLike<number>;
  rowOf(i: number): number;
  lineOf(i: number): number | undefined;
}

/** A 53-bit hash of a token sequence (two FNV-1a lanes). */
export function hashIds(ids: ArrayLike<number>): number {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ ids.length;
  for (let i = 0; i < ids.length; i++) {
    a = Math.imul(a ^ ids[i], 0x01000193);
    b = Math.imul(b ^ (ids[i] + 0x9e3779b9), 0x85ebca6b);
  }
  return (a >>> 0) * 2 ** 21 + ((b >>> 0) >>> 11);
}

function equal(x: ArrayLike<number>, y: ArrayLike<number>): boolean {
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** Validation examples that repeat a training example (exactly, token for token), and repeats within training. */
export function findDuplicates(train: IdsSource, validation: IdsSource | undefined, files: { train: string; validation: string }): DuplicateReport {
  const n = train.length;
  const hashes = new Float64Array(n);
  for (let i = 0; i < n; i++) hashes[i] = hashIds(train.idsView(i));
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((p, q) => hashes[p] - hashes[q] || p - q);
  let withinTrain = 0;
  for (let k = 1; k < n; k++) {
    // An example counts once if any earlier one (in hash order, same hash) equals it.
    for (let j = k - 1; j >= 0 && hashes[order[j]] === hashes[order[k]]; j--) {
      if (equal(train.idsView(order[j]), train.idsView(order[k]))) {
        withinTrain++;
        break;
      }
    }
  }
  const report: DuplicateReport = { count: 0, withinTrain, examples: [] };
  if (!validation) return report;
  for (let v = 0; v < validation.length; v++) {
    const ids = validation.idsView(v);
    const h = hashIds(ids);
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (hashes[order[mid]] < h) lo = mid + 1;
      else hi = mid;
    }
    for (let k = lo; k < n && hashes[order[k]] === h; k++) {
      const t = order[k];
      if (!equal(train.idsView(t), ids)) continue;
      report.count++;
      if (report.examples.length < 5) {
        report.examples.push({
          train: { file: files.train, row: train.rowOf(t), line: train.lineOf(t) },
          validation: { file: files.validation, row: validation.rowOf(v), line: validation.lineOf(v) },
        });
      }
      break;
    }
  }
  return report;
}
