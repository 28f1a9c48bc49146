// The studio in headless Chromium (WebGPU on SwiftShader): the whole product path on the built-in
// demo model, with screenshots of every screen in test-results/e2e/.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unzipSync, strFromU8 } from 'fflate';
import type { BrowserContext, Page } from 'playwright-core';
import { artifactDir, openProfilePage } from '../helpers/browser';
import { chatJsonl, openStudio } from '../helpers/studioPage';
import { parseHfConfig } from '../../src/formats/hfConfig';
import { readPeftAdapter } from '../../src/formats/peft';

let context: BrowserContext;
let page: Page;
const baseUrl = () => inject('baseUrl');
const shots = artifactDir();

// 20 steps of 4 rows × 64 tokens; every projection adapted and a high learning rate, so the demo
// model's loss falls clearly within the run (it does not know half of these facts). Checkpoints every 4 steps.
const TRAIN_QUERY = 'maxlen=64&batch=4&micro=4&steps=20&lr=0.01&eval=10&ckpt=4&dropout=0&epochs=10&r=16&alpha=32&targets=q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj';
const STEPS = 20;

async function waitForCheckpoint(step: number): Promise<void> {
  const reached = await page.waitForFunction(
    (step) => {
      const t = (window as unknown as { __studio: { store: { getState(): { training: { lastCheckpointStep: number | null; status: string; error: string | null } } } } }).__studio.store.getState().training;
      return (t.lastCheckpointStep ?? 0) >= step || t.status === 'failed' ? { status: t.status, error: t.error } : null;
    },
    step,
    { timeout: 300_000, polling: 250 },
  );
  const { status, error } = (await reached.jsonValue()) as { status: string; error: string | null };
  expect(status, `training failed before the checkpoint of step ${step}: ${error}`).not.toBe('failed');
}

async function dropFile(name: string, text: string): Promise<void> {
  await page.getByTestId('tab-dataset').click();
  await page.evaluate(
    ({ name, text }) => {
      const dt = new DataTransfer();
      dt.items.add(new File([text], name, { type: 'application/x-ndjson' }));
      const zone = document.querySelector('[data-testid="dropzone"]')!;
      zone.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    },
    { name, text },
  );
}

/** Opens the studio and waits for its model (an unfinished run opens the Training screen, not the Model screen). */
async function open(query = ''): Promise<void> {
  await openStudio(page, baseUrl(), query);
}

/** Waits until the run reaches one of `statuses`; a run that fails on the way fails the test with its error. */
async function waitForTraining(status: 'running' | 'done' | 'failed', timeout = 300_000): Promise<void> {
  const wanted = status === 'running' ? ['running', 'done'] : [status];
  const reached = await page.waitForFunction(
    (wanted) => {
      const t = (window as unknown as { __studio: { store: { getState(): { training: { status: string; error: string | null } } } } }).__studio.store.getState().training;
      return wanted.includes(t.status) || t.status === 'failed' || t.status === 'stopped' ? { status: t.status, error: t.error } : null;
    },
    wanted,
    { timeout, polling: 250 },
  );
  const { status: got, error } = (await reached.jsonValue()) as { status: string; error: string | null };
  expect(got, `training ended ${got}: ${error}`).toBe(wanted.includes(got) ? got : wanted[0]);
}

/** Library adapters as the page stores them (IndexedDB through the controller). */
async function libraryFiles(): Promise<{ id: string; name: string; model: number[] }[]> {
  return page.evaluate(async () => {
    const c = (window as unknown as { __studio: { controller: { library: { list(): Promise<{ id: string; name: string }[]>; files(id: string): Promise<{ adapterModel: Uint8Array }> } } } }).__studio.controller;
    const list = await c.library.list();
    return Promise.all(list.map(async (a) => ({ id: a.id, name: a.name, model: Array.from((await c.library.files(a.id)).adapterModel) })));
  });
}

beforeAll(async () => {
  ({ context, page } = await openProfilePage('studio-e2e-'));
});

afterAll(async () => {
  await context?.close();
});

describe('the studio', () => {
  it('opens with the demo model ready and describes the device', async () => {
    await open();
    expect(await page.getByTestId('model-name').textContent()).toBe('demo');
    expect((await page.getByTestId('adapter-name').textContent())?.toLowerCase()).toContain('swiftshader');
    await page.screenshot({ path: `${shots}/screen-model.png`, fullPage: true });
  });

  it('opens a share link with the same settings and ignores hostile parameters as text', async () => {
    const hostile = encodeURIComponent('<img src=x onerror="window.__pwned=1">');
    await open(`r=4&alpha=8&lr=0.0005&targets=q_proj,k_proj,v_proj&batch=16&micro=2&schedule=cosine&seed=7&${hostile}=1&model=javascript:alert(1)`);
    await page.getByTestId('tab-hyperparameters').click();
    expect(await page.getByTestId('rank').inputValue()).toBe('4');
    expect(await page.getByTestId('alpha').inputValue()).toBe('8');
    expect(await page.getByTestId('lr').inputValue()).toBe('5e-4');
    expect(await page.getByTestId('micro-batch').inputValue()).toBe('2');
    expect(await page.getByTestId('batch-size').inputValue()).toBe('16');
    expect(await page.getByTestId('seed').inputValue()).toBe('7');
    expect(await page.getByTestId('schedule').inputValue()).toBe('cosine');
    expect(await page.getByTestId('targets-k_proj').isChecked()).toBe(true);
    expect(await page.getByTestId('targets-o_proj').isChecked()).toBe(false);
    const notices = await page.getByTestId('notices').textContent();
    expect(notices).toContain('Ignored unknown link parameter “<img src=x onerror="window.__pwned=1">”');
    expect(notices).toMatch(/Ignored link parameter “model”/);
    expect(await page.locator('img[src="x"]').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    // The address bar is the share link: the same settings, the hostile parameter gone.
    const url = new URL(page.url());
    expect(url.searchParams.get('r')).toBe('4');
    expect(url.searchParams.get('targets')).toBe('q_proj,k_proj,v_proj');
    expect([...url.searchParams.keys()].some((k) => k.includes('<'))).toBe(false);
    await page.getByTestId('memory-estimate').waitFor();
    await page.screenshot({ path: `${shots}/screen-hyperparameters.png`, fullPage: true });
  });

  it('shows a bad dataset’s errors with their line numbers', async () => {
    await open();
    const good = JSON.stringify({ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }] });
    const bad = [good, good, '{"messages": [ {"role": "user", "content": "broken', good, JSON.stringify({ messages: [{ role: 'user', content: 'no answer' }, { role: 'assistant', content: '' }] }), good].join('\n');
    await dropFile('bad.jsonl', bad);
    const errors = page.getByTestId('dataset-errors');
    await errors.waitFor({ timeout: 60_000 });
    const lines = await errors.locator('li').evaluateAll((els) => els.map((e) => e.getAttribute('data-line')));
    const text = await errors.textContent();
    console.log(`[e2e] dataset errors: ${text}`);
    expect(lines).toContain('3');
    expect(lines).toContain('5');
    expect(text).toMatch(/bad\.jsonl:3/);
    await page.screenshot({ path: `${shots}/screen-dataset-errors.png`, fullPage: true });
  });

  let firstAdapter: number[] = [];
  let zipPath = '';

  it('trains 20 steps on a dropped JSONL, the loss falls, the zip is a valid PEFT adapter, and the playground compares base and tuned', async () => {
    await open(TRAIN_QUERY);
    await dropFile('facts.jsonl', chatJsonl());
    await page.getByTestId('stats').waitFor({ timeout: 60_000 });
    expect(await page.getByTestId('schema').textContent()).toBe('chat');
    expect(await page.getByTestId('stat-rows').textContent()).toBe('48');
    await page.screenshot({ path: `${shots}/screen-dataset.png`, fullPage: true });
    await page.getByTestId('tab-hyperparameters').click();
    const t0 = Date.now();
    await page.getByTestId('start-training').click();
    await waitForTraining('running');
    await page.screenshot({ path: `${shots}/screen-training-running.png`, fullPage: true });
    await waitForTraining('done');
    console.log(`[e2e] ${STEPS} steps (pipeline compilation included) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const chart = page.getByTestId('loss-chart');
    const points = Number(await chart.getAttribute('data-train-points'));
    const first = Number(await chart.getAttribute('data-first-loss'));
    const last = Number(await chart.getAttribute('data-last-loss'));
    console.log(`[e2e] loss ${first.toFixed(4)} → ${last.toFixed(4)} over ${points} steps`);
    expect(points).toBe(STEPS);
    expect(last).toBeLessThan(first - 0.5);
    expect(await page.getByTestId('validation-line').getAttribute('d')).toMatch(/^M.+L/);
    await page.screenshot({ path: `${shots}/screen-training.png`, fullPage: true });

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-zip').click()]);
    const path = join(mkdtempSync(join(tmpdir(), 'studio-dl-')), download.suggestedFilename());
    await download.saveAs(path);
    zipPath = path;
    const files = unzipSync(new Uint8Array(readFileSync(path)));
    expect(Object.keys(files).sort()).toEqual(['README.md', 'adapter_config.json', 'adapter_model.safetensors']);
    const spec = parseHfConfig(JSON.parse(readFileSync('public/models/demo/config.json', 'utf8')));
    const { config, tensors } = await readPeftAdapter({ 'adapter_model.safetensors': files['adapter_model.safetensors'], 'adapter_config.json': strFromU8(files['adapter_config.json']) }, spec);
    expect(config.r).toBe(16);
    expect(config.alpha).toBe(32);
    expect(config.targetModules).toEqual(['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']);
    expect(tensors.size).toBe(spec.numLayers * 7 * 2);
    const b = tensors.get('base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight')!;
    expect(b.some((x) => x !== 0)).toBe(true); // trained: B moved away from its zero init
    expect(strFromU8(files['README.md'])).toContain('PeftModel.from_pretrained');
    const lib = await libraryFiles();
    expect(lib).toHaveLength(1);
    firstAdapter = lib[0].model;

    await page.getByTestId('tab-playground').click();
    await page.getByLabel('max new tokens').fill('8');
    // A fact the pre-trained demo model answers otherwise ("A cat meows."): the data teaches "A cat says meow.".
    await page.getByTestId('prompt').fill('What sound does a cat make?');
    await page.getByTestId('generate').click();
    // Both answers are done when the button reads "Generate" again and the tuned side is filled.
    await page.waitForFunction(() => document.querySelector('[data-testid="generate"]')?.textContent === 'Generate' && document.querySelector('[data-testid="answer-tuned"]')?.getAttribute('data-done') === '1', null, { timeout: 240_000, polling: 250 });
    const base = await page.getByTestId('answer-base').textContent();
    const tuned = await page.getByTestId('answer-tuned').textContent();
    console.log(`[e2e] playground base: ${JSON.stringify(base)} tuned: ${JSON.stringify(tuned)}`);
    expect(tuned).not.toBe(base);
    await page.screenshot({ path: `${shots}/screen-playground.png`, fullPage: true });
  });

  it('finds the adapter in the library after a reload', async () => {
    await open(TRAIN_QUERY);
    await page.getByTestId('tab-library').click();
    await page.getByTestId('library-item').first().waitFor();
    expect(await page.getByTestId('library-item').count()).toBe(1);
    expect(await page.getByTestId('library-name').first().textContent()).toContain('facts.jsonl');
    await page.screenshot({ path: `${shots}/screen-library.png`, fullPage: true });
  });

  it('resumes a run interrupted by a reload to the same adapter as the uninterrupted run', async () => {
    await open(TRAIN_QUERY);
    await dropFile('facts.jsonl', chatJsonl());
    await page.getByTestId('stats').waitFor({ timeout: 60_000 });
    await page.getByTestId('tab-hyperparameters').click();
    await page.getByTestId('start-training').click();
    await waitForCheckpoint(4);
    const stepAtReload = Number(await page.getByTestId('step-counter').getAttribute('data-step'));
    console.log(`[e2e] reloading at step ${stepAtReload}`);
    expect(stepAtReload).toBeLessThan(STEPS);
    await open(TRAIN_QUERY);
    await page.getByTestId('tab-training').click();
    await page.getByTestId('interrupted-runs').waitFor();
    await page.screenshot({ path: `${shots}/screen-training-interrupted.png`, fullPage: true });
    await page.getByTestId('resume-run').click();
    await waitForTraining('done');
    expect(Number(await page.getByTestId('step-counter').getAttribute('data-step'))).toBe(STEPS);
    const lib = await libraryFiles();
    expect(lib).toHaveLength(2);
    const resumed = lib.find((a) => a.model.length && a.model !== firstAdapter)!;
    const same = lib.filter((a) => a.model.length === firstAdapter.length && a.model.every((x, i) => x === firstAdapter[i]));
    expect(resumed).toBeDefined();
    expect(same).toHaveLength(2); // the resumed run's adapter is byte-identical to the uninterrupted one
    expect(await page.getByTestId('interrupted-runs').count()).toBe(0);
  });

  it('stops a run whose GPU device is lost, then resumes it from the last checkpoint', async () => {
    await page.getByTestId('tab-hyperparameters').click();
    await page.getByTestId('start-training').click();
    await waitForCheckpoint(4);
    await page.evaluate(() => (window as unknown as { __studio: { engine: { simulateDeviceLoss(): Promise<void> } } }).__studio.engine.simulateDeviceLoss());
    await waitForTraining('failed');
    expect(await page.getByTestId('training-error').textContent()).toMatch(/GPU device was lost/);
    await page.screenshot({ path: `${shots}/screen-device-lost.png`, fullPage: true });
    await page.getByTestId('resume-after-loss').click();
    await waitForTraining('done');
    const lib = await libraryFiles();
    expect(lib).toHaveLength(3);
    expect(lib.filter((a) => a.model.every((x, i) => x === firstAdapter[i]))).toHaveLength(3);
  });

  it('imports the downloaded zip back into the library, validated', async () => {
    await page.getByTestId('tab-library').click();
    const before = await page.getByTestId('library-item').count();
    await page.getByTestId('import-zip').setInputFiles(zipPath);
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid="library-item"]').length === n + 1, before, { timeout: 60_000 });
    const lib = await libraryFiles();
    const imported = lib.filter((a) => a.model.length === firstAdapter.length && a.model.every((x, i) => x === firstAdapter[i]));
    expect(imported.length).toBe(before + 1);
    // A file that is not an adapter is refused with a message, and nothing is added.
    await page.getByTestId('import-zip').setInputFiles({ name: 'not-an-adapter.zip', mimeType: 'application/zip', buffer: Buffer.from('hello') });
    await page.getByTestId('notices').getByText(/Import failed: .*not-an-adapter\.zip/).waitFor({ timeout: 30_000 });
    expect(await page.getByTestId('library-item').count()).toBe(before + 1);
  });
});
