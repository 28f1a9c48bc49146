import { describe, expect, it } from 'vitest';
import { Recorder } from '../../../src/engine/gpu/recorder';
import { readF32 } from '../../../src/engine/gpu/buffers';
import { EncoderGpu, encoderBatchFromRows } from '../../../src/engine/model/encoder';
import { ENCODER_TARGET_MODULE } from '../../../src/engine/model/encoderSpec';
import { uploadAdapter } from '../../../src/engine/model/model';
import { encoderAdapterLayout, encoderReference, philoxEncoderDropout, type EncoderModule } from '../../../src/engine/model/bert.ref';
import type { AdapterLayout } from '../../../src/engine/model/lora';
import type { ClassificationProblem, EncoderFamily } from '../../../src/formats/encoderConfig';
import { TARGET_MODULES, type LoraSettings, type TargetModule } from '../../../src/settings/settings';
import { expectClose } from '../../helpers/compare';
import { testGpu } from '../../helpers/gpu';
import { rng } from '../../helpers/random';
import { TOLERANCES } from '../../helpers/tolerances';
import { paddedRows, refSpec, taskOf, tinyEncoderConfig, tinyEncoderWeights, tinyLabels } from '../../unit/engine/tinyEncoder';

const ALL: TargetModule[] = TARGET_MODULES.filter((t) => ENCODER_TARGET_MODULE[t] !== null);

/** Random adapter values: LoRA A and B (B non-zero so every gradient path is exercised) and the head. */
function randomParams(layout: AdapterLayout, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: layout.size }, () => (r() - 0.5) * 0.6);
}

/** The reference's weights: the checkpoint's, with the trained head tensors taken from the adapter. */
function withHead(weights: Map<string, Float32Array>, layout: AdapterLayout, params: ArrayLike<number>): Map<string, Float64Array | Float32Array> {
  const out = new Map<string, Float64Array | Float32Array>(weights);
  for (const t of layout.full) out.set(t.name, Float64Array.from(Array.prototype.slice.call(params, t.offset, t.offset + t.size) as number[]));
  return out;
}

interface Case {
  family: EncoderFamily;
  problem: ClassificationProblem;
  L: number;
  dropout: boolean;
  checkpointing: boolean;
}

const CASES: Case[] = [
  { family: 'bert', problem: 'single_label_classification', L: 3, dropout: false, checkpointing: false },
  { family: 'bert', problem: 'single_label_classification', L: 3, dropout: true, checkpointing: true },
  { family: 'roberta', problem: 'regression', L: 1, dropout: false, checkpointing: false },
  { family: 'roberta', problem: 'single_label_classification', L: 2, dropout: true, checkpointing: false },
  { family: 'distilbert', problem: 'multi_label_classification', L: 3, dropout: false, checkpointing: false },
  { family: 'distilbert', problem: 'single_label_classification', L: 4, dropout: true, checkpointing: false },
];

describe('GPU encoder at step 0 matches the float64 encoder (logits, loss, every LoRA and head gradient)', () => {
  for (const c of CASES) {
    const name = `${c.family} ${c.problem} L=${c.L}${c.dropout ? ', with hidden, attention, classifier and LoRA dropout' : ''}${c.checkpointing ? ', gradient checkpointing' : ''}`;
    it(`${name}: padding and a sentence pair match_reference`, async () => {
      const gpu = await testGpu();
      const cfg = tinyEncoderConfig(c.family);
      const task = taskOf(c.problem, c.L);
      const weights = tinyEncoderWeights(cfg, 17);
      const model = await EncoderGpu.load(gpu, cfg, async (n) => weights.get(n)!, { f16: false, tensorNames: weights.keys(), task });
      model.hiddenDropout = c.dropout;
      const lora: LoraSettings = { r: 2, alpha: 3, dropout: c.dropout ? 0.2 : 0, targets: ALL, layers: null, useRslora: false };
      const layout = model.adapterLayout(lora);
      const params = randomParams(layout, 5);
      const adapter = uploadAdapter(gpu, layout, params, { grads: true });
      const rows = paddedRows(cfg, 9);
      const batch = encoderBatchFromRows(cfg, rows, tinyLabels(task, rows.length, 3));
      const N = batch.B * batch.T;
      const ws = model.createWorkspace({ maxTokens: N, layout, checkpointing: c.checkpointing, stagedBatches: 0 });
      model.uploadBatch(ws, batch);
      const seed = 1234;
      const step = 7;
      const rec = new Recorder(gpu, 'encoder train pass');
      rec.clear(adapter.grads!);
      model.recordTrain(rec, ws, batch, adapter, 1 / batch.targetTokens, { seed, step });
      await rec.done();
      const logits = await readF32(gpu, ws.logits, batch.B * c.L);
      const [lossSum] = await readF32(gpu, ws.lossSum, 1);
      const grads = await readF32(gpu, adapter.grads!, layout.size);

      const spec = refSpec(cfg, task);
      const refLayout = encoderAdapterLayout(spec, { r: 2, alpha: 3, targets: ALL.map((t) => ENCODER_TARGET_MODULE[t] as EncoderModule) });
      // The engine's flat layout puts LoRA pairs exactly where the reference does.
      expect(layout.slots.map((s) => [s.offsetA, s.offsetB])).toEqual(refLayout.slots.map((s) => [s.offsetA, s.offsetB]));
      const dropout = c.dropout
        ? philoxEncoderDropout(spec, batch.B, batch.T, { hidden: cfg.hiddenDropout, attention: cfg.attentionDropout, classifier: cfg.classifierDropout, lora: 0.2 }, seed, step)
        : null;
      const ref = encoderReference(spec, withHead(weights, layout, params), {
        B: batch.B, T: batch.T, inputIds: batch.inputIds, attentionMask: batch.attentionMask, tokenTypeIds: cfg.family === 'distilbert' ? undefined : batch.tokenTypeIds, labels: batch.labels,
      }, { adapter: { layout: refLayout, params }, dropout, grads: true });
      expectClose(logits, ref.logits, TOLERANCES.engineLogits, `${name} logits`);
      expect(batch.targetTokens).toBe(ref.count);
      expectClose([lossSum / batch.targetTokens], [ref.loss], TOLERANCES.engineLoss, `${name} loss`);
      expectClose(grads.subarray(0, refLayout.size), ref.loraGrads!, TOLERANCES.engineLoraGrads, `${name} LoRA gradients`);
      expect(layout.full.map((t) => t.name).sort()).toEqual([...ref.headGrads!.keys()].sort());
      for (const t of layout.full) {
        expectClose(grads.subarray(t.offset, t.offset + t.size), ref.headGrads!.get(t.name)!, TOLERANCES.engineLoraGrads, `${name} d ${t.name}`);
      }
      model.destroyWorkspace(ws);
      adapter.destroy();
      model.destroy();
    });
  }
});
