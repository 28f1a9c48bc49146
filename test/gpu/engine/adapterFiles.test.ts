import { describe, expect, it } from 'vitest';
import { generateModelWithTensors } from '../../../src/formats/generate';
import { openModelFolder, requireDecoder, type ModelFiles } from '../../../src/formats/modelFolder';
import { fromArrayBuffer } from '../../../src/formats/byteSource';
import { Recorder } from '../../../src/engine/gpu/recorder';
import { createBuffer, readF32 } from '../../../src/engine/gpu/buffers';
import { LlamaGpu, type GpuAdapter } from '../../../src/engine/model/llama';
import { uploadAdapter } from '../../../src/engine/model/model';
import { llamaAdapterLayout } from '../../../src/engine/model/llama';
import { TARGET_MODULES } from '../../../src/settings/settings';
import { exportAdapter, importAdapter } from '../../../src/engine/model/adapterFiles';
import { mergedWeights as mergeWeights } from '../../../src/formats/export/merge';
import { readPeftAdapter } from '../../../src/formats/peft';
import { llamaReference } from '../../../src/engine/model/llama.ref';
import { batchFromIds, type MicroBatch } from '../../../src/engine/model/types';
import { expectClose } from '../../helpers/compare';
import { testGpu } from '../../helpers/gpu';
import { randomAdapter } from '../../unit/engine/tinyModel';

function memoryFiles(files: Map<string, Uint8Array | string>, name: string): ModelFiles {
  return {
    name,
    async text(file) {
      const f = files.get(file);
      return f === undefined ? null : typeof f === 'string' ? f : new TextDecoder().decode(f);
    },
    async source(file) {
      const f = files.get(file);
      return f === undefined ? null : fromArrayBuffer(typeof f === 'string' ? new TextEncoder().encode(f) : f, file);
    },
  };
}

async function logitsOf(model: LlamaGpu, batch: MicroBatch, adapter: GpuAdapter | null, layout = adapter?.layout ?? null): Promise<Float32Array> {
  const gpu = model.gpu;
  const N = batch.B * batch.T;
  const ws = model.createWorkspace(N, layout, false);
  model.uploadBatch(ws, batch);
  const out = createBuffer(gpu, 'logits', N * model.V * 4);
  const rec = new Recorder(gpu, 'logits');
  model.forward(rec, ws, batch, adapter);
  model.logits(rec, ws, out, 0, N);
  await rec.done();
  const logits = await readF32(gpu, out, N * model.V);
  model.destroyWorkspace(ws);
  out.destroy();
  return logits;
}

describe('adapter files and merging on generated checkpoints', () => {
  for (const architecture of ['llama', 'qwen2'] as const) {
    it(`${architecture}: a saved, reloaded adapter gives the same logits; merged weights give the same logits as the unmerged path`, async () => {
      const gpu = await testGpu();
      const generated = generateModelWithTensors({ architecture, seed: 3, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: architecture === 'qwen2' ? 1 : 2, intermediateSize: 48, tokenizer: false, vocabSize: 61 });
      const ckpt = requireDecoder(await openModelFolder(memoryFiles(generated.files, `tiny-${architecture}`)), 'this test');
      const spec = ckpt.spec;
      expect(spec.attentionBias).toBe(architecture === 'qwen2');
      const model = await LlamaGpu.load(gpu, spec, (n) => ckpt.readTensorF32(n), { weights: 'f32' });
      const layout = llamaAdapterLayout(spec, { r: 4, alpha: 8, dropout: 0.05, targets: [...TARGET_MODULES], layers: [1], useRslora: false });
      const params = Float32Array.from(randomAdapter(layout.size, 12, 0.2));
      const live = uploadAdapter(gpu, layout, params, { grads: true });
      const batch = batchFromIds([[1, 7, 9, 22, 40, 3, 5, 60]]);
      const liveLogits = await logitsOf(model, batch, live);

      const files = exportAdapter(spec, layout, params, `tiny-${architecture}`);
      const config = JSON.parse(files['adapter_config.json']);
      expect(config.peft_type).toBe('LORA');
      expect(config.layers_to_transform).toEqual([1]);
      const back = await importAdapter(spec, files);
      expect(back.params).toEqual(params);
      const reloaded = uploadAdapter(gpu, back.layout, back.params);
      expect(await logitsOf(model, batch, reloaded)).toEqual(liveLogits);

      const weights = new Map<string, Float32Array>();
      for (const name of ckpt.tensorNames) weights.set(name, await ckpt.readTensorF32(name));
      // The exporters' merge (the one merge: W + s·B·A on the PEFT files) runs the same as the live adapter.
      const read = mergeWeights(spec, (n) => weights.get(n)!, await readPeftAdapter(files, spec));
      const mergedModel = await LlamaGpu.load(gpu, spec, async (n) => read(n), { weights: 'f32' });
      const mergedLogits = await logitsOf(mergedModel, batch, null);
      const cmp = expectClose(mergedLogits, liveLogits, { atol: 1e-4, rtol: 1e-4 }, 'merged vs unmerged logits');
      console.log(`[adapter] ${architecture}: merged vs unmerged logits max abs error ${cmp.maxAbs.toExponential(2)}`);
      const ref = llamaReference(spec, weights, batch, { adapter: { layout, params }, logits: true }).logits!;
      expectClose(liveLogits, ref, { atol: 2e-4, rtol: 2e-4 }, 'live logits vs float64');
      model.destroy();
      mergedModel.destroy();
    });
  }
});
