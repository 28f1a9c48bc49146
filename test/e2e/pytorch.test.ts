// "Run on GPUs (PyTorch)…" through the real controls, in headless Chromium: the studio's run as the
// Transformers + PEFT project (issue 18), for the demo chat model and for the demo encoder's
// classifier, and the round trip — the folder that project's train.py writes, imported into the
// library as a zip with its training record, then sent on as a run that continues it. Each download is
// checked as a user of it would: train.py compiles, its settings block says what the fields said,
// and `train.py --check-only` (Debian's python3, no ML packages) accepts the rows and plans the batch.
// The exporters themselves are tested in Node (test/unit/export/pytorch*.test.ts).
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { unzipSync, zipSync } from 'fflate';
import type { BrowserContext, Page } from 'playwright-core';
import { artifactDir, openProfilePage } from '../helpers/browser';
import { openStudio, studioState } from '../helpers/studioPage';
import { classifierOutput, labelsConfig } from '../helpers/seqClsFolder';
import { python, readTrainPyBlock } from '../helpers/trainPy';
import { SETTINGS_BEGIN, SETTINGS_END } from '../../src/formats/export/pytorchScript';

let context: BrowserContext;
let page: Page;
const shots = artifactDir();

beforeAll(async () => {
  ({ context, page } = await openProfilePage('studio-pytorch-', { width: 1280, height: 900 }));
});

afterAll(async () => {
  await context?.close();
});

/** Clicks `button`, saves the zip it downloads, unpacks it; returns the project's folder. */
async function downloadProject(click: () => Promise<void>): Promise<{ dir: string; name: string; files: string[] }> {
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 300_000 }), click()]);
  const dir = mkdtempSync(join(tmpdir(), 'studio-pytorch-dl-'));
  const entries = unzipSync(new Uint8Array(readFileSync(await download.path())));
  for (const [name, bytes] of Object.entries(entries)) {
    if (name.endsWith('/')) continue;
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), bytes);
  }
  // One folder at the top of the zip, or the files themselves.
  const top = readdirSync(dir);
  const root = top.length === 1 && statSync(join(dir, top[0])).isDirectory() ? join(dir, top[0]) : dir;
  const files: string[] = [];
  const walk = (d: string) => {
    for (const f of readdirSync(d)) (statSync(join(d, f)).isDirectory() ? walk(join(d, f)) : files.push(relative(root, join(d, f))));
  };
  walk(root);
  return { dir: root, name: download.suggestedFilename(), files: files.sort() };
}

/** python3 -m py_compile and --check-only on 1 and 2 processes; returns the one-process plan. */
function checkProject(dir: string, batch: number): Record<string, unknown> {
  const compiled = python(['-m', 'py_compile', join(dir, 'train.py')]);
  expect(compiled.status, compiled.stderr).toBe(0);
  let one: Record<string, unknown> = {};
  for (const world of [1, 2]) {
    const r = python([join(dir, 'train.py'), '--check-only'], { env: { WORLD_SIZE: String(world) } });
    expect(r.status, r.stderr).toBe(0);
    const plan = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(plan.effective_batch).toBe(batch);
    if (world === 1) one = plan;
  }
  return one;
}

describe('Run on GPUs (PyTorch)…', () => {
  it('on the demo chat model: the project holds the run as the fields set it, its rows and the bundled model, and train.py checks it', async () => {
    await openStudio(page, inject('baseUrl'));
    await page.getByTestId('tab-dataset').click();
    await page.getByTestId('use-sample').click();
    await page.waitForFunction(() => (window as unknown as { __studio: { store: { getState(): { dataset: { status: string } } } } }).__studio.store.getState().dataset.status === 'ready', null, { timeout: 120_000 });
    await page.getByTestId('tab-hyperparameters').click();
    // Two knobs set by hand: what the project trains with is what the fields say.
    await page.getByTestId('lr').fill('3e-3');
    await page.keyboard.press('Tab');
    await page.getByTestId('batch-size').fill('4');
    await page.keyboard.press('Tab');
    await expect.poll(() => studioState(page, 's.settings.train.learningRate')).toBe(0.003);
    await expect.poll(() => studioState(page, 's.settings.train.batchSize')).toBe(4);
    const button = page.getByTestId('export-pytorch');
    await expect.poll(() => button.isEnabled(), { timeout: 60_000 }).toBe(true);
    const project = await downloadProject(() => button.click());
    expect(project.name).toMatch(/-pytorch\.zip$/);
    for (const f of ['train.py', 'run.json', 'README.md', 'requirements.txt', 'accelerate/single_gpu.yaml', 'accelerate/multi_gpu.yaml', 'accelerate/fsdp.yaml', 'accelerate/deepspeed_zero2.yaml', 'data/train.jsonl', 'tokenizer/tokenizer.json', 'tokenizer/chat_template.jinja', 'model/config.json', 'model/model.safetensors']) {
      expect(project.files, f).toContain(f);
    }
    const run = JSON.parse(readFileSync(join(project.dir, 'run.json'), 'utf8')) as { settings: unknown; dataset: { train: { rows: number } } };
    expect(run.settings).toEqual(await studioState(page, 's.settings'));
    const block = readTrainPyBlock(join(project.dir, 'train.py'), SETTINGS_BEGIN, SETTINGS_END);
    expect(block.LEARNING_RATE).toBe(0.003);
    expect(block.BATCH_SIZE).toBe(4);
    const plan = checkProject(project.dir, 4);
    expect(plan.train_rows).toBe(run.dataset.train.rows);
    expect(readFileSync(join(project.dir, 'train.py'), 'utf8')).toMatch(/^OBJECTIVE = "causal-lm"/m);
    await page.screenshot({ path: `${shots}/pytorch-export-chat.png`, timeout: 120_000 }); // the GPU process may be compiling the next run's kernels (SwiftShader)
  });

  it('on the demo encoder: a classifier project (AutoModelForSequenceClassification, the labels), and train.py checks it', async () => {
    await openStudio(page, inject('baseUrl'), 'model=demo-bert');
    await page.getByTestId('tab-dataset').click();
    await page.getByTestId('use-sample').click();
    await page.waitForFunction(() => (window as unknown as { __studio: { store: { getState(): { dataset: { status: string } } } } }).__studio.store.getState().dataset.status === 'ready', null, { timeout: 120_000 });
    await page.getByTestId('tab-hyperparameters').click();
    const button = page.getByTestId('export-pytorch');
    await expect.poll(() => button.isEnabled(), { timeout: 60_000 }).toBe(true);
    const project = await downloadProject(() => button.click());
    for (const f of ['train.py', 'run.json', 'data/train.jsonl', 'data/validation.jsonl', 'tokenizer/tokenizer.json', 'model/config.json']) expect(project.files, f).toContain(f);
    const train = readFileSync(join(project.dir, 'train.py'), 'utf8');
    expect(train).toMatch(/^OBJECTIVE = "classification"/m);
    expect(train).toMatch(/^PROBLEM_TYPE = "single_label_classification"/m);
    expect(train).toMatch(/^LABELS = \["negative", "neutral", "positive"\]/m);
    const batch = await studioState<number>(page, 's.settings.train.batchSize');
    const plan = checkProject(project.dir, batch);
    expect(plan.problem_type).toBe('single_label_classification');
    expect((plan.train_label_counts as number[]).length).toBe(3);
    expect((plan.train_label_counts as number[]).every((n) => n > 0)).toBe(true);
  });

  it('back into the library: the Trainer’s output (zip) imports with its metrics and how it was trained; Run on GPUs… on it continues it', async () => {
    const root = mkdtempSync(join(tmpdir(), 'studio-pytorch-output-'));
    classifierOutput(root);
    const entries: Record<string, Uint8Array> = {};
    const walk = (d: string) => {
      for (const f of readdirSync(d)) {
        const p = join(d, f);
        if (statSync(p).isDirectory()) walk(p);
        else entries[`output/${relative(root, p)}`] = new Uint8Array(readFileSync(p));
      }
    };
    walk(root);
    await page.getByTestId('tab-library').click();
    await page.getByTestId('import-zip').setInputFiles({ name: 'output.zip', mimeType: 'application/zip', buffer: Buffer.from(zipSync(entries)) });
    const card = page.locator('[data-testid="library-item"]', { hasText: 'output' });
    await card.waitFor({ timeout: 60_000 });
    await expect.poll(() => card.getByTestId('library-metrics').textContent()).toBe('accuracy 0.9286, F1 0.9280');
    expect(await card.getByTestId('library-trained-with').textContent()).toMatch(/^PyTorch \(.*\): 1 process × 8 rows × 1 accumulation, bf16; transformers 4\.57\.3, peft 0\.18\.0, torch 2\.9\.1$/);
    await page.screenshot({ path: `${shots}/pytorch-imported.png`, timeout: 120_000 });
    const project = await downloadProject(() => card.getByTestId('library-pytorch').click());
    expect(project.files).toEqual(expect.arrayContaining(['init_adapter/adapter_model.safetensors', 'init_adapter/adapter_config.json', 'init_adapter/config.json']));
    expect(readFileSync(join(project.dir, 'init_adapter/adapter_model.safetensors'))).toEqual(readFileSync(join(root, 'adapter_model.safetensors')));
    expect(readFileSync(join(project.dir, 'init_adapter/config.json'), 'utf8')).toBe(labelsConfig());
    const train = readFileSync(join(project.dir, 'train.py'), 'utf8');
    expect(train).toMatch(/^INIT_ADAPTER_STEPS = 10\b/m);
    expect(train).toMatch(/^LABELS = \["negative", "neutral", "positive"\]/m);
    checkProject(project.dir, await studioState<number>(page, 's.settings.train.batchSize'));
  });
});
