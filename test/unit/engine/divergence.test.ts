import { describe, expect, it } from 'vitest';
import { DivergenceWatch, LOSS_WINDOW, NORM_GROWTH, PARAM_GROWTH } from '../../../src/engine/train/divergence';

/** A window of LOSS_WINDOW steps, each of mean loss `loss` over 32 tokens: what the watch says at its end. */
function window(w: DivergenceWatch, loss: number): string | null {
  for (let i = 1; i < LOSS_WINDOW; i++) expect(w.loss(loss, 32)).toBeNull();
  return w.loss(loss, 32);
}

const ok = (step: number, over: Partial<{ gradNorm: number; paramNorm: number; skipped: boolean }> = {}) => ({ step, skipped: false, reasons: [], gradNorm: 1, paramNorm: 2, ...over });

describe('divergence watch', () => {
  it('stays quiet on ordinary noisy training', () => {
    const w = new DivergenceWatch(1.5);
    for (let i = 1; i <= 500; i++) {
      expect(w.step(ok(i, { gradNorm: 0.5 + Math.abs(Math.sin(i)) * 5, paramNorm: 2 + i * 0.05 }))).toBeNull();
      expect(w.loss(3 - Math.log(i) * 0.3 + (i % 30 === 0 ? 0.4 : 0), 32)).toBeNull();
    }
    // a single skipped step (a bad batch) is not divergence
    expect(w.step(ok(501, { skipped: true }))).toBeNull();
    expect(w.step(ok(502))).toBeNull();
  });

  it('names each kind of divergence', () => {
    let w = new DivergenceWatch(1.5);
    w.step(ok(1, { skipped: true }));
    w.step(ok(2, { skipped: true }));
    expect(w.step({ ...ok(3, { skipped: true }), reasons: ['loss is not finite (NaN)'] })).toMatch(/3 steps in a row could not be applied \(loss is not finite \(NaN\)\)/);

    w = new DivergenceWatch(1.5);
    expect(w.step(ok(1, { paramNorm: 1.5 * PARAM_GROWTH * 0.99 }))).toBeNull();
    expect(w.step(ok(2, { paramNorm: 1.5 * PARAM_GROWTH * 1.01 }))).toMatch(/parameter norm grew from 1.50 to/);

    w = new DivergenceWatch(1.5);
    for (let i = 1; i <= 10; i++) w.step(ok(i, { gradNorm: 2 }));
    expect(w.step(ok(11, { gradNorm: 2 * NORM_GROWTH * 2 }))).toBeNull();
    expect(w.step(ok(12, { gradNorm: 2 * NORM_GROWTH * 2 }))).toBeNull();
    expect(w.step(ok(13, { gradNorm: 2 * NORM_GROWTH * 2 }))).toMatch(/gradient norm exploded/);

    w = new DivergenceWatch(1.5);
    for (const l of [3, 2.5, 2, 1.8]) expect(window(w, l)).toBeNull();
    expect(window(w, 7)).toBeNull();
    expect(window(w, 8)).toBeNull();
    expect(window(w, 9)).toMatch(/loss rose to 9.0000 from its best 1.8000 \(it started at 3.0000\) over 3 windows of 10 steps/);

    // Back above where it started after improving: it has lost what it learned.
    w = new DivergenceWatch(1.5);
    for (const l of [6.03, 5.86, 5.9, 5.85]) expect(window(w, l)).toBeNull();
    expect(window(w, 6.23)).toBeNull();
    expect(window(w, 6.22)).toBeNull();
    expect(window(w, 6.24)).toMatch(/loss rose to 6.2400 from its best 5.8500 \(it started at 6.0300\)/);
    // A flat run that never improved is not diverging.
    w = new DivergenceWatch(1.5);
    for (let i = 0; i < 20; i++) expect(window(w, 6.24 + (i % 2) * 0.01)).toBeNull();
  });

  it('judges windows of steps, not single batches: a model that knows some rows and not others is not diverging', () => {
    // The pre-trained demo: a batch of facts it knows has loss ≈ 0.05, one of facts it does not ≈ 6;
    // logged every step, the old check read three hard batches after an easy one as divergence.
    const w = new DivergenceWatch(1.5);
    for (let i = 1; i <= 300; i++) {
      const hard = i % 4 !== 0;
      const loss = hard ? 6 * Math.exp(-i / 100) + 1.4 : 0.05;
      expect(w.loss(loss, 24)).toBeNull();
    }
  });
});
