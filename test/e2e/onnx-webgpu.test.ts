/**
 * The ONNX export run as a web app runs it: onnxruntime-web's WebGPU execution provider in
 * headless Chromium (SwiftShader's WebGPU adapter), on a page served from 127.0.0.1. A prompt, then
 * one more token fed with the returned KV cache, against the float64 reference (llama.ref.ts) on
 * the weights each variant stores. Models: the demo (llama, tied head), a Llama-3-style model (rope
 * scaling, one kv head) and a Qwen3-style model (GQA, q/k norms, head_dim ≠ hidden/heads, untied head).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { build } from 'esbuild';
import { launchBrowser } from '../helpers/browser';
import { serve } from '../../scripts/serve.mjs';
import { concatParts } from '../../src/formats/export/gguf/format';
import { exportOnnx } from '../../src/formats/export/onnx/export';
import { exportGguf } from '../../src/formats/export';
import { openSafetensors } from '../../src/formats/safetensors';
import { parseHfConfig } from '../../src/formats/hfConfig';
import type { OnnxVariant } from '../../src/formats/export/onnx/decoder';
import { allLogits, maxAbs, maxAbsDiff, source, testModel, type TestModel } from '../unit/export/fixtures';

const root = mkdtempSync(join(tmpdir(), 'onnx-webgpu-'));
let server: { url: string; close: () => Promise<void> };
let browser: Browser;
let page: Page;

const VARIANTS: OnnxVariant[] = ['fp32', 'q8', 'q4'];
const SUFFIX: Record<string, string> = { fp32: '', q8: '_quantized', q4: '_q4' };
/**
 * Max |logits − reference(stored weights)| / max |reference logits| on WebGPU: f32 shaders, but
 * measured up to 1.4e-4 on SwiftShader against 5e-7 on onnxruntime's CPU for the same files on the
 * random models, and up to 5.1e-4 (q4; fp32 2.6e-4) on the pre-trained demo model, whose larger
 * activations (embedding std 0.25, logits up to 15.5) show SwiftShader's inexact f32 more.
 */
const TOL = 1e-3;

beforeAll(async () => {
  symlinkSync(resolve('node_modules/onnxruntime-web/dist'), join(root, 'ort'));
  writeFileSync(join(root, 'index.html'), '<!doctype html><meta charset="utf-8"><title>onnx webgpu</title>');
  server = await serve({ root, port: 0 });
  browser = await launchBrowser();
  page = await browser.newPage();
  page.on('console', (m) => m.type() === 'error' && console.log(`[page] ${m.text()}`));
  await page.goto(`${server.url}index.html`);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  rmSync(root, { recursive: true, force: true });
});

interface PageResult {
  first: number[];
  second: number[];
  presentDims: number[];
  adapter: string;
}

/** Runs prompt `ids` then token `next` with the cache inside the page; returns both logits. */
async function runInPage(url: string, spec: { numLayers: number; numKvHeads: number; headDim: number }, ids: number[], next: number): Promise<PageResult> {
  return page.evaluate(
    async ({ url, spec, ids, next }) => {
      // A plain import() here would be rewritten by vitest's transform; the page must import natively.
      const load = new Function('u', 'return import(u)') as (u: string) => Promise<any>;
      const ort = await load(`${location.origin}/ort/ort.webgpu.bundle.min.mjs`);
      ort.env.wasm.numThreads = 1;
      ort.env.wasm.wasmPaths = `${location.origin}/ort/`;
      const adapter = await (navigator as unknown as { gpu: { requestAdapter(): Promise<{ info?: { vendor?: string; architecture?: string; description?: string } } | null> } }).gpu.requestAdapter();
      const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
      const session = await ort.InferenceSession.create(bytes, { executionProviders: ['webgpu'] });
      const i64 = (v: number[], dims: number[]) => new ort.Tensor('int64', BigInt64Array.from(v.map(BigInt)), dims);
      const feeds: Record<string, unknown> = {
        input_ids: i64(ids, [1, ids.length]),
        attention_mask: i64(ids.map(() => 1), [1, ids.length]),
        position_ids: i64(ids.map((_, i) => i), [1, ids.length]),
      };
      for (let l = 0; l < spec.numLayers; l++) {
        for (const kv of ['key', 'value']) feeds[`past_key_values.${l}.${kv}`] = new ort.Tensor('float32', new Float32Array(0), [1, spec.numKvHeads, 0, spec.headDim]);
      }
      const out1 = await session.run(feeds);
      const T = ids.length + 1;
      const feeds2: Record<string, unknown> = {
        input_ids: i64([next], [1, 1]),
        attention_mask: i64(Array(T).fill(1), [1, T]),
        position_ids: i64([ids.length], [1, 1]),
      };
      for (let l = 0; l < spec.numLayers; l++) {
        for (const kv of ['key', 'value']) feeds2[`past_key_values.${l}.${kv}`] = out1[`present.${l}.${kv}`];
      }
      const out2 = await session.run(feeds2);
      const result = {
        first: Array.from(out1.logits.data as Float32Array),
        second: Array.from(out2.logits.data as Float32Array),
        presentDims: (out2['present.0.key'].dims as number[]).slice(),
        adapter: `${adapter?.info?.vendor ?? '?'} ${adapter?.info?.architecture ?? ''} ${adapter?.info?.description ?? ''}`.trim(),
      };
      await session.release();
      return result;
    },
    { url, spec, ids, next },
  );
}

for (const label of ['demo', 'llama3', 'qwen3'] as const) {
  describe(`ONNX on onnxruntime-web WebGPU in Chromium: ${label}`, () => {
    let m: TestModel;
    let stored: Map<OnnxVariant, Map<string, Float32Array>>;
    beforeAll(async () => {
      m = await testModel(label);
      stored = new Map();
      const files = await exportOnnx(source(m, m.merged), { variants: VARIANTS, effectiveWeights: stored });
      for (const [path, parts] of files) {
        const p = join(root, label, path);
        mkdirSync(dirname(p), { recursive: true });
        writeFileSync(p, concatParts(parts));
      }
    }, 60_000);

    for (const variant of VARIANTS) {
      it(`${variant}: prompt and one cached step match the reference`, async () => {
        const ids = [1, 40, 41, 300, 7, 2, 1, 77];
        const next = 123;
        const r = await runInPage(`/${label}/onnx/model${SUFFIX[variant]}.onnx`, m.spec, ids, next);
        const w = stored.get(variant)!;
        const spec = w.has('lm_head.weight') && m.spec.tieWordEmbeddings ? { ...m.spec, tieWordEmbeddings: false } : m.spec;
        const V = m.spec.vocabSize;
        const ref = allLogits(spec, w, [...ids, next]);
        const scale = maxAbs(ref);
        const d1 = maxAbsDiff(r.first, ref.subarray(0, ids.length * V)) / scale;
        const d2 = maxAbsDiff(r.second, ref.subarray(ids.length * V)) / scale;
        console.log(`[webgpu ${label} ${variant}] adapter ${r.adapter}; max |logits| ${scale.toFixed(2)}, relative error vs ref(stored): prompt ${d1.toExponential(2)}, cached step ${d2.toExponential(2)}`);
        expect(r.adapter.toLowerCase()).toContain('swiftshader');
        expect(r.presentDims).toEqual([1, m.spec.numKvHeads, ids.length + 1, m.spec.headDim]);
        expect(d1).toBeLessThan(TOL);
        expect(d2).toBeLessThan(TOL);
      }, 120_000);
    }
  });
}

describe('the export library in the browser', () => {
  it('bundles without Node APIs and, run in the page on the demo files, writes the same bytes as in Node', async () => {
    const entry = join(root, 'entry.ts');
    const src = resolve('src/formats');
    writeFileSync(entry, `export { exportOnnx, exportGguf } from '${src}/export/index.ts';\nexport { openSafetensors } from '${src}/safetensors.ts';\nexport { parseHfConfig } from '${src}/hfConfig.ts';\n`);
    await build({ entryPoints: [entry], bundle: true, platform: 'browser', format: 'esm', outfile: join(root, 'export.mjs'), logLevel: 'warning' });
    mkdirSync(join(root, 'demo-src'));
    const names = ['config.json', 'generation_config.json', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors'];
    for (const n of names) symlinkSync(resolve('public/models/demo', n), join(root, 'demo-src', n));

    const inPage: Record<string, string> = await page.evaluate(async (names) => {
      const load = new Function('u', 'return import(u)') as (u: string) => Promise<any>;
      const lib = await load(`${location.origin}/export.mjs`);
      const texts = new Map<string, string>();
      for (const n of names.filter((n: string) => n.endsWith('.json'))) texts.set(n, await (await fetch(`/demo-src/${n}`)).text());
      const st = await lib.openSafetensors(new Uint8Array(await (await fetch('/demo-src/model.safetensors')).arrayBuffer()), 'model.safetensors');
      const model = { spec: lib.parseHfConfig(texts.get('config.json')), config: JSON.parse(texts.get('config.json')!), textFiles: texts, weights: (n: string) => st.readF32(n) };
      const files: Map<string, Uint8Array[]> = new Map([...(await lib.exportOnnx(model, { variants: ['fp32', 'q4', 'q8'] })), ...(await lib.exportGguf(model, { type: 'q8_0', name: 'demo' }))]);
      const out: Record<string, string> = {};
      for (const [path, parts] of files) {
        const blob = new Blob(parts as BlobPart[]);
        const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', await blob.arrayBuffer()));
        out[path] = Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
      }
      return out;
    }, names);

    const texts = new Map<string, string>();
    for (const n of names.filter((n) => n.endsWith('.json'))) texts.set(n, readFileSync(resolve('public/models/demo', n), 'utf8'));
    const st = await openSafetensors(readFileSync(resolve('public/models/demo/model.safetensors')), 'model.safetensors');
    const model = { spec: parseHfConfig(texts.get('config.json')!), config: JSON.parse(texts.get('config.json')!), textFiles: texts, weights: (n: string) => st.readF32(n) };
    const files: Map<string, Uint8Array[]> = new Map([...(await exportOnnx(model, { variants: ['fp32', 'q4', 'q8'] })), ...(await exportGguf(model, { type: 'q8_0', name: 'demo' }))]);
    const inNode: Record<string, string> = {};
    for (const [path, parts] of files) inNode[path] = createHash('sha256').update(concatParts(parts)).digest('hex');
    expect(Object.keys(inPage).sort()).toEqual(Object.keys(inNode).sort());
    expect(inPage).toEqual(inNode);
    console.log(`[browser export] ${Object.keys(inPage).length} files identical to Node's: ${Object.keys(inPage).sort().join(', ')}`);
  }, 120_000);
});
