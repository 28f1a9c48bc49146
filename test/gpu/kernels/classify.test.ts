import { describe, expect, it } from 'vitest';
import { Recorder } from '../../../src/engine/gpu/recorder';
import { createBuffer, readF32, readU32, uploadBuffer } from '../../../src/engine/gpu/buffers';
import { ClassificationArgumentError, classificationLoss, classificationStats } from '../../../src/engine/kernels/classify/classify';
import { classificationLossRef, classificationStatsRef, type ClassificationTask } from '../../../src/engine/kernels/classify/classify.ref';
import { metricsFromStats, statsLength } from '../../../src/engine/kernels/classify/metrics';
import { expectClose } from '../../helpers/compare';
import { compare } from '../../helpers/compare';
import { recordKernelError } from '../../helpers/kernelErrors';
import { gridValues, rng } from '../../helpers/random';
import { testGpu } from '../../helpers/gpu';
import { TOLERANCES } from '../../helpers/tolerances';
import { checkAgainstReference } from './util';

function labelsFor(task: ClassificationTask, B: number, L: number, seed: number): Int32Array | Float32Array {
  const r = rng(seed);
  if (task === 'single_label_classification') return Int32Array.from({ length: B }, () => (r() < 0.2 ? -100 : Math.floor(r() * L)));
  if (task === 'regression') return gridValues(B * L, seed, 2);
  return Float32Array.from({ length: B * L }, () => [0, 1, 1, 0, 0.25][Math.floor(r() * 5)]);
}

const cases: [ClassificationTask, number, number][] = [
  ['single_label_classification', 1, 2],
  ['single_label_classification', 7, 5],
  ['single_label_classification', 300, 100],
  ['regression', 1, 1],
  ['regression', 300, 1],
  ['regression', 9, 3],
  ['multi_label_classification', 1, 2],
  ['multi_label_classification', 300, 7],
];

describe('classification losses match the float64 reference', async () => {
  const gpu = await testGpu();
  cases.forEach(([task, B, L], index) => {
    const name = `${task} B=${B} L=${L}`;
    it(`classification loss ${name} matches_reference (rows, dlogits, predictions, sums, accumulation)`, async () => {
      const logits = gridValues(B * L, 100 + index, 4);
      if (task === 'multi_label_classification') logits[0] = 60; // far in the tail: log1p and σ stay exact
      const labels = labelsFor(task, B, L, 200 + index);
      const gradScale = 1 / 3;
      const ref = classificationLossRef(task, logits, labels, { B, L }, gradScale);
      const buf = {
        logits: uploadBuffer(gpu, 'classify logits', logits),
        labels: uploadBuffer(gpu, 'classify labels', labels),
        rowLoss: createBuffer(gpu, 'classify row loss', B * 4),
        dlogits: createBuffer(gpu, 'classify dlogits', B * L * 4),
        predictions: createBuffer(gpu, 'classify predictions', B * 4),
        lossSum: createBuffer(gpu, 'classify loss sum', 4),
        count: createBuffer(gpu, 'classify count', 4),
        correct: createBuffer(gpu, 'classify correct', 4),
      };
      const rec = new Recorder(gpu, 'classification loss test');
      classificationLoss(rec, { task, B, L, gradScale, ...buf });
      await rec.done();
      await checkAgainstReference(gpu, buf.rowLoss, ref.rowLoss, TOLERANCES.classifyRows, 'classify', 'forward', `${name} rowLoss`);
      await checkAgainstReference(gpu, buf.dlogits, ref.dlogits, TOLERANCES.classifyRows, 'classify', 'backward', `${name} dlogits`);
      expect(Array.from(await readU32(gpu, buf.predictions))).toEqual(Array.from(ref.predictions));
      const sum = compare(await readF32(gpu, buf.lossSum), [ref.lossSum], TOLERANCES.classifyLossSum);
      recordKernelError('classify', 'forward', `${name} lossSum`, sum, gpu.adapter.name);
      expect(sum.mismatches, sum.report).toBe(0);
      expect((await readU32(gpu, buf.count))[0]).toBe(ref.count);
      expect((await readU32(gpu, buf.correct))[0]).toBe(ref.correct);
      // A second micro-batch accumulates onto the sums.
      const rec2 = new Recorder(gpu, 'classification loss accumulation test');
      classificationLoss(rec2, { task, B, L, gradScale, ...buf, accumulate: true });
      await rec2.done();
      expect((await readF32(gpu, buf.lossSum))[0]).toBeCloseTo(2 * ref.lossSum, 3);
      expect((await readU32(gpu, buf.count))[0]).toBe(2 * ref.count);
      expect((await readU32(gpu, buf.correct))[0]).toBe(2 * ref.correct);
      for (const b of Object.values(buf)) b.destroy();
    });
  });

  it('classification loss refuses single-label classification with one label', async () => {
    const b = createBuffer(gpu, 'classify argument test', 64);
    const rec = new Recorder(gpu, 'classify argument test');
    const bufs = { logits: b, labels: b, rowLoss: b, dlogits: b, predictions: b, lossSum: b, count: b, correct: b };
    expect(() => classificationLoss(rec, { task: 'single_label_classification', B: 2, L: 1, gradScale: 1, ...bufs })).toThrow(ClassificationArgumentError);
    expect(rec.dispatches).toBe(0);
    await rec.done();
    b.destroy();
  });
});

describe('evaluation statistics (confusion matrix, per-class counts, regression moments) match the float64 reference', async () => {
  const gpu = await testGpu();
  const statCases: [ClassificationTask, number, number[]][] = [
    ['single_label_classification', 5, [7, 300, 1]],
    ['multi_label_classification', 4, [9, 257]],
    // targets far from zero: the pairwise moments keep Pearson's digits
    ['regression', 1, [300, 41, 5]],
  ];
  for (const [task, L, batches] of statCases) {
    it(`classification statistics ${task} L=${L} over batches of ${batches.join(', ')} rows match_reference`, async () => {
      const stats = createBuffer(gpu, 'eval statistics', statsLength(task, L) * 4);
      const all = { logits: [] as number[], labels: [] as number[] };
      for (const [i, B] of batches.entries()) {
        const logits = gridValues(B * L, 500 + i, 4);
        let labels = labelsFor(task, B, L, 600 + i);
        if (task === 'regression') labels = Float32Array.from(labels, (y, k) => 1000 + y + logits[k] * 0.5);
        all.logits.push(...logits);
        all.labels.push(...labels);
        const buf = {
          logits: uploadBuffer(gpu, 'stats logits', logits), labels: uploadBuffer(gpu, 'stats labels', labels),
          rowLoss: createBuffer(gpu, 'row loss', B * 4), dlogits: createBuffer(gpu, 'dlogits', B * L * 4), predictions: createBuffer(gpu, 'predictions', B * 4),
          lossSum: createBuffer(gpu, 'loss sum', 4), count: createBuffer(gpu, 'count', 4), correct: createBuffer(gpu, 'correct', 4),
        };
        const rec = new Recorder(gpu, 'evaluation statistics test');
        classificationLoss(rec, { task, B, L, gradScale: 0, ...buf });
        classificationStats(rec, { task, B, L, logits: buf.logits, labels: buf.labels, predictions: buf.predictions, stats, reset: i === 0 });
        await rec.done();
        for (const b of Object.values(buf)) b.destroy();
      }
      const B = all.logits.length / L;
      const want = classificationStatsRef(task, all.logits, all.labels, { B, L });
      if (task === 'regression') {
        const got = await readF32(gpu, stats, 8);
        const r = expectClose(got, want, { atol: 1e-3, rtol: 2e-5 }, 'regression moments');
        recordKernelError('classify_stats', 'forward', `${task} moments over ${batches.join('+')} rows`, r, gpu.adapter.name);
        const m = metricsFromStats(task, got, ['score']).metrics;
        const w = metricsFromStats(task, want, ['score']).metrics;
        expect(Math.abs(m.eval_pearson - w.eval_pearson)).toBeLessThan(1e-5);
        expect(w.eval_pearson).toBeGreaterThan(0.1);
      } else {
        const got = await readU32(gpu, stats, want.length);
        expect(Array.from(got)).toEqual(Array.from(want));
        recordKernelError('classify_stats', 'forward', `${task} L=${L} counts`, compare(got, want, { atol: 0, rtol: 0 }), gpu.adapter.name);
      }
      stats.destroy();
    });
  }
});
