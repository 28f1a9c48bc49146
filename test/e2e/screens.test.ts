// The screens a practitioner trusts, in headless Chromium on the demo model (WebGPU on SwiftShader):
// the Hyperparameters screen driven through its real controls (keyboard and mouse) with the engine
// receiving exactly those values; values never clamped; a plan over budget blocked with its fix;
// start-up that shows no zeros; epochs, ETA and the chart's ticks as they should read; evaluation
// metrics live; cancel and recovery; hub failures that keep the working model; the library's
// imported card; notices; the playground at its default settings. Screenshots in test-results/e2e/.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page, Route } from 'playwright-core';
import { artifactDir, openProfilePage } from '../helpers/browser';
import { chatJsonl, dropFile, openStudio, studioState, waitForTraining } from '../helpers/studioPage';
import { DEFAULT_SETTINGS, SETTING_DEFS, formatSettingValue, getSetting, type RunSettings } from '../../src/settings/settings';

let context: BrowserContext;
let page: Page;
const baseUrl = () => inject('baseUrl');
const shots = artifactDir();
const timings: string[] = [];

async function timed<T>(label: string, f: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  try {
    return await f();
  } finally {
    timings.push(`${label}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
}

// A link to the demo model: its settings are the recipe's (a plain visit is proposed the demo preset,
// docs/studio.md "The demo"; test/e2e/demo.test.ts walks that), and these tests check the recipe's knobs.
const open = (query = 'model=demo') => openStudio(page, baseUrl(), query);
const settings = () => studioState<RunSettings>(page, 's.settings');
const trainingStatus = () => studioState<string>(page, 's.training.status');

/** Types into a field with the keyboard, as a user does: select what is there, type, then a key (Enter or Tab). */
async function typeInto(testId: string, text: string, then: 'Enter' | 'Tab' = 'Enter'): Promise<void> {
  const field = page.getByTestId(testId);
  await field.click();
  await field.press('ControlOrMeta+a');
  await page.keyboard.type(text);
  await page.keyboard.press(then);
}

/** Clicks a slider's track with the mouse at a fraction of its width. */
async function clickSlider(testId: string, fraction: number): Promise<void> {
  await page.getByTestId(`${testId}-slider`).scrollIntoViewIfNeeded();
  const box = (await page.getByTestId(`${testId}-slider`).boundingBox())!;
  await page.mouse.click(box.x + box.width * fraction, box.y + box.height / 2);
}

/** Drags a slider's thumb with the mouse from one fraction of its width to another. */
async function dragSlider(testId: string, from: number, to: number): Promise<void> {
  await page.getByTestId(`${testId}-slider`).scrollIntoViewIfNeeded();
  const box = (await page.getByTestId(`${testId}-slider`).boundingBox())!;
  const y = box.y + box.height / 2;
  await page.mouse.move(box.x + box.width * from, y);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * ((from + to) / 2), y, { steps: 4 });
  await page.mouse.move(box.x + box.width * to, y, { steps: 4 });
  await page.mouse.up();
}

beforeAll(async () => {
  ({ context, page } = await openProfilePage('studio-screens-', { width: 1440, height: 900 }));
});

afterAll(async () => {
  console.log(`[e2e] screens timings:\n  ${timings.join('\n  ')}`);
  await context?.close();
});

// 36 rows: the data layer holds out at least one for validation; batch 4 → 9 steps per epoch. Logged
// every step: the pre-trained demo knows some of these facts and not others, so one step's loss swings
// with the rows its batch drew (1.4 to 6.0 at step 12); the divergence watch judges windows of steps.
const RUN_QUERY = 'maxlen=64&batch=4&micro=4&epochs=2&eval=6&ckpt=0&log=1';
const RUN_ROWS = 36;

describe('the studio screens', () => {
  it('Hyperparameters: every knob shows its help and recipe default, takes one tab stop, and Start is above the fold', async () => {
    await timed('knobs, tab stops, layout', async () => {
      await open();
      await dropFile(page, 'facts.jsonl', chatJsonl(24));
      await page.getByTestId('stats').waitFor({ timeout: 60_000 });
      await page.getByTestId('tab-hyperparameters').click();
      for (const d of SETTING_DEFS) {
        const help = await page.locator(`[data-setting="${d.key}"] p.hint[id]`).first().textContent();
        expect(help, d.key).toContain(d.help);
        expect(help, d.key).toContain(`Recipe default: ${formatSettingValue(d, getSetting(DEFAULT_SETTINGS, d.key))}.`);
      }
      // Seed and max steps are plain fields (the contract says no slider).
      expect(await page.getByTestId('seed-slider').count()).toBe(0);
      expect(await page.getByTestId('steps-slider').count()).toBe(0);
      expect(await page.getByTestId('lr').count()).toBe(1);
      // The learning-rate slider announces its value.
      expect(await page.getByTestId('lr-slider').getAttribute('aria-valuetext')).toBe('1e-4');
      // Start is above the fold at 1440×900, and one Tab from the screen's tab.
      await page.getByTestId('memory-estimate').waitFor();
      const start = page.getByTestId('start-training');
      await expect.poll(() => start.isEnabled(), { timeout: 30_000 }).toBe(true);
      const box = (await start.boundingBox())!;
      expect(box.y + box.height).toBeLessThanOrEqual(900);
      await page.getByTestId('tab-hyperparameters').focus();
      let presses = 0;
      while (presses < 10 && !(await start.evaluate((el) => el === document.activeElement))) {
        await page.keyboard.press('Tab');
        presses++;
      }
      expect(presses).toBe(1);
      // Each knob is one tab stop, in the contract's order (sliders are for the mouse; the targets are one roving group).
      await page.getByTestId('rank').focus();
      const visited: string[] = [];
      for (let i = 0; i < SETTING_DEFS.length + 3; i++) {
        visited.push(await page.evaluate(() => document.activeElement?.closest('[data-setting]')?.getAttribute('data-setting') ?? `outside:${document.activeElement?.tagName}`));
        await page.keyboard.press('Tab');
      }
      const knobs = visited.filter((k) => !k.startsWith('outside:'));
      expect(knobs.slice(0, SETTING_DEFS.length)).toEqual(SETTING_DEFS.map((d) => d.key));
      await page.screenshot({ path: `${shots}/screens-hyperparameters.png` });
    });
  });

  it('a value out of range shows an error at its field, is not applied, and Start waits; the URL path is as strict', async () => {
    await timed('out of range', async () => {
      const before = await settings();
      const start = page.getByTestId('start-training');
      for (const [field, text, pattern] of [
        ['lr', '10', /Learning rate: 10 is outside 1e-7–1/],
        ['rank', '0', /Rank r: 0 is outside 1–512/],
        ['dropout', '1.5', /Dropout: 1\.5 is outside 0–0\.9/],
        ['max-length', '1000000', /Max length: 1e6 is outside 8–131072 tokens/],
      ] as const) {
        await typeInto(field, text);
        const error = page.getByTestId(`${field}-error`);
        await error.waitFor();
        expect(await error.textContent()).toMatch(pattern);
        expect(await error.textContent()).toContain('not applied');
        expect(await page.getByTestId(field).getAttribute('aria-invalid')).toBe('true');
        expect(await start.isDisabled(), `Start with ${field} = ${text}`).toBe(true);
        expect(await page.getByTestId('start-blocked').textContent()).toMatch(pattern);
        expect(await settings()).toEqual(before); // nothing applied, nothing clamped
      }
      await page.screenshot({ path: `${shots}/screens-hyperparameters-errors.png` });
      // Escape restores each field's value; Start comes back.
      for (const field of ['lr', 'rank', 'dropout', 'max-length']) {
        await page.getByTestId(field).focus();
        await page.keyboard.press('Escape');
        expect(await page.getByTestId(field).getAttribute('aria-invalid')).toBe('false');
      }
      await expect.poll(() => start.isEnabled()).toBe(true);
      expect(await settings()).toEqual(before);
      // ArrowUp/ArrowDown at the end of a range say so and keep the value.
      await typeInto('dropout', '0.9');
      await page.keyboard.press('ArrowUp');
      expect(await page.getByTestId('dropout-edge').textContent()).toMatch(/Dropout: 0\.91 is outside 0–0\.9/);
      expect((await settings()).lora.dropout).toBe(0.9);
      // A link is as strict as the fields: out-of-range values are refused with a notice, never clamped.
      await open('lr=10&r=0&dropout=1.5&maxlen=1000000');
      expect((await settings())).toEqual(DEFAULT_SETTINGS);
      const notices = await page.getByTestId('notices').textContent();
      for (const p of ['lr', 'r', 'dropout', 'maxlen']) expect(notices).toContain(`Ignored link parameter “${p}”`);
    });
  });

  it('a plan over the memory budget blocks Start, shows the planner’s advice, and its one-click fix makes it fit', async () => {
    await timed('plan over budget', async () => {
      await open('batch=1024&micro=1024&maxlen=2048');
      // Rows as long as the max length, so the planner sizes for 2048 tokens.
      const long = Array.from({ length: 24 }, (_, i) => JSON.stringify({ text: Array.from({ length: 2400 }, (_, j) => ['red', 'blue', 'cat', 'sky', 'sea'][(i + j) % 5]).join(' ') })).join('\n');
      await dropFile(page, 'long.jsonl', long);
      await page.getByTestId('stats').waitFor({ timeout: 120_000 });
      await page.getByTestId('tab-hyperparameters').click();
      const warning = page.getByTestId('memory-warning');
      await warning.waitFor({ timeout: 30_000 });
      // Over the budget, or (the demo's intermediate is 256: 2 GiB of activations for 1024 × 2048 tokens) over the GPU's largest buffer.
      expect(await page.getByTestId('plan-advice').textContent()).toMatch(/needs .* but (.* is available|this GPU allows at most .*): lower the micro-batch from 1024/);
      expect(await page.getByTestId('start-training').isDisabled()).toBe(true);
      expect(await page.getByTestId('start-blocked').textContent()).toMatch(/does not fit in memory/);
      await page.screenshot({ path: `${shots}/screens-plan-over-budget.png` });
      await page.getByTestId('apply-plan-fix').click();
      await page.locator('[data-testid="memory-estimate"][data-fits="1"]').waitFor({ timeout: 30_000 });
      expect(await page.getByTestId('micro-batch').inputValue()).toBe('0');
      expect((await settings()).train.microBatch).toBe(0);
      expect(new URL(page.url()).searchParams.get('micro')).toBeNull(); // back to the default: not in the link
      expect(await page.getByTestId('start-training').isEnabled()).toBe(true);
      // The base precision: auto says on screen what it chose; a fixed one says so, and that the model reloads in it.
      expect(await page.getByTestId('weights').inputValue()).toBe('auto');
      // (the link's batch 1024 × 2048 tokens loaded the model in a smaller precision; the fixed plan fits a more precise one, so it would reload)
      expect(await page.getByTestId('plan-weights').textContent()).toMatch(/^Base weights: .* \(the most precise that fits [\d.]+ GiB.*\)( — the model is reloaded in this precision when the run starts)?$/);
      await page.getByTestId('weights').selectOption('nf4');
      // The note on a reload shows exactly when the loaded model is stored otherwise.
      const loaded = await studioState<string>(page, 's.model.info.weights');
      await expect.poll(() => page.getByTestId('plan-weights').textContent()).toBe(`Base weights: 4-bit NF4, as set${loaded === 'nf4' ? '' : ' — the model is reloaded in this precision when the run starts'}`);
      expect((await settings()).train.weights).toBe('nf4');
      expect(new URL(page.url()).searchParams.get('weights')).toBe('nf4');
      await page.getByTestId('weights').selectOption('auto');
      await expect.poll(() => page.getByTestId('plan-weights').textContent()).toMatch(/^Base weights: .* \(the most precise that fits/);
    });
  });

  it('cancel during start-up is quick, and a run without a checkpoint is not left as unfinished', async () => {
    await timed('cancel during start-up', async () => {
      await open(RUN_QUERY);
      await dropFile(page, 'facts.jsonl', chatJsonl(RUN_ROWS));
      await page.getByTestId('stats').waitFor({ timeout: 60_000 });
      await page.getByTestId('tab-hyperparameters').click();
      await page.getByTestId('start-training').click();
      await page.getByTestId('cancel').waitFor();
      expect(await trainingStatus()).toBe('starting');
      const t0 = Date.now();
      await page.getByTestId('cancel').click();
      await waitForTraining(page, 'cancelled', 5_000);
      const ms = Date.now() - t0;
      timings.push(`  cancel took ${ms} ms`);
      expect(ms).toBeLessThan(2_000);
      await expect.poll(() => page.getByTestId('interrupted-runs').count()).toBe(0);
      // Nothing stored either (what a reload would list).
      await expect.poll(() => page.evaluate(async () => (await (window as unknown as { __studio: { controller: { checkpoints: { runs(): Promise<unknown[]> } } } }).__studio.controller.checkpoints.runs()).length)).toBe(0);
      await page.reload();
      await page.waitForFunction(() => (window as unknown as { __studio?: { store: { getState(): { model: { status: string } } } } }).__studio?.store.getState().model.status === 'ready', null, { timeout: 120_000 });
      expect(await studioState<unknown[]>(page, 's.interrupted')).toEqual([]);
      expect(await studioState<string>(page, 's.screen')).toBe('model');
    });
  });

  let firstResult: { adapterConfig: string } | null = null;

  it('the engine receives exactly what the fields and sliders say; start-up shows no zeros; epochs, ETA, ticks and eval metrics read right', async () => {
    await timed('real controls → engine (compile + run)', async () => {
      await open(RUN_QUERY);
      await dropFile(page, 'facts.jsonl', chatJsonl(RUN_ROWS));
      await page.getByTestId('stats').waitFor({ timeout: 60_000 });
      await page.getByTestId('tab-hyperparameters').click();
      // Keyboard: type the rank and the learning rate; ArrowUp in alpha (16 → 32); ArrowDown in weight decay.
      await typeInto('rank', '16', 'Tab');
      await typeInto('lr', '0.001', 'Tab');
      await page.getByTestId('alpha').focus();
      await page.keyboard.press('ArrowUp');
      await page.getByTestId('weight-decay').focus();
      await page.keyboard.press('ArrowDown');
      // Mouse: click the dropout slider, drag the warmup slider.
      await clickSlider('dropout', 0.25);
      await dragSlider('warmup-ratio', 0.02, 0.3);
      // Tick target modules; pick a schedule.
      await page.getByTestId('targets-k_proj').click();
      await page.getByTestId('targets-o_proj').click();
      await page.getByTestId('schedule').selectOption('cosine');
      const dropout = Number(await page.getByTestId('dropout').inputValue());
      const warmup = Number(await page.getByTestId('warmup-ratio').inputValue());
      expect(dropout).toBeGreaterThan(0.1);
      expect(dropout).toBeLessThan(0.35);
      expect(warmup).toBeGreaterThan(0.1);
      expect(warmup).toBeLessThan(0.5);
      expect(await page.getByTestId('lr-slider').getAttribute('aria-valuetext')).toBe('0.001');
      const fields = { rank: '16', lr: '0.001', alpha: '32', 'weight-decay': '0.009' } as Record<string, string>;
      for (const [id, v] of Object.entries(fields)) expect(await page.getByTestId(id).inputValue(), id).toBe(v);
      const shown = await page.getByTestId('plan-summary').textContent();
      await page.screenshot({ path: `${shots}/screens-hyperparameters-set.png` });

      await page.getByTestId('start-training').click();
      // Before the first step: a phase line, and no field reads 0.
      await page.getByTestId('startup').waitFor({ timeout: 30_000 });
      const early = await page.getByTestId('run-facts').evaluate((el) => Object.fromEntries([...el.querySelectorAll('dd[data-testid]')].map((d) => [d.getAttribute('data-testid'), d.textContent])));
      const phase = await page.getByTestId('startup').textContent();
      console.log(`[e2e] before the first step: "${phase}", ${JSON.stringify(early)}`);
      if (!(await studioState<boolean>(page, 's.training.stepped'))) {
        for (const k of ['current-lr', 'current-grad-norm', 'current-tps', 'eta', 'current-loss']) expect(early[k], k).toBe('—');
        expect(await page.getByTestId('step-counter').textContent()).not.toMatch(/epoch [1-9]/);
        await page.screenshot({ path: `${shots}/screens-training-startup.png` });
      }
      await waitForTraining(page, 'running');
      // ETA: "measuring…" until a step time is measured, then a duration; never a number before.
      const etaSeen = new Set<string>();
      let epochs = new Set<string>();
      while ((await trainingStatus()) === 'running') {
        const [eta, counter] = await Promise.all([page.getByTestId('eta').textContent(), page.getByTestId('step-counter').textContent()]);
        etaSeen.add(eta!);
        epochs.add(/epoch ([\d.]+ of [\d.]+)/.exec(counter!)?.[1] ?? counter!);
        if ((await studioState<number>(page, 's.training.evals.length')) >= 2 && !(await page.getByTestId('eval-metrics').isHidden())) {
          await page.screenshot({ path: `${shots}/screens-training-running.png` }).catch(() => {});
        }
        await page.waitForTimeout(300);
      }
      await waitForTraining(page, 'done');
      console.log(`[e2e] ETA shown: ${[...etaSeen].join(' | ')}; epochs shown: ${[...epochs].join(' | ')}`);
      for (const e of etaSeen) expect(e).toMatch(/^(measuring…|\d+ s|\d+ min \d+ s|—)$/);
      epochs = new Set([...epochs].filter((e) => /of/.test(e)));
      for (const e of epochs) expect(e).toMatch(/^(0|1|2)(\.\d{1,2})? of 2$/);
      const counter = await page.getByTestId('step-counter').textContent();
      const total = await studioState<number>(page, 's.training.totalSteps');
      expect(counter).toBe(`step ${total} of ${total} · epoch 2 of 2`);

      // What the worker's train call received: exactly the values on the screen.
      const received = await page.evaluate(() => (window as unknown as { __studio: { engine: { lastTrainSettings(): Promise<unknown> } } }).__studio.engine.lastTrainSettings()) as RunSettings;
      expect(received.lora).toEqual({ r: 16, alpha: 32, dropout, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj'], useRslora: false, layers: null });
      expect(received.train).toMatchObject({ learningRate: 0.001, weightDecay: 0.009, warmupRatio: warmup, schedule: 'cosine', maxLength: 64, batchSize: 4, microBatch: 4, epochs: 2 });
      expect(received.eval).toEqual({ evalInterval: 6, logInterval: 1, checkpointInterval: 0 });
      expect(received).toEqual(await settings());
      // The engine's plan is the one the screen showed, and the adapter's config records the same LoRA settings.
      const plan = await studioState<{ microBatch: number; gradAccum: number; seqLen: number }>(page, 's.training.plan');
      expect(shown).toContain(`micro-batch ${plan.microBatch} × ${plan.gradAccum} accumulation · ${plan.seqLen} tokens per row`);
      firstResult = await page.evaluate(() => (window as unknown as { __studio: { controller: { lastResult: { result: { adapterConfig: string } } } } }).__studio.controller.lastResult.result);
      const config = JSON.parse(firstResult!.adapterConfig);
      expect(config).toMatchObject({ r: 16, lora_alpha: 32, lora_dropout: dropout, target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'], base_model_name_or_path: 'adapter-studio/demo' });

      // The loss chart: distinct y labels, curves inside the plot.
      const ticks = await page.getByTestId('y-tick').allTextContents();
      console.log(`[e2e] y ticks: ${ticks.join(', ')}`);
      expect(new Set(ticks).size).toBe(ticks.length);
      const plot = await page.getByTestId('plot-area').evaluate((g) => {
        const svg = (g as SVGGElement).ownerSVGElement!;
        const clip = (svg.querySelector('clipPath rect') as SVGRectElement).getBBox();
        const line = (g.querySelector('[data-testid="train-line"]') as SVGPathElement).getBBox();
        return { clip: [clip.x, clip.y, clip.width, clip.height], line: [line.x, line.y, line.width, line.height], clipped: g.getAttribute('clip-path') };
      });
      expect(plot.clipped).toMatch(/^url\(#/);
      expect(plot.line[1]).toBeGreaterThanOrEqual(plot.clip[1]);
      expect(plot.line[1] + plot.line[3]).toBeLessThanOrEqual(plot.clip[1] + plot.clip[3]);
      // Evaluation metrics, as the engine names them, next to the chart.
      const metrics = await page.locator('[data-testid="eval-metrics"] [data-metric]').evaluateAll((els) => els.map((e) => e.getAttribute('data-metric')));
      expect(metrics).toEqual(expect.arrayContaining(['eval_loss', 'eval_perplexity']));
      const evals = await studioState<{ step: number; metrics: Record<string, number> }[]>(page, 's.training.evals');
      expect(evals.map((e) => e.step)).toEqual(expect.arrayContaining([0, 6, total]));
      for (const name of Object.keys(evals.at(-1)!.metrics)) expect(metrics).toContain(name);
      await page.screenshot({ path: `${shots}/screens-training-done.png`, fullPage: true });
    });
  });

  it('the playground answers at its default settings with the adapter just trained', async () => {
    await timed('playground defaults', async () => {
      await page.getByTestId('tab-playground').click();
      expect(await page.getByTestId('gen-maxNewTokens').inputValue()).toBe('48');
      expect(await page.getByTestId('gen-temperature').inputValue()).toBe('0');
      await page.getByTestId('prompt').fill('What color is the sky?');
      await page.getByTestId('generate').click();
      await page.waitForFunction(() => document.querySelector('[data-testid="generate"]')?.textContent === 'Generate' && document.querySelector('[data-testid="answer-tuned"]')?.getAttribute('data-done') === '1', null, { timeout: 240_000, polling: 250 });
      const notices = (await page.getByTestId('notices').count()) ? await page.getByTestId('notices').textContent() : '';
      expect(notices).not.toMatch(/Generation failed/);
      const tuned = page.getByTestId('answer-tuned');
      expect(await tuned.getAttribute('data-empty'), 'the playground has the adapter just trained').not.toBeNull();
      console.log(`[e2e] playground tuned answer: ${JSON.stringify(await tuned.textContent())} (empty: ${await tuned.getAttribute('data-empty')})`);
      // Out-of-range options are refused at the field, never clamped.
      await page.getByTestId('gen-temperature').fill('5');
      expect(await page.getByTestId('generate').isDisabled()).toBe(true);
      expect(await page.getByText('temperature: 5 is outside 0–2').count()).toBe(1);
      await page.getByTestId('gen-temperature').fill('0');
      await page.screenshot({ path: `${shots}/screens-playground.png` });
    });
  });

  it('an imported adapter’s card shows what its adapter_config.json records, and “—” for what it does not', async () => {
    await timed('library import', async () => {
      await page.getByTestId('tab-training').click();
      const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-zip').click()]);
      const path = join(mkdtempSync(join(tmpdir(), 'studio-screens-dl-')), 'imported-demo.zip');
      await download.saveAs(path);
      await page.getByTestId('tab-library').click();
      const before = await page.getByTestId('library-item').count();
      await page.getByTestId('import-zip').setInputFiles({ name: 'imported-demo.zip', mimeType: 'application/zip', buffer: readFileSync(path) });
      await expect.poll(() => page.getByTestId('library-item').count(), { timeout: 30_000 }).toBe(before + 1);
      const card = page.locator('[data-testid="library-item"]', { hasText: 'imported-demo' });
      const config = JSON.parse(firstResult!.adapterConfig);
      expect(await card.getByTestId('library-base').textContent()).toBe('adapter-studio/demo');
      expect(await card.getByTestId('library-lora').textContent()).toBe(`r 16, alpha 32, dropout ${config.lora_dropout}, q_proj k_proj v_proj o_proj`);
      expect(await card.getByTestId('library-training').textContent()).toBe('lr —, batch —, steps —');
      await page.screenshot({ path: `${shots}/screens-library.png`, fullPage: true });
    });
  });

  it('notices do not stack: a few at most, info ones go by themselves; the share link says “copied” next to its button', async () => {
    await timed('notices and share link', async () => {
      await page.evaluate(() => {
        const st = (window as unknown as { __studio: { store: { getState(): { notify(k: string, t: string): void } } } }).__studio.store.getState();
        for (let i = 0; i < 8; i++) st.notify('info', `note ${i}`);
      });
      expect(await page.locator('[data-testid="notices"] li').count()).toBeLessThanOrEqual(4);
      await expect.poll(() => page.locator('[data-testid="notices"] li[data-kind="info"]').count(), { timeout: 10_000 }).toBe(0);
      await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(baseUrl()).origin });
      await page.getByTestId('tab-hyperparameters').click();
      await page.getByTestId('copy-link').click();
      const said = page.getByTestId('link-copied');
      await said.waitFor();
      const [b, s] = [(await page.getByTestId('copy-link').boundingBox())!, (await said.boundingBox())!];
      expect(Math.abs(b.y + b.height / 2 - (s.y + s.height / 2))).toBeLessThan(b.height);
      expect(s.x).toBeGreaterThan(b.x + b.width - 1);
      expect(s.x - (b.x + b.width)).toBeLessThan(40);
      await page.screenshot({ path: `${shots}/screens-share-link.png` });
    });
  });

  it('after a reload with an unfinished run, the studio opens on Training with Resume, and offers it from any screen', async () => {
    await timed('recovery (compile + 2 steps)', async () => {
      await open('maxlen=64&batch=4&micro=4&steps=6&eval=0&ckpt=2');
      await dropFile(page, 'facts.jsonl', chatJsonl(24));
      await page.getByTestId('stats').waitFor({ timeout: 60_000 });
      await page.getByTestId('tab-hyperparameters').click();
      await page.getByTestId('start-training').click();
      await page.waitForFunction(() => ((window as unknown as { __studio: { store: { getState(): { training: { lastCheckpointStep: number | null } } } } }).__studio.store.getState().training.lastCheckpointStep ?? 0) >= 2, null, { timeout: 300_000, polling: 250 });
      await page.reload();
      await page.getByTestId('interrupted-runs').waitFor({ timeout: 60_000 });
      expect(await studioState<string>(page, 's.screen')).toBe('training');
      expect(await page.getByTestId('interrupted-runs').textContent()).toMatch(/checkpoint at step \d+ of 6/);
      await page.screenshot({ path: `${shots}/screens-recovery.png` });
      await page.getByTestId('tab-model').click();
      await page.getByTestId('resume-banner').waitFor();
      await page.getByTestId('tab-training').click();
      await page.getByTestId('discard-run').click();
      await expect.poll(() => page.getByTestId('interrupted-runs').count()).toBe(0);
    });
  });

  it('hub models: the working model stays until a new one is ready; offline, not found, gated and invalid ids say why', async () => {
    await timed('hub', async () => {
      await open();
      const demoDir = 'dist/web/models/demo';
      let release: () => void = () => {};
      const held = new Promise<void>((r) => (release = r));
      // A hub laid out like huggingface.co (cross-origin: CORS as the real hub answers it).
      const cors = { 'access-control-allow-origin': '*', 'access-control-expose-headers': 'content-range, content-length, accept-ranges' };
      await context.route('https://huggingface.co/**', async (route: Route) => {
        if (route.request().method() === 'OPTIONS') {
          return route.fulfill({ status: 204, headers: { ...cors, 'access-control-allow-headers': 'authorization, range', 'access-control-allow-methods': 'GET' } });
        }
        const url = new URL(route.request().url());
        const [, owner, name, , , file] = url.pathname.split('/');
        if (`${owner}/${name}` === 'HuggingFaceTB/SmolLM2-135M-Instruct') {
          await held; // offline, after a moment during which the demo model must stay in use
          return route.abort('internetdisconnected');
        }
        if (`${owner}/${name}` === 'test-org/gated-demo') {
          if (route.request().headers()['authorization'] !== 'Bearer hf_test_token') return route.fulfill({ status: 401, body: 'gated', headers: cors });
          if (!existsSync(join(demoDir, file))) return route.fulfill({ status: 404, body: 'Entry not found', headers: cors });
          const bytes = readFileSync(join(demoDir, file));
          const range = /bytes=(\d+)-(\d*)/.exec(route.request().headers()['range'] ?? '');
          if (!range) return route.fulfill({ status: 200, body: bytes, headers: { ...cors, 'content-length': String(bytes.length), 'accept-ranges': 'bytes' } });
          const start = Number(range[1]);
          const end = range[2] ? Math.min(Number(range[2]), bytes.length - 1) : bytes.length - 1;
          return route.fulfill({ status: 206, body: bytes.subarray(start, end + 1), headers: { ...cors, 'content-range': `bytes ${start}-${end}/${bytes.length}`, 'accept-ranges': 'bytes' } });
        }
        return route.fulfill({ status: 404, body: 'not found', headers: cors });
      });
      await page.getByTestId('tab-model').click();
      // Offline: the card loads in a pending slot; the demo model stays ready and selected meanwhile and after.
      await page.getByTestId('model-HuggingFaceTB/SmolLM2-135M-Instruct').click();
      await expect.poll(() => studioState<string | undefined>(page, 's.pendingModel?.status')).toBe('loading');
      expect(await studioState<string>(page, 's.model.status')).toBe('ready');
      expect(await page.getByTestId('model-pill').textContent()).toBe('demo');
      release();
      await page.getByTestId('model-error').waitFor({ timeout: 30_000 });
      expect(await page.getByTestId('model-error').textContent()).toMatch(/Could not reach huggingface\.co to download “HuggingFaceTB\/SmolLM2-135M-Instruct”: this computer looks offline/);
      expect(await page.getByTestId('model-error').textContent()).not.toMatch(/^Failed to fetch/);
      expect(await page.getByTestId('model-HuggingFaceTB/SmolLM2-135M-Instruct').getAttribute('aria-checked')).toBe('false');
      expect(await page.getByTestId('model-demo').getAttribute('aria-checked')).toBe('true');
      expect(await studioState<string>(page, 's.model.status')).toBe('ready');
      expect(new URL(page.url()).searchParams.get('model')).toBeNull();
      await page.screenshot({ path: `${shots}/screens-model-offline.png` });
      // Not found.
      await typeInto('hub-id', 'nobody/no-such-model');
      await expect.poll(() => page.getByTestId('model-error').textContent(), { timeout: 30_000 }).toMatch(/huggingface\.co has no model “nobody\/no-such-model”/);
      // An invalid id says why at the field, and loads nothing.
      await typeInto('hub-id', 'https://huggingface.co/HuggingFaceTB/SmolLM2-135M');
      expect(await page.getByTestId('hub-id-error').textContent()).toBe('Paste only the id, “HuggingFaceTB/SmolLM2-135M”, not the page’s address.');
      await typeInto('hub-id', 'SmolLM2');
      expect(await page.getByTestId('hub-id-error').textContent()).toMatch(/owner and a name/);
      // Gated: without a token it says how to get one; with it, the model loads (and only then replaces the demo).
      await typeInto('hub-id', 'test-org/gated-demo');
      await expect.poll(() => page.getByTestId('model-error').textContent(), { timeout: 30_000 }).toMatch(/“test-org\/gated-demo” is gated or private on huggingface\.co.*access token field/);
      await page.getByText('Hugging Face access token').click();
      await page.getByTestId('hub-token').fill('hf_test_token');
      expect(await page.evaluate(() => localStorage.getItem('adapter-studio:hf-token'))).toBeNull();
      await page.getByTestId('hub-load').click();
      await page.waitForFunction(() => (window as unknown as { __studio: { store: { getState(): { model: { status: string; info?: { name: string } } } } } }).__studio.store.getState().model.info?.name === 'test-org/gated-demo', null, { timeout: 120_000 });
      expect(await page.getByTestId('model-pill').textContent()).toBe('test-org/gated-demo');
      // The token never travels in the link, and is stored only when asked.
      expect(page.url()).not.toContain('hf_test_token');
      expect(new URL(page.url()).searchParams.get('model')).toBe('test-org/gated-demo');
      await page.getByTestId('hub-token-remember').check();
      expect(await page.evaluate(() => localStorage.getItem('adapter-studio:hf-token'))).toBe('hf_test_token');
      await page.getByTestId('hub-token-remember').uncheck();
      expect(await page.evaluate(() => localStorage.getItem('adapter-studio:hf-token'))).toBeNull();
      await page.screenshot({ path: `${shots}/screens-model-gated.png`, fullPage: true });
      await context.unroute('https://huggingface.co/**');
    });
  });

  it('one bad line does not make a dataset unusable: skip the bad rows, listed by their real line numbers', async () => {
    await timed('skip bad rows', async () => {
      await open();
      const good = JSON.stringify({ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }] });
      const bad = [good, good, '{"messages": [ {"role": "user", "content": "broken', good, JSON.stringify({ messages: [{ role: 'user', content: 'no answer' }, { role: 'assistant', content: '' }] }), ...Array(20).fill(good)].join('\n');
      await dropFile(page, 'bad.jsonl', bad);
      await page.getByTestId('dataset-errors').waitFor({ timeout: 60_000 });
      const lines = await page.locator('[data-testid="dataset-errors"] li').evaluateAll((els) => els.map((e) => e.getAttribute('data-line')));
      expect(lines).toEqual(['3', '5']);
      await page.getByTestId('skip-bad-rows').click();
      const outcome = await Promise.race([
        page.getByTestId('skipped-rows').waitFor({ timeout: 60_000 }).then(() => 'skipped'),
        page.getByTestId('skip-refused').waitFor({ timeout: 60_000 }).then(() => 'refused'),
      ]);
      const layerSkips = await studioState<boolean>(page, "s.dataset.info != null && 'report' in s.dataset.info");
      if (layerSkips) {
        // The data layer's report (src/data/report.ts): the good rows train, the bad ones stay listed by line.
        expect(outcome).toBe('skipped');
        const skipped = await page.locator('[data-testid="skipped-rows"] li').evaluateAll((els) => els.map((e) => e.getAttribute('data-line')));
        expect(skipped).toEqual(['3', '5']);
        expect(await studioState<string>(page, 's.dataset.status')).toBe('ready');
      } else {
        // This data layer cannot skip rows yet: the screen says so instead of pretending.
        console.log('[e2e] the data layer answered without a report: it cannot skip rows yet (skip-refused shown)');
        expect(outcome).toBe('refused');
      }
      await page.screenshot({ path: `${shots}/screens-dataset-bad-rows.png`, fullPage: true });
    });
  });
});
