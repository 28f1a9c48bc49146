// Time to the first optimizer step in the studio, in headless Chromium (WebGPU on SwiftShader):
//
//   npx vite build && npx tsx bench/first-step-browser.ts [dist/web] [--runs N]
//
// Each run opens the built site in a browser with a fresh profile ("cold": no GPU shader cache of
// Chromium's) or with the profile of the run before ("warm"), loads the demo model, drops a small
// chat dataset, and presses Start; the time is from the click to the store's first step
// (training.stepped), the same span bench/first-step.ts measures in Node. The studio's defaults but
// rows of at most 64 tokens and one step. bench/first-step.ts times the same on dawn.node.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { serve } from '../scripts/serve.mjs';
import { launchPersistent } from '../test/helpers/browser';

const QUERY = 'maxlen=64&steps=1&eval=0&ckpt=0';

function rows(count: number): string {
  const facts = [['What color is the sky?', 'The sky is blue.'], ['Where is Paris?', 'Paris is in France.'], ['What do cows drink?', 'Cows drink water.']];
  return Array.from({ length: count }, (_, i) => {
    const [q, a] = facts[i % facts.length];
    return JSON.stringify({ messages: [{ role: 'user', content: q }, { role: 'assistant', content: a }] });
  }).join('\n');
}

async function state<T>(page: Page, select: string): Promise<T> {
  return page.evaluate((select) => {
    const s = (window as unknown as { __studio: { store: { getState(): unknown } } }).__studio.store.getState();
    return new Function('s', `return (${select});`)(s);
  }, select) as Promise<T>;
}

async function waitFor(page: Page, select: string, timeout: number): Promise<void> {
  await page.waitForFunction((select) => {
    const studio = (window as unknown as { __studio?: { store: { getState(): unknown } } }).__studio;
    return studio ? new Function('s', `return (${select});`)(studio.store.getState()) : false;
  }, select, { timeout, polling: 100 });
}

/** One studio session in the profile `dir`: milliseconds from Start to the first step, and the adapter. */
async function firstStep(url: string, dir: string): Promise<{ ms: number; adapter: string; weights: string }> {
  const context = await launchPersistent(dir);
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(`${url}?${QUERY}`);
    await waitFor(page, "s.model.status === 'ready'", 180_000);
    await page.getByTestId('tab-dataset').click();
    await page.getByTestId('dropzone').waitFor();
    await page.evaluate((text) => {
      const dt = new DataTransfer();
      dt.items.add(new File([text], 'rows.jsonl', { type: 'application/x-ndjson' }));
      document.querySelector('[data-testid="dropzone"]')!.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, rows(24));
    await page.getByTestId('stats').waitFor({ timeout: 120_000 });
    await page.getByTestId('tab-hyperparameters').click();
    await page.locator('[data-testid="memory-estimate"][data-fits="1"]').waitFor({ timeout: 60_000 });
    const t0 = Date.now();
    await page.getByTestId('start-training').click();
    await waitFor(page, "s.training.stepped || s.training.status === 'failed'", 600_000);
    const ms = Date.now() - t0;
    const failed = await state<string | null>(page, "s.training.status === 'failed' ? s.training.error : null");
    if (failed) throw new Error(`the run failed: ${failed}`);
    const adapter = await state<string>(page, 's.model.info.backend');
    const weights = await state<string>(page, 's.training.plan ? s.training.plan.weights : "?"');
    return { ms, adapter, weights };
  } finally {
    await context.close();
  }
}

const args = process.argv.slice(2);
const at = args.indexOf('--runs');
const runs = at >= 0 ? Number(args[at + 1]) : 2;
const root = args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--runs') ?? 'dist/web';
const server = await serve({ root, port: 0 });
try {
  const results: { cache: string; ms: number; adapter: string; weights: string }[] = [];
  for (let i = 0; i < runs; i++) {
    const dir = mkdtempSync(join(tmpdir(), 'first-step-browser-'));
    try {
      results.push({ cache: 'cold', ...(await firstStep(server.url, dir)) });
      results.push({ cache: 'warm', ...(await firstStep(server.url, dir)) });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  console.log(`first step of the demo model in Chromium (${results[0].adapter}), ${runs} runs each`);
  for (const cache of ['cold', 'warm']) {
    const xs = results.filter((r) => r.cache === cache).map((r) => r.ms / 1000);
    console.log(`| ${cache} | ${results[0].weights} | ${xs.map((x) => `${x.toFixed(2)} s`).join(', ')} |`);
  }
} finally {
  await server.close();
}
process.exit(0);
