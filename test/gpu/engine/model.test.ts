import { describe, it } from 'vitest';
import { Recorder } from '../../../src/engine/gpu/recorder';
import { createBuffer, readF32 } from '../../../src/engine/gpu/buffers';
import { LlamaGpu, createGpuAdapter } from '../../../src/engine/model/llama';
import { llamaReference } from '../../../src/engine/model/llama.ref';
import { adapterLayout, LORA_MODULES } from '../../../src/engine/model/lora';
import { expectClose } from '../../helpers/compare';
import { testGpu } from '../../helpers/gpu';
import { packedBatch, randomAdapter, tinySpec, tinyWeights } from '../../unit/engine/tinyModel';

describe('GPU model forward matches the float64 model', () => {
  for (const kind of ['llama', 'qwen2', 'qwen3'] as const) {
    it(`${kind} logits with a random adapter match_reference`, async () => {
      const gpu = await testGpu();
      const spec = tinySpec(kind);
      const weights = tinyWeights(spec, 21);
      const model = await LlamaGpu.load(gpu, spec, async (name) => weights.get(name)!, { f16: false });
      const layout = adapterLayout(spec, { r: 2, alpha: 4, dropout: 0, targets: [...LORA_MODULES], layers: null, useRslora: false });
      const params = Float32Array.from(randomAdapter(layout.size, 8, 0.2));
      const adapter = createGpuAdapter(gpu, layout, params);
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
        expectClose(got, want, { atol: 2e-4, rtol: 2e-4 }, `${kind} logits`);
        model.destroyWorkspace(ws);
      }
    });
  }
});
