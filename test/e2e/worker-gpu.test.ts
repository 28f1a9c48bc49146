import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { artifactDir, launchBrowser } from '../helpers/browser';
import { matmulRef } from '../../src/engine/kernels/matmul/matmul.ref';
import { gridValues } from '../helpers/random';
import { expectClose } from '../helpers/compare';
import { TOLERANCES } from '../helpers/tolerances';

let browser: Browser;
let page: Page;

beforeAll(async () => {
  browser = await launchBrowser();
  page = await browser.newPage();
  page.on('console', (m) => m.type() === 'error' && console.log(`[page] ${m.text()}`));
  await page.goto(inject('baseUrl'));
});

afterAll(async () => {
  await browser?.close();
});

describe('the page gets a WebGPU device inside its worker', () => {
  it('shows the adapter the worker found', async () => {
    const name = page.getByTestId('adapter-name');
    await name.waitFor({ timeout: 60_000 });
    const text = await name.textContent();
    console.log(`[e2e] worker adapter: ${text}`);
    expect(text?.toLowerCase()).toContain('swiftshader');
    await page.screenshot({ path: `${artifactDir()}/gpu-status.png` });
  });

  it("the worker's matmul matches_reference", async () => {
    const [M, N, K] = [19, 33, 41];
    const a = gridValues(M * K, 5);
    const b = gridValues(N * K, 6);
    const got = await page.evaluate(
      async ({ a, b, M, N, K }) => {
        const engine = (window as unknown as { __studio: { engine: { matmul: Function } } }).__studio.engine;
        const out: Float32Array = await engine.matmul(new Float32Array(a), new Float32Array(b), M, N, K, true);
        return Array.from(out);
      },
      { a: Array.from(a), b: Array.from(b), M, N, K },
    );
    const want = matmulRef(a, b, new Float64Array(M * N), { M, N, K, transB: true });
    expectClose(got, want, TOLERANCES.matmul, 'matmul in the browser worker');
  });
});
