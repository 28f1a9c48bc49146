/**
 * The ONNX export loaded by transformers.js in Node (AutoModelForCausalLM and the text-generation
 * pipeline on onnxruntime-node's CPU backend, whose binaries ship inside the onnxruntime-node npm
 * package: the .npmrc's onnxruntime-node-install=skip only skips its optional CUDA download),
 * compared with the float64 reference (llama.ref.ts):
 *
 *  - logits of the whole prompt, against the reference on the merged weights and on the weights
 *    the variant actually stores (after f16 rounding or dequantization: this checks the quantized
 *    layouts exactly);
 *  - greedy generation through transformers.js's KV-cache loop against the reference's greedy
 *    tokens, and batched left-padded generation against the same tokens row by row.
 *
 * Tolerances on logits, as max |logits − reference| / max |reference logits|:
 *   fp32 vs merged 1e-5 · q4 vs its stored weights 1e-5 · fp16 / q4f16 vs their stored weights
 *   2e-3 (f16 activations) · q8 / uint8 vs their stored weights 3e-2 (onnxruntime's CPU graph
 *   optimizer turns DequantizeLinear → MatMul into an integer matmul with dynamically quantized
 *   activations; with graphOptimizationLevel 'basic' they are held to 1e-5 and exact greedy tokens).
 * Quantization error against the merged weights is printed, not asserted.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AutoModelForCausalLM, AutoTokenizer, env, pipeline, Tensor, type PreTrainedModel, type PreTrainedTokenizer } from '@huggingface/transformers';
import { f16ToF32 } from '../../../src/formats/dtype';
import { concatParts } from '../../../src/formats/export/gguf/format';
import { exportOnnx } from '../../../src/formats/export/onnx/export';
import type { OnnxVariant } from '../../../src/formats/export/onnx/decoder';
import type { ModelSpec } from '../../../src/formats/hfConfig';
import { allLogits, maxAbs, maxAbsDiff, referenceGreedy, source, testModel, type TestModel } from './fixtures';

const root = mkdtempSync(join(tmpdir(), 'onnx-tjs-'));
env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = root;
afterAll(() => rmSync(root, { recursive: true, force: true }));

const VARIANTS: OnnxVariant[] = ['fp32', 'fp16', 'q8', 'uint8', 'q4', 'q4f16'];
/** uint8 differs from q8 only by its zero point: one model is enough (keeps this file's time down). */
const variantsOf = (label: string) => VARIANTS.filter((v) => v !== 'uint8' || label === 'qwen2');
/** Relative logits tolerance (rtol × max |reference logits|) and which reference it is held to. */
const TOL: Record<OnnxVariant, { ref: 'merged' | 'stored'; atol: number }> = {
  fp32: { ref: 'merged', atol: 1e-5 },
  q4: { ref: 'stored', atol: 1e-5 },
  fp16: { ref: 'stored', atol: 2e-3 },
  q4f16: { ref: 'stored', atol: 2e-3 },
  q8: { ref: 'stored', atol: 3e-2 },
  int8: { ref: 'stored', atol: 3e-2 },
  uint8: { ref: 'stored', atol: 3e-2 },
};
const STEPS = 10;

function logitsOf(t: Tensor): Float32Array {
  if (t.type === 'float16') {
    const d = t.data as unknown;
    if (d instanceof Uint16Array) return f16ToF32(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
    return Float32Array.from(d as ArrayLike<number>);
  }
  return t.data as Float32Array;
}

function chatIds(tokenizer: PreTrainedTokenizer, messages: { role: string; content: string }[]): number[] {
  const text = tokenizer.apply_chat_template(messages, { add_generation_prompt: true, tokenize: false }) as string;
  return tokenizer.encode(text, { add_special_tokens: false });
}

const ids64 = (ids: number[]) => new Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]);

for (const label of ['demo', 'llama3', 'qwen2', 'qwen3'] as const) {
  describe(`ONNX in transformers.js: ${label}`, () => {
    let m: TestModel;
    let stored: Map<OnnxVariant, Map<string, Float32Array>>;
    let tokenizer: PreTrainedTokenizer;
    let prompt: number[];
    const messages = [{ role: 'user', content: 'What color is the sky?' }];
    /** End-of-sequence ids: min_new_tokens keeps transformers.js from choosing them, so the reference skips them too. */
    let EOS: number[] = [];

    beforeAll(async () => {
      m = await testModel(label);
      EOS = m.spec.eosTokenIds;
      stored = new Map();
      const files = await exportOnnx(source(m, m.merged), { variants: variantsOf(label), effectiveWeights: stored });
      for (const [path, parts] of files) {
        const p = join(root, label, path);
        mkdirSync(dirname(p), { recursive: true });
        writeFileSync(p, concatParts(parts));
      }
      tokenizer = await AutoTokenizer.from_pretrained(label);
      prompt = chatIds(tokenizer, messages);
    }, 60_000);

    /** The reference on a variant's stored weights (its head stored apart when it is not the embedding). */
    const storedRef = (variant: OnnxVariant): { spec: ModelSpec; weights: Map<string, Float32Array> } => {
      const w = stored.get(variant)!;
      return { spec: w.has('lm_head.weight') && m.spec.tieWordEmbeddings ? { ...m.spec, tieWordEmbeddings: false } : m.spec, weights: w };
    };

    for (const variant of variantsOf(label)) {
      it(`${variant}: logits match the reference, and greedy generation gives the reference's tokens`, async () => {
        const model: PreTrainedModel = await AutoModelForCausalLM.from_pretrained(label, { dtype: variant, device: 'cpu' });
        try {
          const out = await model({ input_ids: ids64(prompt), attention_mask: ids64(prompt.map(() => 1)) });
          const logits = logitsOf(out.logits);
          const s = storedRef(variant);
          const refMerged = allLogits(m.spec, m.merged, prompt);
          const scale = maxAbs(refMerged);
          const vsMerged = maxAbsDiff(logits, refMerged) / scale;
          const vsStored = maxAbsDiff(logits, allLogits(s.spec, s.weights, prompt)) / scale;
          const tol = TOL[variant];
          const measured = tol.ref === 'merged' ? vsMerged : vsStored;

          const refRun = tol.ref === 'merged' ? referenceGreedy(m.spec, m.merged, prompt, STEPS, EOS) : referenceGreedy(s.spec, s.weights, prompt, STEPS, EOS);
          const gen = (await model.generate({ input_ids: ids64(prompt), attention_mask: ids64(prompt.map(() => 1)), max_new_tokens: STEPS, min_new_tokens: STEPS, do_sample: false })) as Tensor;
          const tokens = Array.from(gen.data as BigInt64Array, Number).slice(prompt.length);
          // Compare while the reference's decision is clear of the runtime's error (2× the logits tolerance).
          let decisive = 0;
          while (decisive < STEPS && refRun.margins[decisive] > 2 * tol.atol * scale) decisive++;
          console.log(
            `[onnx ${label} ${variant}] max |logits| ${scale.toFixed(2)}; relative error vs ref(merged) ${vsMerged.toExponential(2)}, vs ref(stored) ${vsStored.toExponential(2)}; ` +
              `greedy ${JSON.stringify(tokens)} ref ${JSON.stringify(refRun.tokens)} (compared ${decisive}/${STEPS})`,
          );
          expect(measured).toBeLessThan(tol.atol);
          // fp32 and q4 compute with exactly the stored weights in f32: every step must agree. The f16 and
          // 8-bit variants agree wherever the reference's top-2 margin exceeds their error.
          if (variant === 'fp32' || variant === 'q4') expect(decisive).toBe(STEPS);
          expect(tokens.slice(0, decisive)).toEqual(refRun.tokens.slice(0, decisive));
        } finally {
          await model.dispose();
        }
        if (variant === 'q8' || variant === 'uint8') {
          // Without onnxruntime's CPU fusion (session_options as transformers.js passes them through)
          // the 8-bit file computes with exactly its stored weights: hold it to fp32 accuracy.
          const exact = await AutoModelForCausalLM.from_pretrained(label, { dtype: variant, device: 'cpu', session_options: { graphOptimizationLevel: 'basic' } });
          try {
            const s = storedRef(variant);
            const ref = allLogits(s.spec, s.weights, prompt);
            const out = await exact({ input_ids: ids64(prompt), attention_mask: ids64(prompt.map(() => 1)) });
            const err = maxAbsDiff(logitsOf(out.logits), ref) / maxAbs(ref);
            const gen = (await exact.generate({ input_ids: ids64(prompt), attention_mask: ids64(prompt.map(() => 1)), max_new_tokens: STEPS, min_new_tokens: STEPS, do_sample: false })) as Tensor;
            const tokens = Array.from(gen.data as BigInt64Array, Number).slice(prompt.length);
            console.log(`[onnx ${label} ${variant} basic-optimization] relative error vs ref(stored) ${err.toExponential(2)}; greedy ${JSON.stringify(tokens)}`);
            expect(err).toBeLessThan(1e-5);
            expect(tokens).toEqual(referenceGreedy(s.spec, s.weights, prompt, STEPS, EOS).tokens);
          } finally {
            await exact.dispose();
          }
        }
      }, 60_000);
    }

    it('with num_logits_to_keep: all logits when it is 0, and the same greedy tokens when transformers.js feeds 1', async () => {
      const files = await exportOnnx(source(m, m.merged), { variants: ['q4'], logitsToKeep: true });
      for (const [path, parts] of files) {
        const p = join(root, `${label}-keep`, path);
        mkdirSync(dirname(p), { recursive: true });
        writeFileSync(p, concatParts(parts));
      }
      const model = await AutoModelForCausalLM.from_pretrained(`${label}-keep`, { dtype: 'q4', device: 'cpu' });
      try {
        const s = storedRef('q4');
        const ref = allLogits(s.spec, s.weights, prompt);
        const out = await model({ input_ids: ids64(prompt), attention_mask: ids64(prompt.map(() => 1)) });
        expect(out.logits.dims).toEqual([1, prompt.length, m.spec.vocabSize]);
        expect(maxAbsDiff(logitsOf(out.logits), ref) / maxAbs(ref)).toBeLessThan(1e-5);
        const gen = (await model.generate({ input_ids: ids64(prompt), attention_mask: ids64(prompt.map(() => 1)), max_new_tokens: STEPS, min_new_tokens: STEPS, do_sample: false })) as Tensor;
        expect(Array.from(gen.data as BigInt64Array, Number).slice(prompt.length)).toEqual(referenceGreedy(s.spec, s.weights, prompt, STEPS, EOS).tokens);
        const last = await model({ input_ids: ids64(prompt), attention_mask: ids64(prompt.map(() => 1)), num_logits_to_keep: new Tensor('int64', [1n], []) });
        expect(last.logits.dims).toEqual([1, 1, m.spec.vocabSize]);
        expect(maxAbsDiff(logitsOf(last.logits), ref.subarray((prompt.length - 1) * m.spec.vocabSize)) / maxAbs(ref)).toBeLessThan(1e-5);
      } finally {
        await model.dispose();
      }
    }, 60_000);

    it('fp32 through pipeline("text-generation") with the chat template, batched and left-padded', async () => {
      const ref = referenceGreedy(m.spec, m.merged, prompt, STEPS, EOS).tokens;
      const generator = await pipeline('text-generation', label, { dtype: 'fp32', device: 'cpu' });
      try {
        const out = (await generator(messages as never, { max_new_tokens: STEPS, min_new_tokens: STEPS, do_sample: false })) as { generated_text: { role: string; content: string }[] }[];
        const reply = out[0].generated_text.at(-1)!;
        expect(reply.role).toBe('assistant');
        expect(reply.content).toBe(tokenizer.decode(ref, { skip_special_tokens: true }));

        // Two prompts of different lengths in one left-padded batch: each row continues as it does alone.
        const short = chatIds(tokenizer, [{ role: 'user', content: 'Hi' }]);
        const refShort = referenceGreedy(m.spec, m.merged, short, STEPS, EOS).tokens;
        const T = prompt.length;
        const pad = m.spec.eosTokenIds[0];
        const rows = [prompt, [...Array(T - short.length).fill(pad), ...short]];
        const mask = [prompt.map(() => 1), [...Array(T - short.length).fill(0), ...short.map(() => 1)]];
        const model = generator.model;
        const gen = (await model.generate({
          input_ids: new Tensor('int64', BigInt64Array.from(rows.flat().map(BigInt)), [2, T]),
          attention_mask: new Tensor('int64', BigInt64Array.from(mask.flat().map(BigInt)), [2, T]),
          max_new_tokens: STEPS, min_new_tokens: STEPS, do_sample: false,
        })) as Tensor;
        const data = Array.from(gen.data as BigInt64Array, Number);
        const width = T + STEPS;
        expect(data.slice(T, width)).toEqual(ref);
        expect(data.slice(width + T, 2 * width)).toEqual(refShort);
      } finally {
        await generator.dispose();
      }
    }, 60_000);
  });
}
