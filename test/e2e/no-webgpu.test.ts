// A browser without WebGPU gets a page that explains which browsers work, not a broken studio.
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, artifactDir } from '../helpers/browser';

let browser: Browser;

beforeAll(async () => {
  // The same Chromium without the flags that give headless Linux a (software) WebGPU adapter.
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS.filter((a) => !/webgpu|swiftshader/.test(a)) });
});

afterAll(async () => {
  await browser?.close();
});

it('explains which browsers work when there is no WebGPU', async () => {
  const page = await browser.newPage();
  await page.goto(inject('baseUrl'));
  const panel = page.getByTestId('no-webgpu');
  await panel.waitFor({ timeout: 60_000 });
  const text = (await panel.textContent()) ?? '';
  expect(text).toContain('no WebGPU');
  expect(text).toMatch(/Chrome or Edge 113\+/);
  expect(text).toMatch(/Safari 26\+/);
  expect(text).toMatch(/Firefox 141\+/);
  expect(await page.getByTestId('tab-training').count()).toBe(0);
  await page.screenshot({ path: `${artifactDir()}/screen-no-webgpu.png`, fullPage: true });
});
