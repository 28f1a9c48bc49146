// The Library's "Export for…" with an encoder classifier's adapter, in headless Chromium: the demo
// encoder loaded, a SEQ_CLS adapter (LoRA + trained head, its labels' config.json) imported into
// the library, and exported through the real controls for each destination it offers — Python
// PEFT (with the labels), transformers.js (ONNX text-classification), a merged Hugging Face folder
// — as a zip download, and PEFT into a folder. GGUF is not offered. Every downloaded file must be
// byte for byte what the exporters write in Node for the same model and adapter (whose runtime
// checks are test/unit/export/onnx.encoder.transformersjs.test.ts and test/gpu/export/encoder.test.ts).
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { strToU8, unzipSync, zipSync } from 'fflate';
import type { BrowserContext, Page } from 'playwright-core';
import { artifactDir, openProfilePage } from '../helpers/browser';
import { openStudio, studioState } from '../helpers/studioPage';
import { openModelFolder } from '../../src/formats/modelFolder';
import { concatParts, exportModel, openExportSource, readExportAdapter, type ModelExportFormat } from '../../src/formats/export/index';
import { exportTargetsFor } from '../../src/app/exportTargets';
import { encoderTestModel, TASKS, testEncoderAdapter } from '../unit/export/encoderFixtures';
import { folderFiles } from '../helpers/folderFiles';

let context: BrowserContext;
let page: Page;
const shots = artifactDir();
const DEMO = 'dist/web/models/demo-bert';
const NAME = 'encoder-export-test';

const demoFiles = () => folderFiles(DEMO, 'demo-bert');
const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

type AdapterFolder = { 'adapter_model.safetensors': Uint8Array; 'adapter_config.json': string; 'config.json': string };

/** What the Node exporters write for the served demo encoder, this adapter and quantization: path → sha256. */
async function nodeExport(format: ModelExportFormat, adapterFiles: AdapterFolder, quant: string | null): Promise<Map<string, string>> {
  const files = demoFiles();
  const adapter = await readExportAdapter(await openModelFolder(files), adapterFiles);
  const out = await exportModel(format, await openExportSource(files, adapter), adapter, { quant, name: NAME, includeBase: true });
  return new Map([...out].map(([path, parts]) => [path, sha(concatParts(parts))]));
}

beforeAll(async () => {
  ({ context, page } = await openProfilePage('studio-export-encoder-', { width: 1280, height: 900 }));
  await openStudio(page, inject('baseUrl'), 'model=demo-bert');
});

afterAll(async () => {
  await context?.close();
});

describe('Export for… with an encoder classifier’s adapter', () => {
  let adapterFiles: AdapterFolder;

  it('imports a SEQ_CLS adapter of the demo encoder with its labels', async () => {
    expect(await studioState(page, 's.model.info.name')).toBe('demo-bert');
    const m = await encoderTestModel('demo-bert');
    adapterFiles = testEncoderAdapter(m, TASKS.sentiment, 3, { baseModelNameOrPath: 'adapter-studio/demo-bert' }).files;
    const zip = zipSync({
      'adapter_model.safetensors': adapterFiles['adapter_model.safetensors'], 'adapter_config.json': strToU8(adapterFiles['adapter_config.json']), 'config.json': strToU8(adapterFiles['config.json']),
    });
    await page.getByTestId('tab-library').click();
    await page.getByTestId('import-zip').setInputFiles({ name: `${NAME}.zip`, mimeType: 'application/zip', buffer: Buffer.from(zip) });
    const card = page.locator('[data-testid="library-item"]', { hasText: NAME });
    await card.waitFor({ timeout: 60_000 });
    await card.getByTestId('library-export').click();
    await expect.poll(() => card.getByTestId('export-panel').getAttribute('data-kind')).toBe('encoder');
    // The destinations an encoder classifier has: no GGUF.
    expect(exportTargetsFor('encoder').map((t) => t.target)).toEqual(['peft', 'onnx', 'hf']);
    for (const t of ['peft', 'onnx', 'hf']) expect(await card.getByTestId(`export-target-${t}`).count(), t).toBe(1);
    for (const t of ['gguf', 'gguf-adapter']) expect(await card.getByTestId(`export-target-${t}`).count(), t).toBe(0);
    await expect.poll(() => card.getByTestId('export-panel').textContent()).toMatch(/pipeline\("text-classification", folder\)/);
    await page.screenshot({ path: `${shots}/export-encoder-panel.png` });
  });

  for (const t of exportTargetsFor('encoder')) {
    const quant = t.quants.length > 1 ? t.quants[1].value : t.quants[0].value; // not the default where there is a choice
    it(`downloads the ${t.target} export (${quant ?? 'default'}) as a zip with the files the Node exporter writes`, async () => {
      const card = page.locator('[data-testid="library-item"]', { hasText: NAME });
      if (!(await card.getByTestId('export-panel').isVisible())) await card.getByTestId('library-export').click();
      await card.getByTestId(`export-target-${t.target}`).check();
      if (t.quants.length > 1) await card.getByTestId('export-quant').selectOption(quant ?? '');
      const [download] = await Promise.all([page.waitForEvent('download', { timeout: 300_000 }), card.getByTestId('export-zip').click()]);
      const path = join(mkdtempSync(join(tmpdir(), 'studio-export-encoder-dl-')), download.suggestedFilename());
      await download.saveAs(path);
      const entries = unzipSync(new Uint8Array(readFileSync(path)));
      if (t.target === 'peft') {
        expect(download.suggestedFilename()).toBe(`${NAME}.zip`);
        expect(Object.keys(entries).sort()).toEqual(['README.md', 'adapter_config.json', 'adapter_model.safetensors', 'config.json']);
        expect(sha(entries['adapter_model.safetensors'])).toBe(sha(adapterFiles['adapter_model.safetensors']));
        expect(new TextDecoder().decode(entries['config.json'])).toBe(adapterFiles['config.json']);
        return;
      }
      expect(download.suggestedFilename()).toBe(`${NAME}-${t.target}.zip`);
      const got = new Map<string, string>();
      for (const [name, bytes] of Object.entries(entries)) {
        expect(name.startsWith(`${NAME}/`), `${name} is under ${NAME}/`).toBe(true);
        got.set(name.slice(NAME.length + 1), sha(bytes));
      }
      const want = await nodeExport(t.target, adapterFiles, quant);
      expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
      for (const [file, hash] of want) expect(got.get(file), file).toBe(hash);
      const config = JSON.parse(new TextDecoder().decode(entries[`${NAME}/config.json`]));
      expect(config).toMatchObject({ architectures: ['BertForSequenceClassification'], id2label: { 0: 'negative', 1: 'neutral', 2: 'positive' } });
      expect(await studioState(page, 's.exporting')).toBeNull();
      await page.screenshot({ path: `${shots}/export-encoder-${t.target}.png` });
    });
  }

  it('writes the PEFT files into a folder the user picks, the labels’ config.json beside them', async () => {
    await page.evaluate(() => {
      (window as unknown as { showDirectoryPicker: () => Promise<FileSystemDirectoryHandle> }).showDirectoryPicker = () => navigator.storage.getDirectory();
    });
    const card = page.locator('[data-testid="library-item"]', { hasText: NAME });
    if (!(await card.getByTestId('export-panel').isVisible())) await card.getByTestId('library-export').click();
    await card.getByTestId('export-target-peft').check();
    await card.getByTestId('export-folder').click();
    await page.getByTestId('notices').getByText(/Exported .* for Python PEFT into /).waitFor({ timeout: 60_000 });
    const got = new Map(
      await page.evaluate(async (folder) => {
        const out: [string, string][] = [];
        const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle(folder);
        for await (const [name, handle] of (dir as unknown as { entries(): AsyncIterable<[string, FileSystemFileHandle]> }).entries()) out.push([name, await (await handle.getFile()).text()]);
        return out;
      }, NAME),
    );
    expect([...got.keys()].sort()).toEqual(['README.md', 'adapter_config.json', 'adapter_model.safetensors', 'config.json']);
    expect(got.get('config.json')).toBe(adapterFiles['config.json']);
    expect(got.get('adapter_config.json')).toBe(adapterFiles['adapter_config.json']);
  });
});
