// The Library's "Export for…" in headless Chromium, driven through its real controls: an adapter
// imported into the library is exported for every destination — Python PEFT, transformers.js (ONNX),
// llama.cpp / Ollama / LM Studio (merged GGUF, GGUF LoRA + base), a merged Hugging Face folder — as
// a zip download, and into a folder (the File System Access API on the origin's private file
// system, a real directory handle). Every downloaded file must be byte for byte what the exporters
// write in Node for the same model and adapter: the files the runtime checks load (transformers.js,
// onnxruntime-web, llama.cpp in test/unit/export and test/e2e/onnx-*.test.ts).
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { strToU8, unzipSync, zipSync } from 'fflate';
import type { BrowserContext, Page } from 'playwright-core';
import { artifactDir, openProfilePage } from '../helpers/browser';
import { chatJsonl, dropFile, openStudio, studioState } from '../helpers/studioPage';
import { writePeftAdapter } from '../../src/formats/peft';
import { concatParts, exportModel, openExportSource, type ExportedFiles, type ModelExportFormat } from '../../src/formats/export/index';
import { EXPORT_TARGETS } from '../../src/app/exportTargets';
import { testAdapter } from '../unit/export/fixtures';
import { DEMO_PRESET } from '../../src/settings/settings';
import { folderFiles } from '../helpers/folderFiles';

let context: BrowserContext;
let page: Page;
const shots = artifactDir();
const DEMO = 'dist/web/models/demo';
const NAME = 'export-test';

const demoFiles = () => folderFiles(DEMO, 'demo');
const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** What the Node exporters write for this model, adapter and quantization: path → sha256. */
async function nodeExport(format: ModelExportFormat, adapterFiles: { 'adapter_model.safetensors': Uint8Array; 'adapter_config.json': string }, quant: string | null): Promise<Map<string, string>> {
  const files = demoFiles();
  const source0 = await openExportSource(files, null);
  const { readPeftAdapter } = await import('../../src/formats/peft');
  const adapter = await readPeftAdapter(adapterFiles, source0.folder.spec);
  const out: ExportedFiles = await exportModel(format, await openExportSource(files, adapter), adapter, { quant, name: NAME, includeBase: true });
  return new Map([...out].map(([path, parts]) => [path, sha(concatParts(parts))]));
}

function unzipped(path: string, folder: string): Map<string, string> {
  const entries = unzipSync(new Uint8Array(readFileSync(path)));
  const out = new Map<string, string>();
  for (const [name, bytes] of Object.entries(entries)) {
    expect(name.startsWith(`${folder}/`), `${name} is under ${folder}/`).toBe(true);
    out.set(name.slice(folder.length + 1), sha(bytes));
  }
  return out;
}

beforeAll(async () => {
  ({ context, page } = await openProfilePage('studio-export-', { width: 1280, height: 900 }));
  await openStudio(page, inject('baseUrl'));
});

afterAll(async () => {
  await context?.close();
});

describe('Export for… in the library', () => {
  let adapterFiles: { 'adapter_model.safetensors': Uint8Array; 'adapter_config.json': string };

  it('imports an adapter of the demo model into the library', async () => {
    const { openModelFolder, requireDecoder } = await import('../../src/formats/modelFolder');
    const spec = requireDecoder(await openModelFolder(demoFiles()), 'test').spec;
    // r 4 on every projection with B ≠ 0: the merged weights differ from the base everywhere.
    adapterFiles = writePeftAdapter(spec, testAdapter(spec, 5, { baseModelNameOrPath: 'adapter-studio/demo', targetModules: ['q_proj', 'v_proj', 'o_proj', 'down_proj'] }).config, testAdapter(spec, 5, { baseModelNameOrPath: 'adapter-studio/demo', targetModules: ['q_proj', 'v_proj', 'o_proj', 'down_proj'] }).tensors);
    const zip = zipSync({ 'adapter_model.safetensors': adapterFiles['adapter_model.safetensors'], 'adapter_config.json': strToU8(adapterFiles['adapter_config.json']) });
    await page.getByTestId('tab-library').click();
    await page.getByTestId('import-zip').setInputFiles({ name: `${NAME}.zip`, mimeType: 'application/zip', buffer: Buffer.from(zip) });
    await page.locator('[data-testid="library-item"]', { hasText: NAME }).waitFor({ timeout: 60_000 });
  });

  for (const t of EXPORT_TARGETS) {
    const quant = t.quants.length > 1 ? t.quants[1].value : t.quants[0].value; // not the default where there is a choice
    it(`downloads the ${t.target} export (${quant ?? 'default'}) as a zip with the files the Node exporter writes`, async () => {
      const card = page.locator('[data-testid="library-item"]', { hasText: NAME });
      if (!(await card.getByTestId('export-panel').isVisible())) await card.getByTestId('library-export').click();
      await card.getByTestId(`export-target-${t.target}`).check();
      if (t.quants.length > 1) await card.getByTestId('export-quant').selectOption(quant ?? '');
      // Every progress report the page shows, as the store holds it.
      await page.evaluate(() => {
        const w = window as unknown as { __stages: string[]; __studio: { store: { subscribe(f: (s: { exporting: { stage: string } | null }) => void): void } } };
        w.__stages = [];
        w.__studio.store.subscribe((s) => s.exporting && w.__stages.push(s.exporting.stage));
      });
      const [download] = await Promise.all([page.waitForEvent('download', { timeout: 300_000 }), card.getByTestId('export-zip').click()]);
      const path = join(mkdtempSync(join(tmpdir(), 'studio-export-dl-')), download.suggestedFilename());
      await download.saveAs(path);
      if (t.target === 'peft') {
        expect(download.suggestedFilename()).toBe(`${NAME}.zip`);
        const entries = unzipSync(new Uint8Array(readFileSync(path)));
        expect(Object.keys(entries).sort()).toEqual(['README.md', 'adapter_config.json', 'adapter_model.safetensors']);
        expect(sha(entries['adapter_model.safetensors'])).toBe(sha(adapterFiles['adapter_model.safetensors']));
        return;
      }
      expect(download.suggestedFilename()).toBe(`${NAME}-${t.target}.zip`);
      const got = unzipped(path, NAME);
      const want = await nodeExport(t.target, adapterFiles, quant);
      expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
      for (const [file, hash] of want) expect(got.get(file), file).toBe(hash);
      const stages = await page.evaluate(() => (window as unknown as { __stages: string[] }).__stages);
      expect(stages.length, 'progress was reported').toBeGreaterThan(1);
      expect(await studioState(page, 's.exporting')).toBeNull();
      await page.screenshot({ path: `${shots}/export-${t.target}.png` });
    });
  }

  it('writes an export into a folder the user picks, each file whole', async () => {
    // The origin's private file system stands in for the picker's choice: a real FileSystemDirectoryHandle.
    await page.evaluate(() => {
      (window as unknown as { showDirectoryPicker: () => Promise<FileSystemDirectoryHandle> }).showDirectoryPicker = () => navigator.storage.getDirectory();
    });
    const card = page.locator('[data-testid="library-item"]', { hasText: NAME });
    if (!(await card.getByTestId('export-panel').isVisible())) await card.getByTestId('library-export').click();
    await card.getByTestId('export-target-gguf').check();
    await card.getByTestId('export-quant').selectOption('q8_0');
    await card.getByTestId('export-folder').click();
    await page.getByTestId('notices').getByText(/Exported .*gguf.* into /).waitFor({ timeout: 300_000 });
    const got = new Map(
      await page.evaluate(async (folder) => {
        const out: [string, string][] = [];
        const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle(folder);
        for await (const [name, handle] of (dir as unknown as { entries(): AsyncIterable<[string, FileSystemFileHandle]> }).entries()) {
          const bytes = await (await handle.getFile()).arrayBuffer();
          const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
          out.push([name, [...digest].map((b) => b.toString(16).padStart(2, '0')).join('')]);
        }
        return out;
      }, `${NAME}-gguf`),
    );
    const want = await nodeExport('gguf', adapterFiles, 'q8_0');
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [file, hash] of want) expect(got.get(file), file).toBe(hash);
  });

  it('refuses an adapter trained on another model, saying which to load', async () => {
    const other = { ...adapterFiles, 'adapter_config.json': adapterFiles['adapter_config.json'].replace('adapter-studio/demo', 'HuggingFaceTB/SmolLM2-135M') };
    const zip = zipSync({ 'adapter_model.safetensors': other['adapter_model.safetensors'], 'adapter_config.json': strToU8(other['adapter_config.json']) });
    await page.getByTestId('import-zip').setInputFiles({ name: 'other-base.zip', mimeType: 'application/zip', buffer: Buffer.from(zip) });
    const card = page.locator('[data-testid="library-item"]', { hasText: 'other-base' });
    await card.waitFor({ timeout: 60_000 });
    await card.getByTestId('library-export').click();
    await card.getByTestId('export-target-onnx').check();
    await card.getByTestId('export-zip').click();
    await page.getByTestId('notices').getByText(/trained on HuggingFaceTB\/SmolLM2-135M, but adapter-studio\/demo is loaded/).waitFor({ timeout: 30_000 });
  });
});

describe('the playground’s web-page answer', () => {
  // An adapter that learned something, so that agreement means something: the demo preset on the
  // sample dataset, trained here through the studio's controls (the demo's journey, test/e2e/demo.test.ts).
  // The prompt is one of the sample's; the trained answer is the sample's, the base's is not.
  const sample = readFileSync('public/samples/pirate-talk.jsonl', 'utf8').trim().split('\n').map((line) => (JSON.parse(line) as { messages: { role: string; content: string }[] }).messages);
  const row = sample.find((m) => m[0].content === 'What color is the sky?')!;
  const trained = row[1].content;

  it('answers with the ONNX export in transformers.js (onnxruntime-web, WebGPU): the trained answer, as the studio’s engine does', async () => {
    expect(trained).toBe('The sky is blue. Arr, matey!');
    // A plain visit proposes the demo preset; nothing before this changed it.
    expect(await studioState(page, 's.settings.train.learningRate')).toBe(DEMO_PRESET.train!.learningRate);
    await page.getByTestId('tab-dataset').click();
    await page.getByTestId('use-sample').click();
    await expect.poll(() => studioState(page, 's.dataset.status'), { timeout: 60_000 }).toBe('ready');
    await page.getByTestId('tab-hyperparameters').click();
    await page.getByTestId('start-training').click();
    await expect.poll(() => studioState(page, 's.training.status'), { timeout: 480_000, interval: 1000 }).toBe('done');
    await page.getByTestId('tab-playground').click();
    await page.getByTestId('prompt').fill(row[0].content);
    await page.getByTestId('gen-maxNewTokens').fill('16');
    await page.getByTestId('generate').click();
    await page.locator('[data-testid="answer-tuned"][data-done="1"]').waitFor({ timeout: 120_000 });
    const base = ((await page.getByTestId('answer-base').textContent()) ?? '').trim();
    const engine = ((await page.getByTestId('answer-tuned').textContent()) ?? '').trim();
    await page.getByTestId('onnx-variant').selectOption('fp32');
    await page.getByTestId('onnx-run').click();
    await page.getByTestId('answer-onnx').waitFor({ timeout: 300_000 });
    const onnx = ((await page.getByTestId('answer-onnx').textContent()) ?? '').trim();
    const agreement = page.getByTestId('onnx-agreement');
    console.log(`[e2e] base: ${JSON.stringify(base)}; engine: ${JSON.stringify(engine)}; transformers.js: ${JSON.stringify(onnx)}; ${await agreement.textContent()}`);
    expect(base).not.toBe(trained);
    expect(engine).toBe(trained);
    expect(onnx).toBe(trained);
    expect(await agreement.textContent()).toMatch(/^fp32 on WebGPU · the same answer as the studio’s engine$/);
    expect(await agreement.getAttribute('data-agree')).toBe('1');
    await page.screenshot({ path: `${shots}/playground-onnx.png`, fullPage: true });
  });
});

describe('the playground’s validation examples', () => {
  it('answers the first validation prompts with base and adapter beside the answer the data teaches', async () => {
    // The demo preset holds no rows out: choose a validation split, as a user would.
    await page.getByTestId('tab-dataset').click();
    await page.getByTestId('validation-fraction').fill('0.1');
    await page.getByTestId('validation-fraction').press('Enter');
    await expect.poll(() => studioState(page, 's.settings.data.validationFraction')).toBe(0.1);
    await dropFile(page, 'facts.jsonl', chatJsonl(48));
    await expect.poll(() => studioState(page, 's.dataset.status'), { timeout: 60_000 }).toBe('ready');
    await page.getByTestId('tab-playground').click();
    const panel = page.getByTestId('validation-examples');
    await panel.waitFor({ timeout: 30_000 });
    const rows = panel.getByTestId('validation-example');
    const n = await rows.count();
    expect(n).toBeGreaterThan(0);
    const taught = ['The sky is blue.', 'Cows drink water.', 'Seven is prime.', 'Paris is in France.', 'Two plus two is four.', 'A cat says meow.'];
    for (const r of await panel.getByTestId('validation-reference').allTextContents()) expect(taught).toContain(r.trim());
    await page.getByTestId('gen-maxNewTokens').fill('8');
    await panel.getByTestId('validation-run').click();
    const score = panel.getByTestId('validation-score');
    await score.waitFor({ timeout: 300_000 });
    expect(await score.textContent()).toMatch(new RegExp(`^The trained answer: base \\d of ${n}, with the adapter \\d of ${n}\\.$`));
    // every cell answered, each marked as giving the taught answer or not
    for (const side of ['base', 'tuned']) {
      const marks = await panel.locator(`[data-testid="validation-${side}"]`).evaluateAll((cells) => cells.map((c) => c.getAttribute('data-hit')));
      expect(marks).toHaveLength(n);
      expect(marks.every((m) => m === '0' || m === '1')).toBe(true);
    }
    await page.screenshot({ path: `${shots}/playground-validation.png`, fullPage: true });
  });
});
