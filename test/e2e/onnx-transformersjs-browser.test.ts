/**
 * The ONNX export loaded by transformers.js in the browser, as a web app loads it: transformers.js's
 * web build (bundled by esbuild with the onnxruntime-web it depends on) in headless Chromium,
 * `env.localModelPath` pointing at the served export folders, `device: 'webgpu'` on SwiftShader.
 * Greedy generation through transformers.js's KV-cache loop must give the float64 reference's tokens
 * (on the weights each variant stores) wherever the reference's top-2 margin is clear of WebGPU's
 * error, and the text-generation pipeline must apply the chat template and decode as in Node.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from 'esbuild';
import type { Browser, Page } from 'playwright-core';
import { PreTrainedTokenizer } from '@huggingface/transformers';
import { launchBrowser } from '../helpers/browser';
import { serve } from '../../scripts/serve.mjs';
import { concatParts } from '../../src/formats/export/gguf/format';
import { exportOnnx } from '../../src/formats/export/onnx/export';
import type { OnnxVariant } from '../../src/formats/export/onnx/decoder';
import { allLogits, maxAbs, referenceGreedy, source, testModel, type TestModel } from '../unit/export/fixtures';

const root = mkdtempSync(join(tmpdir(), 'tjs-browser-'));
let server: { url: string; close: () => Promise<void> };
let browser: Browser;
let page: Page;
const STEPS = 8;
/** WebGPU's relative logits error on SwiftShader (see onnx-webgpu.test.ts): greedy steps are compared while the margin exceeds twice this. */
const REL = 5e-4;

beforeAll(async () => {
  const entry = join(root, 'entry.ts');
  writeFileSync(entry, "export { pipeline, AutoModelForCausalLM, AutoTokenizer, Tensor, env } from '@huggingface/transformers';\n");
  await build({ entryPoints: [entry], bundle: true, platform: 'browser', format: 'esm', outfile: join(root, 'tjs.mjs'), logLevel: 'error', absWorkingDir: resolve('.'), nodePaths: [resolve('node_modules')] });
  // the onnxruntime-web that transformers.js depends on, for its .wasm files
  symlinkSync(resolve('node_modules/@huggingface/transformers/node_modules/onnxruntime-web/dist'), join(root, 'ortx'));
  writeFileSync(join(root, 'index.html'), '<!doctype html><meta charset="utf-8"><title>transformers.js</title>');
  server = await serve({ root, port: 0 });
  browser = await launchBrowser();
  page = await browser.newPage();
  page.on('console', (m) => m.type() === 'error' && !m.text().includes('VerifyEachNodeIsAssignedToAnEp') && console.log(`[page] ${m.text()}`));
  await page.goto(`${server.url}index.html`);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  rmSync(root, { recursive: true, force: true });
});

for (const label of ['demo', 'qwen3'] as const) {
  describe(`transformers.js in Chromium (WebGPU): ${label}`, () => {
    let m: TestModel;
    let stored: Map<OnnxVariant, Map<string, Float32Array>>;
    let tokenizer: PreTrainedTokenizer;
    beforeAll(async () => {
      m = await testModel(label);
      stored = new Map();
      const files = await exportOnnx(source(m, m.merged), { variants: ['fp32', 'q4'], effectiveWeights: stored });
      for (const [path, parts] of files) {
        const p = join(root, 'models', label, path);
        mkdirSync(dirname(p), { recursive: true });
        writeFileSync(p, concatParts(parts));
      }
      tokenizer = new PreTrainedTokenizer(JSON.parse(m.textFiles.get('tokenizer.json')!), JSON.parse(m.textFiles.get('tokenizer_config.json')!));
    }, 60_000);

    for (const dtype of ['fp32', 'q4'] as const) {
      it(`${dtype}: pipeline('text-generation') with the chat template gives the reference's greedy continuation`, async () => {
        const messages = [{ role: 'user', content: 'What color is the sky?' }];
        const prompt = tokenizer.encode(tokenizer.apply_chat_template(messages, { add_generation_prompt: true, tokenize: false }) as string, { add_special_tokens: false });
        const w = stored.get(dtype)!;
        const spec = w.has('lm_head.weight') && m.spec.tieWordEmbeddings ? { ...m.spec, tieWordEmbeddings: false } : m.spec;
        // min_new_tokens keeps transformers.js from choosing the end-of-sequence token (the pre-trained demo
        // would after "The sky is blue."): the reference skips it too.
        const ref = referenceGreedy(spec, w, prompt, STEPS, m.spec.eosTokenIds);
        const scale = maxAbs(allLogits(spec, w, prompt));
        let decisive = 0;
        while (decisive < STEPS && ref.margins[decisive] > 2 * REL * scale) decisive++;

        const result = await page.evaluate(
          async ({ label, dtype, messages, prompt, steps }) => {
            const load = new Function('u', 'return import(u)') as (u: string) => Promise<any>;
            const tjs = await load(`${location.origin}/tjs.mjs`);
            tjs.env.allowRemoteModels = false;
            tjs.env.allowLocalModels = true;
            tjs.env.localModelPath = '/models/';
            tjs.env.backends.onnx.wasm.wasmPaths = `${location.origin}/ortx/`;
            tjs.env.backends.onnx.wasm.numThreads = 1;
            const generator = await tjs.pipeline('text-generation', label, { device: 'webgpu', dtype });
            try {
              const ids = new tjs.Tensor('int64', BigInt64Array.from(prompt.map(BigInt)), [1, prompt.length]);
              const mask = new tjs.Tensor('int64', BigInt64Array.from(prompt.map(() => 1n)), [1, prompt.length]);
              const gen = await generator.model.generate({ input_ids: ids, attention_mask: mask, max_new_tokens: steps, min_new_tokens: steps, do_sample: false });
              const tokens = Array.from(gen.data as BigInt64Array, Number).slice(prompt.length);
              const out = await generator(messages, { max_new_tokens: steps, min_new_tokens: steps, do_sample: false });
              return { tokens, reply: out[0].generated_text.at(-1) };
            } finally {
              await generator.dispose();
            }
          },
          { label, dtype, messages, prompt, steps: STEPS },
        );
        console.log(`[tjs-browser ${label} ${dtype}] greedy ${JSON.stringify(result.tokens)} ref ${JSON.stringify(ref.tokens)} (compared ${decisive}/${STEPS}); reply ${JSON.stringify(result.reply.content)}`);
        expect(decisive).toBeGreaterThan(0);
        expect(result.tokens.slice(0, decisive)).toEqual(ref.tokens.slice(0, decisive));
        expect(result.reply.role).toBe('assistant');
        expect(result.reply.content).toBe(tokenizer.decode(result.tokens, { skip_special_tokens: true }));
      }, 180_000);
    }
  });
}
