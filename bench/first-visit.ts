// What a first visit to the studio downloads: a fresh browser profile opens the built site (a
// dist folder, served on localhost) and waits until the demo model is ready; every response is
// counted (bytes on the wire, by file). Compares trees when given several dist folders.
//
//   npx tsx bench/first-visit.ts dist/web [other/dist …]
import { serve } from '../scripts/serve.mjs';
import { launchBrowser } from '../test/helpers/browser';

async function measure(root: string): Promise<{ total: number; files: [string, number][]; wasm: number }> {
  const server = await serve({ root, port: 0 });
  const browser = await launchBrowser();
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    const sizes = new Map<string, number>();
    const pending: Promise<void>[] = [];
    page.on('requestfinished', (request) => {
      pending.push((async () => {
        const s = await request.sizes();
        const response = await request.response();
        // Worker scripts report no body size: the Content-Length the server sent is the same count.
        const length = Number((await response?.headerValue('content-length')) ?? 0);
        const body = Math.max(s.responseBodySize, length);
        const path = new URL(request.url()).pathname.replace(/^.*\/assets\//, 'assets/');
        sizes.set(path, (sizes.get(path) ?? 0) + body + s.responseHeadersSize);
      })());
    });
    // Workers' requests are reported on the context.
    context.on('requestfinished', () => {});
    await page.goto(server.url);
    await page.getByTestId('model-ready').waitFor({ timeout: 180_000 });
    await page.waitForTimeout(500);
    await Promise.all(pending);
    const files = [...sizes.entries()].sort((a, b) => b[1] - a[1]);
    return { total: files.reduce((n, [, b]) => n + b, 0), files, wasm: files.filter(([f]) => f.endsWith('.wasm')).reduce((n, [, b]) => n + b, 0) };
  } finally {
    await browser.close();
    await server.close();
  }
}

const roots = process.argv.slice(2);
if (!roots.length) roots.push('dist/web');
for (const root of roots) {
  const r = await measure(root);
  console.log(`${root}: ${r.total.toLocaleString('en-US')} bytes on a first visit (${(r.total / 2 ** 20).toFixed(2)} MiB), of which .wasm ${r.wasm.toLocaleString('en-US')}`);
  for (const [f, b] of r.files) console.log(`  ${String(b).padStart(10)}  ${f}`);
}
process.exit(0);
