// The run's GPU kernels compiled before Start (issue 16, item 5), in headless Chromium (WebGPU on
// SwiftShader, which compiles at createComputePipelineAsync): once the demo model and a dataset are
// ready, the Hyperparameters screen shows "Preparing GPU kernels… n/N" then "GPU kernels ready", and
// Start then goes straight to the first step — no compile phase, no kernel compiled after Start.
// A model loaded while a dataset is there starts compiling while its weights stream in (the page
// joins that compile); a run whose plan needs another precision reloads the model and trains.
// Pressed while the compile is still going, Start is not blocked: the run waits for that compile
// (showing its progress) and trains.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { artifactDir, openProfilePage } from '../helpers/browser';
import { chatJsonl, dropFile, openStudio, studioState, waitForTraining } from '../helpers/studioPage';

// Three steps of rows cut to 64 tokens; no evaluation or checkpoint (nothing but the step itself after Start).
const QUERY = 'maxlen=64&steps=3&eval=0&ckpt=0';

let context: BrowserContext;
let page: Page;

/** Records, in the page, each kernels status and start-up phase the store goes through (a poll could miss a short one). */
async function recordPhases(): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { __studio: { store: { subscribe(f: (s: { kernels: { status: string; total?: number; done?: number }; training: { startup: { kind: string } | null } }) => void): void } }; __seen: { kernels: string[]; startup: string[] } };
    w.__seen = { kernels: [], startup: [] };
    w.__studio.store.subscribe((s) => {
      const k = s.kernels.status === 'compiling' ? `compiling ${s.kernels.done}/${s.kernels.total}` : s.kernels.status;
      if (w.__seen.kernels.at(-1) !== k) w.__seen.kernels.push(k);
      const p = s.training.startup?.kind;
      if (p && w.__seen.startup.at(-1) !== p) w.__seen.startup.push(p);
    });
  });
}

const seen = () => page.evaluate(() => (window as unknown as { __seen: { kernels: string[]; startup: string[] } }).__seen);

/** The demo model, a dataset dropped, the Hyperparameters screen open with a plan that fits. */
async function modelAndDataset(): Promise<void> {
  await openStudio(page, inject('baseUrl'), QUERY);
  await recordPhases();
  await page.getByTestId('tab-hyperparameters').click();
  expect(await page.getByTestId('kernels').count(), 'no dataset yet: nothing to compile').toBe(0);
  await dropFile(page, 'facts.jsonl', chatJsonl(24));
  await page.getByTestId('stats').waitFor({ timeout: 60_000 });
  await page.getByTestId('tab-hyperparameters').click();
  await page.locator('[data-testid="memory-estimate"][data-fits="1"]').waitFor({ timeout: 60_000 });
}

beforeAll(async () => {
  ({ context, page } = await openProfilePage('kernels-e2e-'));
});

afterAll(async () => {
  await context?.close();
});

describe('GPU kernels compiled before Start', () => {
  it('"GPU kernels ready" shows before Start, and the run then reaches its first step without compiling', async () => {
    const t0 = Date.now();
    await modelAndDataset();
    const kernels = page.getByTestId('kernels');
    await page.locator('[data-testid="kernels"][data-status="compiling"], [data-testid="kernels"][data-status="ready"]').waitFor({ timeout: 60_000 });
    if ((await kernels.getAttribute('data-status')) === 'compiling') {
      expect(await page.getByTestId('start-training').isEnabled(), 'a compile in progress does not block Start').toBe(true);
    }
    await page.locator('[data-testid="kernels"]:not([data-status="compiling"])').waitFor({ timeout: 240_000 });
    const status = await kernels.getAttribute('data-status');
    expect(status, `the background compile ended ${status}: ${await kernels.textContent()}`).toBe('ready');
    expect(await kernels.textContent()).toBe('GPU kernels ready');
    const compiled = await studioState<number>(page, "s.kernels.status === 'ready' ? s.kernels.pipelines : -1");
    const progress = (await seen()).kernels;
    console.log(`[kernels] ${compiled} kernels compiled in the background, ready ${((Date.now() - t0) / 1000).toFixed(1)} s after the page opened: ${progress.join(' → ')}`);
    expect(compiled).toBeGreaterThan(0);
    expect(progress).toContain(`compiling ${compiled}/${compiled}`);
    await page.screenshot({ path: `${artifactDir()}/kernels-ready.png`, fullPage: true });

    const started = Date.now();
    await page.getByTestId('start-training').click();
    await page.waitForFunction(() => (window as unknown as { __studio: { store: { getState(): { training: { stepped: boolean; status: string } } } } }).__studio.store.getState().training.stepped, null, { timeout: 120_000, polling: 100 });
    console.log(`[kernels] Start → first step ${((Date.now() - started) / 1000).toFixed(1)} s with the kernels compiled before`);
    await waitForTraining(page, 'done', 120_000);
    const t = await studioState<{ startupKernels: number; step: number; train: { loss: number }[] }>(page, 's.training');
    const phases = (await seen()).startup;
    expect(t.startupKernels, 'kernels compiled after Start').toBe(0);
    expect(phases, `start-up phases ${phases.join(' → ')}`).not.toContain('compile');
    expect(t.step).toBe(3);
    expect(t.train.every((p) => Number.isFinite(p.loss))).toBe(true);
  });

  it('a model loaded with a dataset present compiles its kernels while its weights stream in; a run in another precision reloads the model and trains', async () => {
    // The same page, its kernels compiled for f32. Base precision q8: the loaded f32 model would be reloaded, so nothing compiles now.
    await page.getByTestId('tab-hyperparameters').click();
    await page.getByTestId('weights').selectOption('q8');
    const skipped = page.locator('[data-testid="kernels"][data-status="skipped"]');
    await skipped.waitFor({ timeout: 60_000 });
    expect(await skipped.textContent()).toContain('reloads the model with q8 weights');
    // Load the model again (now in q8): the worker compiles its kernels while its weights stream in (the page joins that compile, or finds them compiled).
    await page.getByTestId('tab-model').click();
    await page.getByTestId('model-demo').click();
    await page.waitForFunction(() => (window as unknown as { __studio: { store: { getState(): { model: { status: string; info?: { weights: string } } } } } }).__studio.store.getState().model.info?.weights === 'q8', null, { timeout: 60_000, polling: 100 });
    await page.getByTestId('tab-hyperparameters').click();
    await page.locator('[data-testid="kernels"][data-status="ready"]').waitFor({ timeout: 240_000 });
    expect(await page.getByTestId('kernels').textContent()).toBe('GPU kernels ready');
    const log = await page.evaluate(() => (window as unknown as { __studio: { engine: { compileLog(): Promise<{ by: string; weights: string; whileLoading: boolean; outcome: string | null }[]> } } }).__studio.engine.compileLog());
    const pipelines = await studioState<number>(page, "s.kernels.status === 'ready' ? s.kernels.pipelines : -1");
    console.log(`[kernels] compiles in the worker: ${JSON.stringify(log)}; the page's: ready ${pipelines}`);
    // The load's compile did the work (the q8 kernels new to this device); the page's compile joined it or found them compiled.
    const onLoad = log.filter((e) => e.by === 'loadModel');
    expect(onLoad).toHaveLength(1);
    expect(onLoad[0]).toMatchObject({ model: 'demo', weights: 'q8', whileLoading: true });
    expect(onLoad[0].outcome).toMatch(/^ready [1-9]/);
    for (const e of log.filter((e) => e.by === 'compile' && e.weights === 'q8')) expect(e.outcome).toBe('ready 0');
    expect([0, Number(onLoad[0].outcome!.split(' ')[1])]).toContain(pipelines);
    await page.getByTestId('start-training').click();
    await waitForTraining(page, 'done', 120_000);
    expect(await studioState<number>(page, 's.training.startupKernels')).toBe(0);

    // Back to f32: the run reloads the model in f32 (its weights streaming while the run compiles: all cached from the first run) and trains.
    await page.getByTestId('tab-hyperparameters').click();
    await page.getByTestId('weights').selectOption('f32');
    await skipped.waitFor({ timeout: 60_000 });
    await page.evaluate(() => ((window as unknown as { __seen: { startup: string[] } }).__seen.startup = []));
    await page.getByTestId('start-training').click();
    await waitForTraining(page, 'done', 120_000);
    const t = await studioState<{ step: number; train: { loss: number }[]; plan: { weights: string } }>(page, 's.training');
    const phases = (await seen()).startup;
    console.log(`[kernels] reload in f32: start-up ${phases.join(' → ')}`);
    expect(phases).toContain('model');
    expect(t.plan.weights).toBe('f32');
    expect(t.step).toBe(3);
    expect(t.train.every((p) => Number.isFinite(p.loss))).toBe(true);
    // The page now shows the model the run reloaded: f32 on the Model screen, and no reload announced for the next run.
    expect(await studioState<string>(page, 's.model.info.weights')).toBe('f32');
    await page.getByTestId('tab-hyperparameters').click();
    expect(await page.getByTestId('plan-weights').textContent()).not.toContain('reloaded');
    await page.getByTestId('tab-model').click();
    expect(await page.getByTestId('model-backend').textContent()).toContain('32-bit float');
  });

  it('Start pressed while the kernels compile: the run waits for that compile, showing its progress, then trains', async () => {
    // A new page has a new worker and GPU device, so nothing is compiled (Chromium's shader cache makes it quicker, not instant).
    await modelAndDataset();
    await page.locator('[data-testid="kernels"][data-status="compiling"]').waitFor({ timeout: 60_000 });
    await page.getByTestId('start-training').click();
    await waitForTraining(page, 'done', 240_000);
    const t = await studioState<{ startupKernels: number; step: number }>(page, 's.training');
    const phases = (await seen()).startup;
    console.log(`[kernels] Start at once: ${t.startupKernels} kernels compiled after Start; start-up ${phases.join(' → ')}`);
    expect(phases).toContain('compile');
    expect(t.startupKernels).toBeGreaterThan(0);
    expect(t.step).toBe(3);
    expect(await studioState<string>(page, 's.kernels.status')).toBe('ready');
  });
});
