/**
 * The GGUF exports loaded by llama.cpp itself (node-llama-cpp 3.21.1, its prebuilt CPU binary),
 * compared with the float64 reference (llama.ref.ts) of the merged weights:
 *  - tokenization of text by llama.cpp from our tokenizer metadata = transformers.js's,
 *  - next-token probabilities (what node-llama-cpp exposes of the logits) within a stated tolerance,
 *  - greedy tokens equal to the reference's,
 * for the merged model (F32, F16, Q8_0) and for base GGUF + our LoRA GGUF, on the demo model and
 * on generated Qwen2- and Qwen3-style models.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getLlama, type Llama, type LlamaModel } from 'node-llama-cpp';
import { PreTrainedTokenizer } from '@huggingface/transformers';
import { concatParts } from '../../../src/formats/export/gguf/format';
import { exportGgufAdapter, exportGgufModel, type GgufModelType } from '../../../src/formats/export/gguf/export';
import { mergedWeights } from '../../../src/formats/export/merge';
import { allLogits, maxAbs, referenceGreedy, softmax, source, testAdapter, testModel, type TestModel } from './fixtures';

const dir = mkdtempSync(join(tmpdir(), 'gguf-llamacpp-'));
let llama: Llama;

beforeAll(async () => {
  llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
}, 60_000);
afterAll(async () => {
  await llama?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

async function write(name: string, parts: Uint8Array[]): Promise<string> {
  const path = join(dir, name);
  writeFileSync(path, concatParts(parts));
  return path;
}

interface RunResult {
  greedy: number[];
  /** next-token probabilities at every position of prompt + reference continuation [T, V] */
  probs: Float64Array;
}

/**
 * llama.cpp's next-token probabilities at every position of `tokens` (one teacher-forced pass), and
 * its own greedy decoding of `steps` tokens after `prompt`.
 */
async function runLlama(model: LlamaModel, prompt: number[], tokens: number[], steps: number, vocab: number, lora?: string): Promise<RunResult> {
  // One thread: on a shared 2-core machine llama.cpp's spinning worker threads make each token take ~0.6 s.
  // An F32 KV cache (llama.cpp's default is F16) so that the F32 file can be held to f32 accuracy.
  const context = await model.createContext({ contextSize: 128, batchSize: 128, sequences: 1, threads: 1, experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32', lora: lora ? { adapters: [{ filePath: lora, scale: 1 }] } : undefined });
  try {
    const seq = context.getSequence();
    const res = await seq.controlledEvaluate(tokens.map((t) => [t, { generateNext: { probabilities: true } }]) as never);
    const probs = new Float64Array(tokens.length * vocab);
    res.forEach((r, i) => {
      for (const [t, p] of (r as { next: { probabilities: Map<number, number> } }).next.probabilities) probs[i * vocab + t] = p;
    });
    await seq.clearHistory();
    const greedy: number[] = [];
    for await (const t of seq.evaluate(prompt as never, { temperature: 0 })) {
      greedy.push(t as number);
      if (greedy.length >= steps) break;
    }
    return { greedy, probs };
  } finally {
    await context.dispose();
  }
}

const STEPS = 12;

/**
 * Largest |p − p_ref| allowed per model and file type. The random models' next-token distributions
 * are nearly uniform (p ≈ 1/V), so a logit error barely shows in p; the pre-trained demo's are peaked
 * (logits up to 16), where dp ≈ p(1 − p)·dlogit, so the same llama.cpp arithmetic shows up to ~25×
 * larger. Measured on the demo: f32 4.9e-4, f16 1.6e-3, q8_0 3.3e-2; the random models: ≤ 2.9e-5, ≤ 5.4e-4 (q8_0).
 */
const TOLERANCE: Record<string, Record<GgufModelType, number>> = {
  demo: { f32: 1e-3, f16: 3e-3, q8_0: 5e-2 },
  llama3: { f32: 1e-4, f16: 1e-4, q8_0: 2e-3 },
  qwen2: { f32: 1e-4, f16: 1e-4, q8_0: 2e-3 },
  qwen3: { f32: 1e-4, f16: 1e-4, q8_0: 2e-3 },
};

/** llama.cpp's greedy decoding ends at an end-of-generation token (not returned); the reference's runs on: compare up to it. */
function untilEos(tokens: number[], eos: number[]): number[] {
  const i = tokens.findIndex((t) => eos.includes(t));
  return i < 0 ? tokens : tokens.slice(0, i);
}
const PROMPT_TEXT = '<|im_start|>user\nWhat color is the sky?<|im_end|>\n<|im_start|>assistant\n';

for (const label of ['demo', 'llama3', 'qwen2', 'qwen3'] as const) {
  describe(`GGUF in llama.cpp: ${label}`, () => {
    let m: TestModel;
    let prompt: number[];
    let ref: { tokens: number[]; margins: number[]; probs: Float64Array; scale: number };
    let all: number[];
    let baseRef: number[];
    beforeAll(async () => {
      m = await testModel(label);
      const tok = new PreTrainedTokenizer(JSON.parse(m.textFiles.get('tokenizer.json')!), JSON.parse(m.textFiles.get('tokenizer_config.json')!));
      prompt = tok.encode(PROMPT_TEXT, { add_special_tokens: false });
      const { tokens, margins } = referenceGreedy(m.spec, m.merged, prompt, STEPS);
      all = [...prompt, ...tokens.slice(0, -1)];
      const logits = allLogits(m.spec, m.merged, all);
      const V = m.spec.vocabSize;
      const probs = new Float64Array(logits.length);
      for (let i = 0; i < all.length; i++) probs.set(softmax(logits.subarray(i * V, (i + 1) * V)), i * V);
      ref = { tokens, margins, probs, scale: maxAbs(logits) };
      baseRef = referenceGreedy(m.spec, m.base, prompt, STEPS).tokens;
    }, 60_000);

    it('the adapter changes the reference (so a dropped adapter would be caught)', () => {
      // The random models' greedy output changes; the pre-trained demo keeps its answer ("The sky is
      // blue.") under a random adapter, so for every model the probabilities must move far more than
      // the tolerance the llama.cpp runs are held to.
      if (label !== 'demo') expect(ref.tokens).not.toEqual(baseRef);
      const logits = allLogits(m.spec, m.base, all);
      const V = m.spec.vocabSize;
      let moved = 0;
      for (let i = 0; i < all.length; i++) {
        const p = softmax(logits.subarray(i * V, (i + 1) * V));
        for (let v = 0; v < V; v++) moved = Math.max(moved, Math.abs(p[v] - ref.probs[i * V + v]));
      }
      console.log(`[gguf ${label}] the adapter moves a probability by up to ${moved.toExponential(2)}`);
      expect(moved).toBeGreaterThan(10 * TOLERANCE[label].f32);
    });

    for (const type of ['f32', 'f16', 'q8_0'] as GgufModelType[]) {
      it(`merged ${type}: llama.cpp tokenizes like transformers.js, and its probabilities and greedy tokens match the reference`, async () => {
        const path = await write(`${label}-merged-${type}.gguf`, await exportGgufModel(source(m, m.merged), { type, name: label }));
        const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
        try {
          expect(model.tokenize(PROMPT_TEXT, true)).toEqual(prompt);
          const run = await runLlama(model, prompt, all, STEPS, m.spec.vocabSize);
          let maxDiff = 0;
          for (let i = 0; i < run.probs.length; i++) maxDiff = Math.max(maxDiff, Math.abs(run.probs[i] - ref.probs[i]));
          console.log(`[gguf ${label} merged ${type}] max |p − p_ref| = ${maxDiff.toExponential(2)}, greedy ${JSON.stringify(run.greedy)} ref ${JSON.stringify(ref.tokens)}`);
          expect(maxDiff).toBeLessThan(TOLERANCE[label][type]);
          let decisive = STEPS;
          if (type === 'q8_0') for (decisive = 0; decisive < STEPS && ref.margins[decisive] > 0.05 * ref.scale; ) decisive++;
          const want = untilEos(ref.tokens.slice(0, decisive), m.spec.eosTokenIds);
          expect(run.greedy.slice(0, want.length)).toEqual(want);
        } finally {
          await model.dispose();
        }
      }, 60_000);
    }

    it('base f32 + LoRA adapter GGUF: same probabilities and greedy tokens as the merged reference', async () => {
      const basePath = await write(`${label}-base-f32.gguf`, await exportGgufModel(source(m, m.base), { type: 'f32', name: label }));
      const loraPath = await write(`${label}-lora.gguf`, exportGgufAdapter(m.spec, m.adapter, { name: `${label}-lora` }));
      const model = await llama.loadModel({ modelPath: basePath, gpuLayers: 0 });
      try {
        const plain = await runLlama(model, prompt, prompt, STEPS, m.spec.vocabSize);
        expect(plain.greedy).toEqual(untilEos(baseRef, m.spec.eosTokenIds));
        const run = await runLlama(model, prompt, all, STEPS, m.spec.vocabSize, loraPath);
        let maxDiff = 0;
        for (let i = 0; i < run.probs.length; i++) maxDiff = Math.max(maxDiff, Math.abs(run.probs[i] - ref.probs[i]));
        console.log(`[gguf ${label} base+lora] max |p − p_ref| = ${maxDiff.toExponential(2)}`);
        expect(maxDiff).toBeLessThan(TOLERANCE[label].f32);
        expect(run.greedy).toEqual(untilEos(ref.tokens, m.spec.eosTokenIds));
      } finally {
        await model.dispose();
      }
    }, 60_000);
  });
}

describe('GGUF LoRA in llama.cpp: rsLoRA, a rank_pattern and a layer subset (scales folded into lora_b)', () => {
  it('base + adapter match the merged float64 reference', async () => {
    const m = await testModel('qwen2');
    const adapter = testAdapter(m.spec, 9, { useRslora: true, layers: [1], targetModules: ['q_proj', 'k_proj', 'v_proj', 'down_proj'], rankPattern: { 'layers.1.mlp.down_proj': 2 }, alpha: 16 });
    const read = mergedWeights(m.spec, (n) => m.base.get(n)!, adapter);
    const merged = new Map<string, Float32Array>();
    for (const k of m.base.keys()) merged.set(k, await read(k));
    const tok = new PreTrainedTokenizer(JSON.parse(m.textFiles.get('tokenizer.json')!), JSON.parse(m.textFiles.get('tokenizer_config.json')!));
    const prompt = tok.encode(PROMPT_TEXT, { add_special_tokens: false });
    const ref = referenceGreedy(m.spec, merged, prompt, STEPS).tokens;
    expect(ref).not.toEqual(referenceGreedy(m.spec, m.base, prompt, STEPS).tokens);
    const all = [...prompt, ...ref.slice(0, -1)];
    const logits = allLogits(m.spec, merged, all);
    const V = m.spec.vocabSize;
    const basePath = await write('qwen2-rs-base.gguf', await exportGgufModel(source(m, m.base), { type: 'f32' }));
    const loraPath = await write('qwen2-rs-lora.gguf', exportGgufAdapter(m.spec, adapter));
    const model = await llama.loadModel({ modelPath: basePath, gpuLayers: 0 });
    try {
      const run = await runLlama(model, prompt, all, STEPS, V, loraPath);
      let maxDiff = 0;
      for (let i = 0; i < all.length; i++) {
        const p = softmax(logits.subarray(i * V, (i + 1) * V));
        for (let j = 0; j < V; j++) maxDiff = Math.max(maxDiff, Math.abs(run.probs[i * V + j] - p[j]));
      }
      console.log(`[gguf qwen2 rsLoRA base+lora] max |p − p_ref| = ${maxDiff.toExponential(2)}`);
      expect(maxDiff).toBeLessThan(1e-4);
      expect(run.greedy).toEqual(ref);
    } finally {
      await model.dispose();
    }
  }, 60_000);
});
