// The recipe's own example in the studio (headless Chromium, WebGPU on SwiftShader): the demo
// encoder, its sample of labelled reviews, the default settings; validation accuracy charted live,
// the confusion matrix drawn, the playground classifying with the base head and the tuned adapter.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { artifactDir, openProfilePage } from '../helpers/browser';

let context: BrowserContext;
let page: Page;
const shots = artifactDir();

type Win = {
  __studio: {
    store: { getState(): { dataset: { status: string }; training: { status: string; error: string | null; step: number; totalSteps: number } } };
    controller: {
      classEval: { getState(): { points: { step: number; metrics: Record<string, number> }[] } };
      library: { list(): Promise<{ id: string }[]>; files(id: string): Promise<{ labelsConfig?: string; adapterConfig: string }> };
    };
  };
};

beforeAll(async () => {
  ({ context, page } = await openProfilePage('studio-encoder-'));
});

afterAll(async () => {
  await context?.close();
});

describe('the studio with the demo encoder (BERT text classification)', () => {
  it('trains with the default settings past 90% validation accuracy, charts it, draws the confusion matrix, and classifies in the playground', async () => {
    await page.goto(`${inject('baseUrl')}?model=demo-bert`);
    await page.getByTestId('model-ready').waitFor({ timeout: 120_000 });
    expect(await page.getByTestId('model-name').textContent()).toBe('demo-bert');

    await page.getByTestId('tab-dataset').click();
    await page.getByTestId('use-sample').click();
    await page.waitForFunction(() => (window as unknown as Win).__studio.store.getState().dataset.status === 'ready', null, { timeout: 120_000 });

    await page.getByTestId('tab-hyperparameters').click();
    const modules = page.getByTestId('encoder-modules');
    await modules.waitFor();
    expect(await modules.locator('[data-target="q_proj"]').getAttribute('data-module')).toBe('attention.self.query');
    expect(await modules.locator('[data-target="gate_proj"]').getAttribute('data-module')).toBe('');
    await page.screenshot({ path: `${shots}/encoder-hyperparameters.png`, fullPage: true });

    const start = Date.now();
    await page.getByTestId('start-training').click();
    // The first evaluation at or above 90%, timed from Start (model and data already loaded).
    const reached = await page.waitForFunction(
      () => {
        const w = window as unknown as Win;
        const t = w.__studio.store.getState().training;
        const hit = w.__studio.controller.classEval.getState().points.find((p) => p.metrics.eval_accuracy >= 0.9);
        return hit ? { step: hit.step, accuracy: hit.metrics.eval_accuracy } : t.status === 'failed' ? { error: t.error } : null;
      },
      null,
      { timeout: 300_000, polling: 200 },
    );
    const hit = (await reached.jsonValue()) as { step?: number; accuracy?: number; error?: string };
    const seconds = (Date.now() - start) / 1000;
    expect(hit.error, `training failed: ${hit.error}`).toBeUndefined();
    console.log(`[studio encoder] validation accuracy ${hit.accuracy} at step ${hit.step}, ${seconds.toFixed(1)} s after Start (SwiftShader)`);
    expect(seconds).toBeLessThan(60);

    await page.waitForFunction(() => ['done', 'failed'].includes((window as unknown as Win).__studio.store.getState().training.status), null, { timeout: 300_000, polling: 250 });
    expect(await page.getByTestId('training-status').getAttribute('data-status')).toBe('done');
    const chart = page.getByTestId('metrics-chart');
    expect(Number(await chart.getAttribute('data-points'))).toBeGreaterThanOrEqual(8);
    expect(Number(await chart.getAttribute('data-last-accuracy'))).toBeGreaterThanOrEqual(0.9);
    const cm = page.getByTestId('confusion-matrix');
    expect(await cm.getAttribute('data-total')).toBe('42');
    const diagonal = await Promise.all([0, 1, 2].map(async (i) => Number(await page.getByTestId(`cm-${i}-${i}`).getAttribute('data-count'))));
    expect(diagonal.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(38);
    await page.screenshot({ path: `${shots}/encoder-training.png`, fullPage: true });

    // The library keeps the labels with the adapter.
    const stored = await page.evaluate(async () => {
      const c = (window as unknown as Win).__studio.controller;
      const [a] = await c.library.list();
      const f = await c.library.files(a.id);
      return { labels: f.labelsConfig ? JSON.parse(f.labelsConfig).id2label : null, config: JSON.parse(f.adapterConfig) };
    });
    expect(stored.labels).toEqual({ 0: 'negative', 1: 'neutral', 2: 'positive' });
    expect(stored.config).toMatchObject({ task_type: 'SEQ_CLS', target_modules: ['query', 'value'], modules_to_save: ['classifier', 'score'] });

    await page.getByTestId('tab-playground').click();
    await page.getByTestId('classify-text').fill('a truly wonderful concert');
    await page.getByTestId('classify').click();
    const tuned = page.getByTestId('classify-tuned');
    await tuned.waitFor({ timeout: 60_000 });
    expect(await tuned.getAttribute('data-top')).toBe('positive');
    expect(await page.getByTestId('classify-base').count()).toBe(1);
    await page.screenshot({ path: `${shots}/encoder-playground.png`, fullPage: true });
  });

  it('loaded again with its labelled reviews there, the encoder compiles its run\'s kernels while its weights stream in', async () => {
    await page.getByTestId('tab-model').click();
    await page.getByTestId('model-demo-bert').click();
    type Entry = { by: string; model: string; whileLoading: boolean; outcome: string | null };
    const log = () => page.evaluate(() => (window as unknown as { __studio: { engine: { compileLog(): Promise<Entry[]> } } }).__studio.engine.compileLog());
    await expect.poll(async () => (await log()).find((e) => e.by === 'loadModel' && e.outcome !== null), { timeout: 120_000, interval: 250 })
      .toMatchObject({ model: 'demo-bert', whileLoading: true, outcome: expect.stringMatching(/^ready \d+$/) });
    await page.getByTestId('tab-hyperparameters').click();
    await page.locator('[data-testid="kernels"][data-status="ready"]').waitFor({ timeout: 120_000 });
  });
});
