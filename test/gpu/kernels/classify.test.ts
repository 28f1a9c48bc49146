import { describe, expect, it } from 'vitest';
import { Recorder } from '../../../src/engine/gpu/recorder';
import { createBuffer, readF32, readU32, uploadBuffer } from '../../../src/engine/gpu/buffers';
import { ClassificationArgumentError, classificationLoss } from '../../../src/engine/kernels/classify/classify';
import { classificationLossRef, type ClassificationTask } from '../../../src/engine/kernels/classify/classify.ref';
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
