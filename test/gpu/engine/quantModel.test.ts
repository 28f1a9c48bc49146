// The whole model with a quantized frozen base (q8 per output channel, nf4 in blocks of 64): its
// loss and every LoRA gradient, and a 20-step training trajectory, against the float64 reference
// model run on the dequantized weights (llama.ref.ts storedWeights); and the loads it refuses.
import { describe, expect, it } from 'vitest';
import { arrayDataset } from '../../../src/data/batches';
import { Recorder } from '../../../src/engine/gpu/recorder';
import { readF32 } from '../../../src/engine/gpu/buffers';
import { LlamaGpu, llamaAdapterLayout, type TensorSource } from '../../../src/engine/model/llama';
import { llamaReference, storedWeights } from '../../../src/engine/model/llama.ref';
import { llamaStorage } from '../../../src/engine/model/llamaConfig';
import { uploadAdapter } from '../../../src/engine/model/model';
import { initAdapter } from '../../../src/engine/model/lora';
import { Trainer } from '../../../src/engine/train/trainer';
import { fromF32, toF32 } from '../../../src/formats/dtype';
import { moduleShape, type ModelSpec } from '../../../src/formats/hfConfig';
import { TARGET_MODULES } from '../../../src/settings/settings';
import { expectClose } from '../../helpers/compare';
import { testGpu } from '../../helpers/gpu';
import { examples, LAYOUT, referenceRun, runAll, settings } from '../../helpers/referenceRun';
import { TOLERANCES } from '../../helpers/tolerances';
import { packedBatch, randomAdapter, tinySpec, tinyWeights } from '../../unit/engine/tinyModel';

/**
 * A checkpoint as the model folder serves it: whole tensors, and rows of 2-D tensors as stored
 * bytes (so the loader streams them through uploadQuantized, as it does from safetensors).
 */
function streamingSource(spec: ModelSpec, weights: Map<string, Float32Array>, dtype: 'F32' | 'BF16' = 'F32'): TensorSource & { rowReads: number } {
  const rowsOf = (name: string): number => {
    if (name === 'model.embed_tokens.weight' || name === 'lm_head.weight') return spec.vocabSize;
    const m = TARGET_MODULES.find((t) => name.endsWith(`.${t}.weight`));
    if (!m) throw new Error(`${name} is not a 2-D weight`);
    return moduleShape(spec, m).out;
  };
  const source = {
    rowReads: 0,
    readF32: async (name: string) => toF32(dtype, fromF32(dtype, weights.get(name)!)), // as stored: BF16 rounds
    dtype: () => dtype,
    readRows: async (name: string, row0: number, count: number) => {
      source.rowReads++;
      const w = weights.get(name)!;
      const cols = w.length / rowsOf(name);
      return fromF32(dtype, w.subarray(row0 * cols, (row0 + count) * cols));
    },
  };
  return source;
}

// Widths that give nf4 whole and partial blocks of 64: C 80 (1 + 16/64), I 136 (2 + 8/64).
const WIDE = { hiddenSize: 80, headDim: 20, intermediateSize: 136 };

const CASES = [
  { format: 'q8', kind: 'qwen2' }, // tied table, q/k/v biases (f32 beside a quantized W)
  { format: 'nf4', kind: 'llama' }, // untied LM head
] as const;

describe('a quantized base: the whole model against the float64 model on the dequantized weights', () => {
  for (const { format, kind } of CASES) {
    it(`${kind} with a ${format} base: loss and every LoRA gradient match_reference`, async () => {
      const gpu = await testGpu();
      const spec = tinySpec(kind, WIDE);
      const weights = tinyWeights(spec, 61);
      const source = streamingSource(spec, weights);
      const model = await LlamaGpu.load(gpu, spec, source, { weights: format });
      expect(source.rowReads).toBeGreaterThan(0); // the projections streamed in as rows
      expect(model.description.weightFormat).toBe(format);
      const stored = storedWeights(spec, weights, llamaStorage(format));
      const layout = llamaAdapterLayout(spec, { r: 2, alpha: 4, dropout: 0, targets: [...TARGET_MODULES], layers: null, useRslora: false });
      const params = Float32Array.from(randomAdapter(layout.size, 5, 0.2));
      const adapter = uploadAdapter(gpu, layout, params, { grads: true });
      const batch = packedBatch(spec.vocabSize, 8, 9);
      const N = batch.B * batch.T;
      const ws = model.createWorkspace(N, layout, false);
      model.uploadBatch(ws, batch);
      const rec = new Recorder(gpu, 'train step');
      rec.clear(adapter.grads!);
      model.recordTrain(rec, ws, batch, adapter, 1 / batch.targetTokens);
      await rec.done();
      const lossSum = (await readF32(gpu, ws.tokenLoss, N)).reduce((a, b) => a + b, 0);
      const grads = await readF32(gpu, adapter.grads!, layout.size);
      const ref = llamaReference(spec, stored, batch, { adapter: { layout, params }, grads: true });
      // The quantization matters: the unquantized model's loss is far outside the tolerance.
      const exact = llamaReference(spec, weights, batch, { adapter: { layout, params } });
      expect(Math.abs(exact.loss - ref.loss)).toBeGreaterThan(20 * TOLERANCES.engineLoss.atol);
      expectClose([lossSum / batch.targetTokens], [ref.loss], TOLERANCES.engineLoss, `${format} loss`);
      for (const slot of layout.slots) {
        for (const [which, off, size] of [['A', slot.offsetA, slot.r * slot.in], ['B', slot.offsetB, slot.out * slot.r]] as const) {
          expectClose(grads.subarray(off, off + size), ref.grads!.subarray(off, off + size), TOLERANCES.engineLoraGrads, `${format} layer ${slot.layer} ${slot.module} d${which}`);
        }
      }
      adapter.destroy();
      model.destroyWorkspace(ws);
      model.destroy();
    });

    it(`${kind} with a ${format} base: 20 AdamW steps follow the float64 trajectory on the dequantized weights`, async () => {
      const gpu = await testGpu();
      const spec = tinySpec(kind, WIDE);
      const weights = tinyWeights(spec, 41);
      const model = await LlamaGpu.load(gpu, spec, streamingSource(spec, weights, 'BF16'), { weights: format });
      // the checkpoint held BF16: the reference starts from the same BF16 values
      const bf16 = new Map([...weights].map(([n, w]) => [n, toF32('BF16', fromF32('BF16', w))]));
      const stored = storedWeights(spec, bf16, llamaStorage(format));
      const data = arrayDataset(examples(spec.vocabSize, 12, 3));
      const s = settings({ maxGradNorm: 0.5, weights: format }, { targets: ['q_proj', 'v_proj', 'down_proj'] });
      const trainer = new Trainer(model, data, s, LAYOUT);
      const reports = await runAll(trainer);
      expect(reports.map((r) => r.step)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      const ref = referenceRun(s, LAYOUT, spec, stored, data, 20);
      const result = expectClose(reports.map((r) => r.loss), ref.losses, TOLERANCES.engineTrajectory, `${format} loss trajectory`);
      console.log(`[quant model] ${format}: 20-step loss ${ref.losses[0].toFixed(4)} → ${ref.losses[19].toFixed(4)}; GPU vs float64 max abs error ${result.maxAbs.toExponential(2)}`);
      const params = await trainer.parameters();
      const init = initAdapter(ref.layout, s.train.seed);
      expect(Math.max(...params.map((x, i) => Math.abs(x - init[i])))).toBeGreaterThan(1e-3); // the adapter moved
      expectClose(params, ref.params, { atol: 2e-4, rtol: 1e-3 }, `${format}: adapter after 20 steps`);
      trainer.destroy();
      model.destroy();
    });
  }
});

describe('a quantized load refuses non-finite weights, naming the tensor', () => {
  it('NaN in streamed rows, Inf in a whole tensor, and an nf4 scale that overflows f16', async () => {
    const gpu = await testGpu();
    const spec = tinySpec('llama', WIDE);
    const weights = tinyWeights(spec, 7);
    const name = 'model.layers.1.mlp.up_proj.weight';
    const nan = new Map(weights);
    const bad = Float32Array.from(weights.get(name)!);
    bad[3 * 80 + 5] = NaN;
    nan.set(name, bad);
    // streamed (the model folder's path): the raw rows are scanned before the GPU quantizes them
    for (const dtype of ['F32', 'BF16'] as const) {
      await expect(LlamaGpu.load(gpu, spec, streamingSource(spec, nan, dtype), { weights: 'nf4' })).rejects.toThrow(new RegExp(`tensor "${name}" holds a non-finite value \\(NaN or Inf\\) at index 245`));
    }
    // whole tensors (a reader of f32 arrays)
    const inf = new Map(weights);
    const k = Float32Array.from(weights.get('model.layers.0.self_attn.k_proj.weight')!);
    k[11] = -Infinity;
    inf.set('model.layers.0.self_attn.k_proj.weight', k);
    await expect(LlamaGpu.load(gpu, spec, async (n) => inf.get(n)!, { weights: 'q8' })).rejects.toThrow(/tensor "model.layers.0.self_attn.k_proj.weight" holds a non-finite value \(NaN or Inf\) at index 11/);
    // finite, but beyond f16: nf4's f16 absmax overflows, which the scale scan catches
    const huge = new Map(weights);
    const o = Float32Array.from(weights.get('model.layers.0.self_attn.o_proj.weight')!);
    o[0] = 1e6;
    huge.set('model.layers.0.self_attn.o_proj.weight', o);
    await expect(LlamaGpu.load(gpu, spec, async (n) => huge.get(n)!, { weights: 'nf4' })).rejects.toThrow(/tensor "model.layers.0.self_attn.o_proj.weight" quantizes to a non-finite scale at block 0.*load it with q8 or f32/);
    // q8 keeps an f32 scale: the same weight loads
    const q8 = await LlamaGpu.load(gpu, spec, async (n) => huge.get(n)!, { weights: 'q8' });
    q8.destroy();
  });
});
