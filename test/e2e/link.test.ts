// A share link that names a hub model starts no work on its own (issue 13): the studio reads the
// model's config.json and the size of its weights (one ranged read of the safetensors header),
// shows what the model is, its download size and the memory plan of the link's settings, and
// downloads the weights only when the user presses Load. Headless Chromium; the hub is laid out
// like huggingface.co (cross-origin, CORS and Range as the real hub answers them) and serves the
// demo model's files, every request logged.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page, Route } from 'playwright-core';
import { artifactDir, launchBrowser } from '../helpers/browser';
import { studioState } from '../helpers/studioPage';
import { formatBytes } from '../../src/units';

const DEMO = 'dist/web/models/demo';
const REPO = 'test-org/linked-demo';
let browser: Browser;
let context: BrowserContext;
let page: Page;
/** Every request to the hub: file, range and the bytes answered. */
const served: { file: string; range: string | null; bytes: number }[] = [];

beforeAll(async () => {
  browser = await launchBrowser();
  context = await browser.newContext();
  const cors = { 'access-control-allow-origin': '*', 'access-control-expose-headers': 'content-range, content-length, accept-ranges' };
  await context.route('https://huggingface.co/**', async (route: Route) => {
    if (route.request().method() === 'OPTIONS') {
      return route.fulfill({ status: 204, headers: { ...cors, 'access-control-allow-headers': 'authorization, range', 'access-control-allow-methods': 'GET, HEAD' } });
    }
    const url = new URL(route.request().url());
    const [, owner, name, , , ...rest] = url.pathname.split('/');
    const file = rest.join('/');
    let bytes: Buffer;
    try {
      if (`${owner}/${name}` !== REPO || !statSync(join(DEMO, file)).isFile()) throw new Error('no such file');
      bytes = readFileSync(join(DEMO, file));
    } catch {
      served.push({ file, range: null, bytes: 0 });
      return route.fulfill({ status: 404, body: 'Entry not found', headers: cors });
    }
    const range = route.request().headers()['range'] ?? null;
    const m = range ? /bytes=(\d+)-(\d*)/.exec(range) : null;
    if (!m) {
      served.push({ file, range: null, bytes: bytes.length });
      return route.fulfill({ status: 200, body: bytes, headers: { ...cors, 'content-length': String(bytes.length), 'accept-ranges': 'bytes' } });
    }
    const start = Number(m[1]);
    const end = m[2] ? Math.min(Number(m[2]), bytes.length - 1) : bytes.length - 1;
    served.push({ file, range, bytes: end + 1 - start });
    return route.fulfill({ status: 206, body: bytes.subarray(start, end + 1), headers: { ...cors, 'content-range': `bytes ${start}-${end}/${bytes.length}`, 'accept-ranges': 'bytes' } });
  });
  page = await context.newPage();
  page.on('pageerror', (e) => console.log(`[page error] ${e.message}`));
});

afterAll(async () => {
  await browser?.close();
});

describe('a share link naming a hub model', () => {
  it('shows the model, its download size and the memory plan of the link’s settings, and downloads nothing more', async () => {
    await page.goto(`${inject('baseUrl')}?model=${REPO}&r=4&batch=2&maxlen=128`);
    const summary = page.getByTestId('link-model-summary');
    await summary.waitFor({ timeout: 120_000 });
    const weights = statSync(join(DEMO, 'model.safetensors')).size;
    const text = (await summary.textContent())!;
    expect(text).toMatch(/^llama, 2 layers, [\d.]+ k parameters · (.+) to download · this run needs about [\d.]+ [KMGT]iB of GPU memory \(fits\)$/);
    expect(text).toContain(`· ${formatBytes(weights)} to download ·`);
    // The settings came from the link; the model is not loading and no weights were read.
    expect(await studioState(page, 's.settings.lora.r')).toBe(4);
    expect(await studioState(page, 's.settings.train.batchSize')).toBe(2);
    expect(await studioState(page, 's.model.status')).toBe('idle');
    await page.waitForTimeout(1500); // anything started in the background would have asked by now
    const files = new Set(served.map((s) => s.file));
    expect([...files].every((f) => ['config.json', 'model.safetensors.index.json', 'model.safetensors'].includes(f)), [...files].join(', ')).toBe(true);
    const weightReads = served.filter((s) => s.file === 'model.safetensors');
    expect(weightReads.every((s) => s.range !== null), 'the weights are never read whole').toBe(true);
    const read = weightReads.reduce((a, s) => a + s.bytes, 0);
    console.log(`[e2e] link: ${served.length} requests, ${read} of ${weights} weight bytes (the header) read before Load`);
    expect(read).toBeLessThan(Math.min(weights / 4, 256 * 1024));
    await page.screenshot({ path: `${artifactDir()}/link-model.png` });
  });

  it('loads the model when the user presses Load', async () => {
    const before = served.length;
    await page.getByTestId('link-model-load').click();
    await page.waitForFunction(() => (window as unknown as { __studio: { store: { getState(): { model: { status: string } } } } }).__studio.store.getState().model.status === 'ready', null, { timeout: 120_000 });
    const after = served.slice(before);
    const weights = statSync(join(DEMO, 'model.safetensors')).size;
    expect(after.filter((s) => s.file === 'model.safetensors').reduce((a, s) => a + s.bytes, 0)).toBeGreaterThanOrEqual(weights * 0.9);
    expect(await studioState(page, 's.model.info.name')).toBe(REPO);
    expect(await page.getByTestId('link-model').count()).toBe(0);
  });
});
