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
import type { Gpu } from '../../src/engine/gpu/device';
import type { Dispatch, Recorder } from '../../src/engine/gpu/recorder';
import { shaderCode } from '../../src/engine/gpu/pipelines';
import { Uniforms } from '../../src/engine/gpu/uniforms';
import { matmulDyTX, matmulDyW, matmulXWt, type MatmulTile } from '../../src/engine/kernels/matmul/matmul';
import { median, type Measurement, type RepeatOptions } from '../harness';
import { onnxMatmulModel } from '../onnx';
import type { MatmulCase } from '../shapes';

export interface OrtSession {
  /** The adapter Chromium's WebGPU reported, e.g. "google swiftshader". */
  adapter: string;
  run(c: MatmulCase, options: RepeatOptions): Promise<Measurement>;
  /**
   * Our matmul kernel (the WGSL and uniforms our launcher records) dispatched in the same page and
   * timed the same way as ORT-web, so the two are compared inside one browser process.
   */
  runOurs(c: MatmulCase, gpu: Gpu, options: RepeatOptions, tile?: MatmulTile): Promise<number[]>;
  close(): Promise<void>;
}

/** The dispatch our launcher would record for a case, captured without a device. */
export function captureMatmulDispatch(c: MatmulCase, gpu: Gpu, tile?: MatmulTile): { code: string; uniforms: number[]; workgroups: number[]; sizes: number[] } {
  const { tokens: T, inF, outF } = c;
  let captured: Dispatch | null = null;
  const rec = { gpu, dispatch: (d: Dispatch) => (captured = d) } as unknown as Recorder;
  const fake = (n: number) => ({ size: n * 4 }) as unknown as GPUBuffer;
  const x = fake(T * inF), w = fake(outF * inF), dy = fake(T * outF);
  const out = fake(Math.max(T * outF, T * inF, outF * inF));
  const extra = tile ? { tile } : {};
  if (c.layout === 'fwd X·Wᵀ') matmulXWt(rec, x, w, out, T, inF, outF, extra);
  else if (c.layout === 'dX = dY·W') matmulDyW(rec, dy, w, out, T, outF, inF, extra);
  else matmulDyTX(rec, dy, x, out, T, outF, inF, extra);
  const d = captured as Dispatch | null;
  if (!d) throw new Error('matmul launcher recorded no dispatch');
  const uniforms = d.uniforms instanceof Uniforms ? d.uniforms.bytes() : (d.uniforms as ArrayBuffer);
  return {
    code: shaderCode(gpu, d.kernel, d.constants ?? {}),
    uniforms: Array.from(new Uint32Array(uniforms)),
    workgroups: [d.workgroups[0], d.workgroups[1] ?? 1, d.workgroups[2] ?? 1],
    sizes: d.bindings.map((b) => ('size' in b ? (b as GPUBuffer).size : 0)),
  };
}

/** Runs a captured dispatch in the page: wall clock from submit to onSubmittedWorkDone. */
const PAGE_RUN_OURS = `async ({ code, uniforms, workgroups, sizes, repeats, maxMs, warmup }) => {
  const adapter = await navigator.gpu.requestAdapter();
  const device = await adapter.requestDevice({ requiredLimits: {
    maxComputeInvocationsPerWorkgroup: adapter.limits.maxComputeInvocationsPerWorkgroup,
    maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
    maxBufferSize: adapter.limits.maxBufferSize } });
  const module = device.createShaderModule({ label: 'ours', code });
  const pipeline = device.createComputePipeline({ label: 'ours', layout: 'auto', compute: { module, entryPoint: 'main' } });
  const u = device.createBuffer({ label: 'ours uniforms', size: uniforms.length * 4, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(u, 0, new Uint32Array(uniforms));
  const buffers = sizes.map((size, i) => {
    const b = device.createBuffer({ label: 'ours ' + i, size: Math.ceil(size / 16) * 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    const data = new Float32Array(b.size / 4);
    for (let j = 0; j < data.length; j++) data[j] = ((j * 2654435761) % 2001) / 1000 - 1;
    device.queue.writeBuffer(b, 0, data);
    return b;
  });
  const bindGroup = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [
    { binding: 0, resource: { buffer: u } }, ...buffers.map((b, i) => ({ binding: i + 1, resource: { buffer: b } }))] });
  const once = async () => {
    const start = performance.now();
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline); pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(workgroups[0], workgroups[1], workgroups[2]);
    pass.end();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    return performance.now() - start;
  };
  for (let i = 0; i < warmup; i++) await once();
  const samples = [];
  let total = 0;
  while (samples.length < repeats) {
    const ms = await once();
    samples.push(ms); total += ms;
    if (samples.length >= Math.min(3, repeats) && total >= maxMs) break;
  }
  device.destroy();
  return samples;
}`;

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
        group: 'matmul-chromium', name: c.name, impl: 'ort-web', ms: median(samples), samples, timing: 'wall-clock', flops: c.flops,
        where: `headless Chromium (${adapter})`,
      };
    },
    async runOurs(c, gpu, options, tile) {
      const captured = captureMatmulDispatch(c, gpu, tile);
      const arg = { ...captured, repeats: options.repeats, maxMs: options.maxCaseSeconds * 1000, warmup: options.warmup ?? 1 };
      const samples = (await page.evaluate(`(${PAGE_RUN_OURS})(${JSON.stringify(arg)})`)) as number[];
      if (errors.length) throw new Error(`page error running our kernel: ${errors.join('; ')}`);
      return samples;
    },
    async close() {
      await browser.close();
      await server.close();
    },
  };
}
