// Time to the first optimizer step in the studio, in headless Chromium (WebGPU on SwiftShader):
//
//   npx vite build && npx tsx bench/first-step-browser.ts [dist/web] [--runs N] [--responsive]
//
// The studio compiles the next run's kernels in the background once a model and a dataset are
// ready (the Hyperparameters screen's "GPU kernels ready"). Each session opens the built site, loads
// the demo model, drops a small chat dataset and presses Start, in one of two ways:
//
//   waited    Start once the kernels are ready: (a) page open → kernels ready (and from the model
//             ready, and from the dataset read), (b) Start → first step;
//   at once   Start as soon as the background compile has begun: (c) Start → first step (the run
//             waits for that compile).
//
// Each way runs in a fresh profile ("cold": no GPU shader cache of Chromium's) and then again in the
// same profile ("warm"). Times come from the page's own clock (performance.now, 0 at navigation),
// taken by a store subscription installed before the app starts, so no polling interval adds to them.
// The studio's defaults but rows of at most 64 tokens and one step. bench/first-step.ts times the
// engine's side on dawn.node.
//
// --responsive: whether the page stays usable while the background compile holds Chromium's GPU
// process (SwiftShader compiles on the CPU). The "waited" sessions then animate a bar on every
// animation frame and record the frames Chromium actually paints (a DevTools screencast: each
// frame composited and read back), and, once a second while the compile runs and for 5 s after it,
// click between two tabs and time click → the next animation frame, and time one screenshot. The
// table compares the compile's window with the idle one after it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { serve } from '../scripts/serve.mjs';
import { launchPersistent } from '../test/helpers/browser';
import { dropFile, studioState } from '../test/helpers/studioPage';

const QUERY = 'maxlen=64&steps=1&eval=0&ckpt=0';

type Way = 'waited' | 'at once';

/** Page-clock milliseconds of what the store went through (null: it did not happen). */
interface Marks {
  modelReady: number | null;
  datasetReady: number | null;
  kernelsCompiling: number | null;
  kernelsReady: number | null;
  started: number | null;
  firstStep: number | null;
  kernels: number | null;
  startupKernels: number | null;
}

/**
 * Installed before the page's scripts run: when the app publishes its store, note the time of each
 * first. Plain JavaScript text, so that no helper of the TypeScript loader (esbuild's __name) is
 * missing in the page.
 */
const MARK_STORE = `(() => {
  const marks = { modelReady: null, datasetReady: null, kernelsCompiling: null, kernelsReady: null, started: null, firstStep: null, kernels: null, startupKernels: null };
  window.__marks = marks;
  let studio;
  Object.defineProperty(window, '__studio', {
    configurable: true,
    get: () => studio,
    set: (value) => {
      studio = value;
      const note = (s) => {
        const now = performance.now();
        const first = (key, yes) => { if (yes && marks[key] === null) marks[key] = now; };
        first('modelReady', s.model.status === 'ready');
        first('datasetReady', s.dataset.status === 'ready');
        first('kernelsCompiling', s.kernels.status === 'compiling');
        if (s.kernels.status === 'ready' && marks.kernelsReady === null) {
          marks.kernelsReady = now;
          marks.kernels = s.kernels.pipelines;
        }
        first('started', s.training.status !== 'idle');
        if (s.training.stepped && marks.firstStep === null) {
          marks.firstStep = now;
          marks.startupKernels = s.training.startupKernels;
        }
      };
      note(value.store.getState());
      value.store.subscribe(note);
    },
  });
})();`;

function rows(count: number): string {
  const facts = [['What color is the sky?', 'The sky is blue.'], ['Where is Paris?', 'Paris is in France.'], ['What do cows drink?', 'Cows drink water.']];
  return Array.from({ length: count }, (_, i) => {
    const [q, a] = facts[i % facts.length];
    return JSON.stringify({ messages: [{ role: 'user', content: q }, { role: 'assistant', content: a }] });
  }).join('\n');
}

async function waitFor(page: Page, select: string, timeout: number): Promise<void> {
  await page.waitForFunction((select) => {
    const studio = (window as unknown as { __studio?: { store: { getState(): unknown } } }).__studio;
    return studio ? new Function('s', `return (${select});`)(studio.store.getState()) : false;
  }, select, { timeout, polling: 50 });
}

/** Installed before the page's scripts run (--responsive): a bar that changes width on every animation frame, so that every frame has something to paint. */
const ANIMATE = `(() => {
  let bar = null;
  const frame = (t) => {
    if (!bar && document.body) {
      bar = document.createElement('div');
      bar.style.cssText = 'position:fixed;top:0;left:0;height:4px;background:#c33;z-index:99999;pointer-events:none';
      document.body.appendChild(bar);
    }
    if (bar) bar.style.width = (Math.floor(t / 16) % 300) + 'px';
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
})();`;

/** What the page did in one window of time: painted frames (screencast), click → next frame, one screenshot. */
interface Span {
  seconds: number;
  /** Frames painted per second, and the longest time between two painted frames (ms). */
  fps: number;
  longestPaintGap: number;
  /** Click on a tab → the next animation frame (ms), the slowest of one a second. */
  slowestClick: number;
  /** A DevTools screenshot (Page.captureScreenshot), ms; null when the window was too short for one. */
  screenshot: number | null;
}

interface Responsiveness {
  compiling: Span;
  idle: Span;
}

/** Starts a DevTools screencast of `page` and returns the (wall-clock) time of every frame it paints. */
async function recordPaints(page: Page): Promise<number[]> {
  const times: number[] = [];
  const cdp = await page.context().newCDPSession(page);
  cdp.on('Page.screencastFrame', (e: { sessionId: number }) => {
    times.push(Date.now());
    void cdp.send('Page.screencastFrameAck', { sessionId: e.sessionId }).catch(() => {});
  });
  await cdp.send('Page.startScreencast', { format: 'jpeg', quality: 10, everyNthFrame: 1 });
  return times;
}

/** Clicks between two tabs once a second, and takes one screenshot after the first click, while `going()`; then what the page did meanwhile. */
async function sample(page: Page, painted: number[], going: () => Promise<boolean>): Promise<Span> {
  const start = Date.now();
  const clicks: number[] = [];
  let screenshot: number | null = null;
  while (await going()) {
    const tick = Date.now();
    clicks.push(await page.evaluate(async (tab) => {
      const t = performance.now();
      (document.querySelector(`[data-testid="tab-${tab}"]`) as HTMLElement).click();
      await new Promise((done) => requestAnimationFrame(done));
      return performance.now() - t;
    }, clicks.length % 2 ? 'hyperparameters' : 'dataset'));
    if (screenshot === null) {
      const t = Date.now();
      await page.screenshot({ timeout: 600_000 });
      screenshot = Date.now() - t;
    }
    await new Promise((done) => setTimeout(done, Math.max(0, 1000 - (Date.now() - tick))));
  }
  await page.getByTestId('tab-hyperparameters').click();
  const end = Date.now();
  const frames = painted.filter((t) => t >= start && t <= end);
  const edges = [start, ...frames, end];
  const longestPaintGap = Math.max(...edges.slice(1).map((t, i) => t - edges[i]));
  return { seconds: (end - start) / 1000, fps: frames.length / ((end - start) / 1000), longestPaintGap, slowestClick: clicks.length ? Math.max(...clicks) : 0, screenshot };
}

/** One studio session in the profile `dir`, Start pressed the `way` given. */
async function session(url: string, dir: string, way: Way, responsive: boolean): Promise<Marks & { adapter: string; weights: string; responsiveness: Responsiveness | null }> {
  const context = await launchPersistent(dir);
  try {
    await context.addInitScript(MARK_STORE);
    const probe = responsive && way === 'waited';
    if (probe) await context.addInitScript(ANIMATE);
    const page = context.pages()[0] ?? (await context.newPage());
    const painted = probe ? await recordPaints(page) : null;
    let responsiveness: Responsiveness | null = null;
    await page.goto(`${url}?${QUERY}`);
    await waitFor(page, "s.model.status === 'ready'", 180_000);
    await dropFile(page, 'rows.jsonl', rows(24));
    await page.getByTestId('stats').waitFor({ timeout: 120_000 });
    await page.getByTestId('tab-hyperparameters').click();
    await page.locator('[data-testid="memory-estimate"][data-fits="1"]').waitFor({ timeout: 60_000 });
    if (way === 'waited') {
      if (painted) {
        await waitFor(page, "s.kernels.status !== 'idle'", 60_000);
        const compiling = await sample(page, painted, () => studioState<boolean>(page, "s.kernels.status === 'compiling'"));
        const endIdle = Date.now() + 5000;
        const idle = await sample(page, painted, async () => Date.now() < endIdle);
        responsiveness = { compiling, idle };
      }
      await waitFor(page, "s.kernels.status !== 'idle' && s.kernels.status !== 'compiling'", 600_000);
      const k = await studioState<{ status: string; message?: string; reason?: string }>(page, 's.kernels');
      if (k.status !== 'ready') throw new Error(`the background compile ended ${k.status}: ${k.message ?? k.reason}`);
    } else {
      await waitFor(page, "s.kernels.status === 'compiling'", 60_000);
    }
    await page.getByTestId('start-training').click();
    await waitFor(page, "s.training.stepped || s.training.status === 'failed'", 600_000);
    const failed = await studioState<string | null>(page, "s.training.status === 'failed' ? s.training.error : null");
    if (failed) throw new Error(`the run failed: ${failed}`);
    const marks = await page.evaluate(() => (window as unknown as { __marks: Marks }).__marks);
    const adapter = await studioState<string>(page, 's.model.info.backend');
    const weights = await studioState<string>(page, 's.training.plan ? s.training.plan.weights : "?"');
    return { ...marks, adapter, weights, responsiveness };
  } finally {
    await context.close();
  }
}

const args = process.argv.slice(2);
const at = args.indexOf('--runs');
const runs = at >= 0 ? Number(args[at + 1]) : 2;
const responsive = args.includes('--responsive');
const root = args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--runs') ?? 'dist/web';
const server = await serve({ root, port: 0 });
try {
  const results: (Awaited<ReturnType<typeof session>> & { cache: 'cold' | 'warm'; way: Way })[] = [];
  for (let i = 0; i < runs; i++) {
    for (const way of ['waited', 'at once'] as const) {
      const dir = mkdtempSync(join(tmpdir(), 'first-step-browser-'));
      try {
        for (const cache of ['cold', 'warm'] as const) {
          const r = await session(server.url, dir, way, responsive);
          results.push({ ...r, cache, way });
          console.error(`run ${i + 1} ${way} ${cache}: ${JSON.stringify(r)}`);
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  const s = (ms: number | null) => (ms === null ? '—' : `${(ms / 1000).toFixed(2)} s`);
  const span = (a: number | null, b: number | null) => (a === null || b === null ? null : b - a);
  const list = (xs: (number | null)[]) => xs.map(s).join(', ');
  console.log(`first step of the demo model in Chromium (${results[0].adapter}), ${results[0].weights} weights, ${runs} runs each`);
  console.log('');
  console.log('| profile | page → model ready | page → kernels ready | model ready → kernels ready | dataset read → kernels ready | kernels | Start → first step, kernels ready (b) | Start → first step, Start at once (c) | kernels after Start (c) |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const cache of ['cold', 'warm'] as const) {
    const w = results.filter((r) => r.cache === cache && r.way === 'waited');
    const o = results.filter((r) => r.cache === cache && r.way === 'at once');
    console.log(`| ${cache} | ${list(w.map((r) => r.modelReady))} | ${list(w.map((r) => r.kernelsReady))} | ${list(w.map((r) => span(r.modelReady, r.kernelsReady)))} | ${list(w.map((r) => span(r.datasetReady, r.kernelsReady)))} | ${w.map((r) => r.kernels).join(', ')} | ${list(w.map((r) => span(r.started, r.firstStep)))} | ${list(o.map((r) => span(r.started, r.firstStep)))} | ${o.map((r) => r.startupKernels).join(', ')} |`);
  }
  if (responsive) {
    const probed = results.filter((r) => r.responsiveness);
    const ms = (x: number | null) => (x === null ? '—' : `${Math.round(x)} ms`);
    console.log('');
    console.log('while the kernels compile in the background, against the 5 s after (--responsive: a bar animated on every frame; frames painted per the DevTools screencast)');
    console.log('');
    console.log('| profile | window | seconds | frames painted /s | longest time between painted frames | slowest click → next frame | screenshot |');
    console.log('|---|---|---:|---:|---:|---:|---:|');
    for (const r of probed) {
      for (const which of ['compiling', 'idle'] as const) {
        const w = r.responsiveness![which];
        console.log(`| ${r.cache} | ${which} | ${w.seconds.toFixed(1)} | ${w.fps.toFixed(0)} | ${ms(w.longestPaintGap)} | ${ms(w.slowestClick)} | ${ms(w.screenshot)} |`);
      }
    }
  }
} finally {
  await server.close();
}
process.exit(0);
