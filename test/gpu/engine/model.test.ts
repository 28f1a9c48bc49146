import { describe, expect, it } from 'vitest';
import { dropoutScaleMask } from '../../../src/engine/kernels/philox/philox';
import { Recorder } from '../../../src/engine/gpu/recorder';
import { createBuffer, readF32 } from '../../../src/engine/gpu/buffers';
import { LlamaGpu, dropoutSite } from '../../../src/engine/model/llama';
import { uploadAdapter } from '../../../src/engine/model/model';
import { llamaReference } from '../../../src/engine/model/llama.ref';
import { type LoraSlot } from '../../../src/engine/model/lora';
import { llamaAdapterLayout } from '../../../src/engine/model/llama';
import { TARGET_MODULES } from '../../../src/settings/settings';
import { expectClose } from '../../helpers/compare';
import { f16ToF32, f32ToF16 } from '../../../src/formats/dtype';
import { testGpu } from '../../helpers/gpu';
import { TOLERANCES } from '../../helpers/tolerances';
import { packedBatch, randomAdapter, tinySpec, tinyWeights } from '../../unit/engine/tinyModel';

describe('GPU model forward matches the float64 model', () => {
  for (const kind of ['llama', 'qwen2', 'qwen3'] as const) {
    it(`${kind} logits with a random adapter match_reference`, async () => {
      const gpu = await testGpu();
      const spec = tinySpec(kind);
      const weights = tinyWeights(spec, 21);
      const model = await LlamaGpu.load(gpu, spec, async (name) => weights.get(name)!, { weights: 'f32' });
      const layout = llamaAdapterLayout(spec, { r: 2, alpha: 4, dropout: 0, targets: [...TARGET_MODULES], layers: null, useRslora: false });
      const params = Float32Array.from(randomAdapter(layout.size, 8, 0.2));
      const adapter = uploadAdapter(gpu, layout, params, { grads: true });
      const batch = packedBatch(spec.vocabSize, 8, 3);
      const N = batch.B * batch.T;
      for (const checkpointing of [false, true]) {
        const ws = model.createWorkspace(N, layout, checkpointing);
        model.uploadBatch(ws, batch);
        const logits = createBuffer(gpu, 'logits', N * spec.vocabSize * 4);
        const rec = new Recorder(gpu, 'forward');
        model.forward(rec, ws, batch, adapter);
        model.logits(rec, ws, logits, 0, N);
        await rec.done();
        const got = await readF32(gpu, logits, N * spec.vocabSize);
        const want = llamaReference(spec, weights, batch, { adapter: { layout, params }, logits: true }).logits!;
        expectClose(got, want, TOLERANCES.engineLogits, `${kind} logits`);
        model.destroyWorkspace(ws);
      }
    });
  }
});

describe('GPU loss and every LoRA gradient at step 0 match the float64 model', () => {
  const cases = [
    ['llama', false],
    ['qwen2', true],
    ['qwen3', false],
  ] as const;
  for (const [kind, checkpointing] of cases) {
    it(`${kind}${checkpointing ? ' with gradient checkpointing' : ''} loss and gradients match_reference`, async () => {
      const gpu = await testGpu();
      const spec = tinySpec(kind);
      const weights = tinyWeights(spec, 31);
      const model = await LlamaGpu.load(gpu, spec, async (name) => weights.get(name)!, { weights: 'f32' });
      const layout = llamaAdapterLayout(spec, { r: 2, alpha: 4, dropout: 0, targets: [...TARGET_MODULES], layers: null, useRslora: false });
      const params = Float32Array.from(randomAdapter(layout.size, 5, 0.2));
      const adapter = uploadAdapter(gpu, layout, params, { grads: true });
      const batch = packedBatch(spec.vocabSize, 8, 9);
      const N = batch.B * batch.T;
      const ws = model.createWorkspace(N, layout, checkpointing);
      model.uploadBatch(ws, batch);
      const rec = new Recorder(gpu, 'train step');
      rec.clear(adapter.grads!);
      model.recordTrain(rec, ws, batch, adapter, 1 / batch.targetTokens);
      await rec.done();
      const tokenLoss = await readF32(gpu, ws.tokenLoss, N);
      const lossSum = tokenLoss.reduce((a, b) => a + b, 0);
      const grads = await readF32(gpu, adapter.grads!, layout.size);
      const ref = llamaReference(spec, weights, batch, { adapter: { layout, params }, grads: true });
      expectClose([lossSum / batch.targetTokens], [ref.loss], TOLERANCES.engineLoss, `${kind} loss`);
      for (const slot of layout.slots) {
        for (const [which, off, size] of [['A', slot.offsetA, slot.r * slot.in], ['B', slot.offsetB, slot.out * slot.r]] as const) {
          expectClose(grads.subarray(off, off + size), ref.grads!.subarray(off, off + size), TOLERANCES.engineLoraGrads, `${kind} layer ${slot.layer} ${slot.module} d${which}`);
        }
      }
      model.destroyWorkspace(ws);
      model.destroy();
    });
  }
});

describe('LoRA dropout on the GPU matches the float64 model with the same Philox masks', () => {
  it('llama with dropout 0.25 on every projection: loss and gradients match_reference', async () => {
    const gpu = await testGpu();
    const spec = tinySpec('llama');
    const weights = tinyWeights(spec, 13);
    const model = await LlamaGpu.load(gpu, spec, async (name) => weights.get(name)!, { weights: 'f32' });
    const layout = llamaAdapterLayout(spec, { r: 2, alpha: 4, dropout: 0.25, targets: [...TARGET_MODULES], layers: null, useRslora: false });
    const params = Float32Array.from(randomAdapter(layout.size, 6, 0.2));
    const adapter = uploadAdapter(gpu, layout, params, { grads: true });
    const batch = packedBatch(spec.vocabSize, 8, 2);
    const N = batch.B * batch.T;
    const dropout = { seed: 1234, step: 5 };
    const ws = model.createWorkspace(N, layout, true);
    model.uploadBatch(ws, batch);
    const rec = new Recorder(gpu, 'train step with dropout');
    rec.clear(adapter.grads!);
    model.recordTrain(rec, ws, batch, adapter, 1 / batch.targetTokens, dropout);
    await rec.done();
    const lossSum = (await readF32(gpu, ws.tokenLoss, N)).reduce((a, b) => a + b, 0);
    const grads = await readF32(gpu, adapter.grads!, layout.size);
    const dropoutMask = (slot: LoraSlot, n: number) => dropoutScaleMask({ seed: dropout.seed, site: dropoutSite(slot.layer, slot.module), step: dropout.step }, n, slot.in, 0.25);
    const ref = llamaReference(spec, weights, batch, { adapter: { layout, params, dropoutMask }, grads: true });
    const noDropout = llamaReference(spec, weights, batch, { adapter: { layout, params } });
    expect(Math.abs(ref.loss - noDropout.loss)).toBeGreaterThan(1e-4); // the masks matter
    expectClose([lossSum / batch.targetTokens], [ref.loss], TOLERANCES.engineLoss, 'loss with dropout');
    expectClose(grads, ref.grads!, TOLERANCES.engineLoraGrads, 'LoRA gradients with dropout');
    model.destroyWorkspace(ws);
    model.destroy();
  });
});

describe('frozen weights stored as f16', () => {
  it('logits with f16 projections match the float64 model on f16-rounded weights (or f16 is refused where the device lacks it)', async () => {
    const gpu = await testGpu();
    const spec = tinySpec('qwen2', { tieWordEmbeddings: false });
    const weights = tinyWeights(spec, 23);
    if (!gpu.features.f16) {
      await expect(LlamaGpu.load(gpu, spec, async (name) => weights.get(name)!, { weights: 'f16' })).rejects.toThrow(/shader-f16/);
      return;
    }
    const model = await LlamaGpu.load(gpu, spec, async (name) => weights.get(name)!, { weights: 'f16' });
    // what the GPU holds: projections, q/k/v biases, the embedding and the LM head rounded to f16
    const rounded = new Map<string, Float32Array>();
    for (const [name, w] of weights) {
      const asF16 = /_proj\.(weight|bias)$|^lm_head\.weight$|^model\.embed_tokens\.weight$/.test(name);
      rounded.set(name, asF16 ? f16ToF32(new Uint8Array(f32ToF16(w).buffer)) : w);
    }
    const layout = llamaAdapterLayout(spec, { r: 2, alpha: 4, dropout: 0, targets: [...TARGET_MODULES], layers: null, useRslora: false });
    const params = Float32Array.from(randomAdapter(layout.size, 8, 0.2));
    const adapter = uploadAdapter(gpu, layout, params, { grads: true });
    const batch = packedBatch(spec.vocabSize, 8, 3);
    const N = batch.B * batch.T;
    const ws = model.createWorkspace(N, layout, false);
    model.uploadBatch(ws, batch);
    const logits = createBuffer(gpu, 'logits', N * spec.vocabSize * 4);
    const rec = new Recorder(gpu, 'forward f16');
    model.forward(rec, ws, batch, adapter);
    model.logits(rec, ws, logits, 0, N);
    await rec.done();
    const want = llamaReference(spec, rounded, batch, { adapter: { layout, params }, logits: true }).logits!;
    expectClose(await readF32(gpu, logits, N * spec.vocabSize), want, TOLERANCES.engineLogits, 'f16-weight logits');
    model.destroy();
  });
});
