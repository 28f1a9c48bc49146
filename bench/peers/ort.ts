// onnxruntime-web with its WebGPU execution provider, on a MatMul/Gemm graph built by hand
// (bench/onnx.ts). In Node on dawn.node, ORT-web 1.30's WebGPU EP compiles its shader and then
// never completes a run (its wasm build waits on WebGPU callbacks that dawn.node does not deliver to
// it, and its writeBuffer views a SharedArrayBuffer that dawn.node rejects), so it runs in headless
// Chromium on a page served from 127.0.0.1 — Chromium's WebGPU is SwiftShader, the same driver as
// dawn.node's default here. Timing is wall clock from session.run to queue.onSubmittedWorkDone, with
// inputs and output resident on the GPU.
import { fileURLToPath } from 'node:url';
import { serve } from '../../scripts/serve.mjs';
import { launchBrowser } from '../../test/helpers/browser';
import { median, type Measurement, type RepeatOptions } from '../harness';
import { onnxMatmulModel } from '../onnx';
import type { MatmulCase } from '../shapes';

export interface OrtSession {
  /** The adapter Chromium's WebGPU reported, e.g. "google swiftshader". */
  adapter: string;
  run(c: MatmulCase, options: RepeatOptions): Promise<Measurement>;
  close(): Promise<void>;
}

/** What runs inside the page; a string so the bundler's helpers never leak into it. */
const PAGE_RUN = `async ({ model, dimsA, dimsB, repeats, maxMs, warmup }) => {
  const ort = await import('/node_modules/onnxruntime-web/dist/ort.webgpu.bundle.min.mjs');
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = 'error';
  const session = await ort.InferenceSession.create(new Uint8Array(model), {
    executionProviders: ['webgpu'], preferredOutputLocation: 'gpu-buffer', graphOptimizationLevel: 'all',
  });
  const device = await ort.env.webgpu.device;
  const make = (dims, seed) => {
    const n = dims[0] * dims[1];
    const data = new Float32Array(n);
    let s = seed;
    for (let i = 0; i < n; i++) { s = (s * 1103515245 + 12345) >>> 0; data[i] = s / 4294967296 * 2 - 1; }
    const buffer = device.createBuffer({ label: 'ort bench input', size: Math.ceil(n * 4 / 16) * 16,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(buffer, 0, data);
    return ort.Tensor.fromGpuBuffer(buffer, { dataType: 'float32', dims });
  };
  const feeds = { A: make(dimsA, 1), B: make(dimsB, 2) };
  const once = async () => {
    const start = performance.now();
    const out = await session.run(feeds);
    await device.queue.onSubmittedWorkDone();
    const ms = performance.now() - start;
    out.Y.dispose();
    return ms;
  };
  for (let i = 0; i < warmup; i++) await once();
  const samples = [];
  let total = 0;
  while (samples.length < repeats) {
    const ms = await once();
    samples.push(ms); total += ms;
    if (samples.length >= Math.min(3, repeats) && total >= maxMs) break;
  }
  await session.release();
  return samples;
}`;

const PAGE_ADAPTER = `async () => {
  const adapter = await navigator.gpu?.requestAdapter();
  if (!adapter) return 'no adapter';
  const info = adapter.info || {};
  return [info.vendor, info.architecture, info.description].filter(Boolean).join(' ');
}`;

/** Starts the server and the browser; fails with a reason the runner records as a skip. */
export async function openOrtPeer(): Promise<OrtSession> {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const server = await serve({ root, port: 0 });
  const browser = await launchBrowser();
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${server.url}/bench/peers/ort.html`);
  const adapter = String(await page.evaluate(`(${PAGE_ADAPTER})()`));
  return {
    adapter,
    async run(c, options) {
      const { tokens: T, inF, outF } = c;
      // The same products as ours: X·Wᵀ (Gemm transB), dY·W (MatMul), dYᵀ·X (Gemm transA).
      const graph =
        c.layout === 'fwd X·Wᵀ'
          ? { M: T, N: outF, K: inF, transB: true, dimsA: [T, inF], dimsB: [outF, inF] }
          : c.layout === 'dX = dY·W'
            ? { M: T, N: inF, K: outF, dimsA: [T, outF], dimsB: [outF, inF] }
            : { M: outF, N: inF, K: T, transA: true, dimsA: [T, outF], dimsB: [T, inF] };
      const model = Array.from(onnxMatmulModel(graph));
      const arg = { model, dimsA: graph.dimsA, dimsB: graph.dimsB, repeats: options.repeats, maxMs: options.maxCaseSeconds * 1000, warmup: options.warmup ?? 1 };
      const samples = (await page.evaluate(`(${PAGE_RUN})(${JSON.stringify(arg)})`)) as number[];
      if (errors.length) throw new Error(`ORT-web page error: ${errors.join('; ')}`);
      return {
        group: 'matmul', name: c.name, impl: 'ort-web', ms: median(samples), samples, timing: 'wall-clock', flops: c.flops,
        where: `headless Chromium (${adapter})`,
      };
    },
    async close() {
      await browser.close();
      await server.close();
    },
  };
}
