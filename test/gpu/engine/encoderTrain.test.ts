import { describe, expect, it } from 'vitest';
import { ClassificationBatcher, ClassificationStore } from '../../../src/data/classify';
import { EncoderGpu, toEncoderBatch, type EncoderBatch } from '../../../src/engine/model/encoder';
import { ENCODER_TARGET_MODULE } from '../../../src/engine/model/encoderSpec';
import { encoderAdapterLayout, encoderReference, philoxEncoderDropout, type EncoderModule } from '../../../src/engine/model/bert.ref';
import { initAdapter, type AdapterLayout } from '../../../src/engine/model/lora';
import { uploadAdapter } from '../../../src/engine/model/model';
import { exportAdapter, importAdapter } from '../../../src/engine/model/adapterFiles';
import { mergedWeights } from '../../../src/formats/export/merge';
import { readPeftAdapter } from '../../../src/formats/peft';
import { adamwRef } from '../../../src/engine/kernels/adamw/adamw.ref';
import { stepControlRef } from '../../../src/engine/kernels/gradnorm/gradnorm.ref';
import { learningRate } from '../../../src/engine/train/schedule';
import { MAX_IN_FLIGHT, Trainer, type StepReport, type TrainLayout } from '../../../src/engine/train/trainer';
import { runTraining } from '../../../src/engine/train/run';
import { encoderHeadTensors, type EncoderFamily } from '../../../src/formats/encoderConfig';
import { DEFAULT_SETTINGS, type LoraSettings, type RunSettings, type TargetModule } from '../../../src/settings/settings';
import { expectClose } from '../../helpers/compare';
import { testGpu } from '../../helpers/gpu';
import { rng } from '../../helpers/random';
import { TOLERANCES } from '../../helpers/tolerances';
import { refSpec, tinyEncoderConfig, tinyEncoderWeights } from '../../unit/engine/tinyEncoder';

/** A labelled store of random rows (lengths 3–7, a sentence pair now and then for BERT), classes by a token rule the model can learn. */
function store(family: EncoderFamily, vocab: number, count: number, seed: number, L = 3): ClassificationStore {
  const r = rng(seed);
  const s = new ClassificationStore(vocab);
  const labels: number[] = [];
  for (let i = 0; i < count; i++) {
    const n = 3 + Math.floor(r() * 5);
    const label = i % L;
    const ids = Int32Array.from({ length: n }, (_, t) => (t === 1 ? 4 + label : 2 + Math.floor(r() * (vocab - 2))));
    const types = Uint8Array.from({ length: n }, (_, t) => (family === 'bert' && i % 3 === 0 && t >= 3 ? 1 : 0));
    s.push({ ids, tokenTypeIds: types }, i + 1);
    labels.push(label);
  }
  s.labels = { task: 'single_label', names: Array.from({ length: L }, (_, k) => `class ${k}`), numLabels: L, values: Int32Array.from(labels) };
  return s;
}

const TASK = { problemType: 'single_label_classification' as const, labels: ['class 0', 'class 1', 'class 2'] };
const TARGETS: TargetModule[] = ['q_proj', 'v_proj', 'o_proj', 'down_proj'];

function settings(train: Partial<RunSettings['train']> = {}, lora: Partial<LoraSettings> = {}): RunSettings {
  return {
    ...DEFAULT_SETTINGS,
    lora: { r: 2, alpha: 4, dropout: 0.1, targets: TARGETS, layers: null, useRslora: false, ...lora },
    train: { ...DEFAULT_SETTINGS.train, learningRate: 5e-3, epochs: 100, maxSteps: 20, batchSize: 4, microBatch: 2, maxLength: 8, warmupRatio: 0.15, weightDecay: 0.1, maxGradNorm: 0.5, seed: 7, ...train },
  };
}

async function runAll(trainer: Trainer<ClassificationStore, EncoderBatch>): Promise<StepReport[]> {
  const out: StepReport[] = [];
  while (trainer.submit()) if (trainer.inFlight >= MAX_IN_FLIGHT) out.push(await trainer.next());
  out.push(...(await trainer.drain()));
  return out;
}

describe('encoder training on the GPU follows the float64 trajectory', () => {
  for (const family of ['bert', 'distilbert', 'roberta'] as const) {
    it(`${family}: 20 AdamW steps (accumulation, clipping, decay on weights only, hidden and LoRA dropout) follow the float64 CPU trajectory`, async () => {
      const gpu = await testGpu();
      const cfg = tinyEncoderConfig(family);
      const weights = tinyEncoderWeights(cfg, 23);
      const model = await EncoderGpu.load(gpu, cfg, async (n) => weights.get(n)!, { f16: false, tensorNames: weights.keys(), task: TASK, seed: 3 });
      const data = store(family, cfg.vocabSize, 11, 5);
      const s = settings();
      const layout: TrainLayout = { microBatch: 2, gradAccum: 2, seqLen: 8, checkpointing: family === 'roberta', padId: cfg.padTokenId };
      const trainer = new Trainer<ClassificationStore, EncoderBatch>(model, data, s, layout);
      const reports = await runAll(trainer);
      expect(reports.every((r) => !r.skipped)).toBe(true);

      // The same run in float64: the same batches and masks, the reference's gradients, PyTorch's clipping and AdamW.
      const lay: AdapterLayout = trainer.layout;
      expect(lay.decayCount).toBe(lay.size - TASK.labels.length - (family === 'bert' ? 0 : cfg.hiddenSize)); // biases after the decayed prefix
      const spec = refSpec(cfg, TASK);
      const refLayout = encoderAdapterLayout(spec, { r: 2, alpha: 4, targets: TARGETS.map((t) => ENCODER_TARGET_MODULE[t] as EncoderModule) });
      const params = Float64Array.from(initAdapter(lay, s.train.seed));
      const m = new Float64Array(lay.size);
      const v = new Float64Array(lay.size);
      const batcher = new ClassificationBatcher(data, { batchSize: 2, padId: cfg.padTokenId, seed: s.train.seed, epochs: s.train.epochs, shuffle: true });
      const losses: number[] = [];
      for (let step = 0; step < 20; step++) {
        const micro = [batcher.next()!, batcher.next()!].map((b) => toEncoderBatch(cfg, b));
        const targets = micro.reduce((a, b) => a + b.targetTokens, 0);
        const grads = new Float64Array(lay.size);
        let loss = 0;
        micro.forEach((b, i) => {
          const w = new Map<string, ArrayLike<number>>(weights);
          for (const t of lay.full) w.set(t.name, params.subarray(t.offset, t.offset + t.size));
          const dropout = philoxEncoderDropout(spec, b.B, b.T, { hidden: cfg.hiddenDropout, attention: cfg.attentionDropout, classifier: cfg.classifierDropout, lora: 0.1 }, s.train.seed, step * 2 + i);
          const r = encoderReference(spec, w, { B: b.B, T: b.T, inputIds: b.inputIds, attentionMask: b.attentionMask, tokenTypeIds: family === 'distilbert' ? undefined : b.tokenTypeIds, labels: b.labels }, {
            adapter: { layout: refLayout, params }, dropout, grads: true, lossNormalizer: targets,
          });
          loss += r.loss;
          for (let k = 0; k < refLayout.size; k++) grads[k] += r.loraGrads![k];
          for (const t of lay.full) {
            const g = r.headGrads!.get(t.name)!;
            for (let k = 0; k < t.size; k++) grads[t.offset + k] += g[k];
          }
        });
        losses.push(loss);
        const lr = learningRate({ kind: s.train.schedule, lr: s.train.learningRate, warmupSteps: Math.ceil(20 * s.train.warmupRatio), totalSteps: 20 }, step);
        adamwRef(params, grads, m, v, stepControlRef(grads, loss, 1, s.train.maxGradNorm), { lr, weightDecay: s.train.weightDecay, step: step + 1, decayCount: lay.decayCount });
      }
      const result = expectClose(reports.map((r) => r.loss), losses, TOLERANCES.engineTrajectory, `${family} loss trajectory`);
      console.log(`[encoder trainer] ${family}: 20-step loss ${losses[0].toFixed(4)} → ${losses[19].toFixed(4)}; GPU vs float64 max abs error ${result.maxAbs.toExponential(2)}`);
      const gpuParams = await trainer.parameters();
      expect(Math.max(...gpuParams.map((x, i) => Math.abs(x - initAdapter(lay, s.train.seed)[i])))).toBeGreaterThan(1e-3);
      expectClose(gpuParams, params, { atol: 2e-4, rtol: 1e-3 }, `${family} adapter and head after 20 steps`);
      trainer.destroy();
      model.destroy();
    });
  }
});

describe('the run driver with an encoder', () => {
  it('memorizes a small labelled set to 100% accuracy; save → reload gives identical logits; merged weights give the adapter\'s logits', async () => {
    const gpu = await testGpu();
    const cfg = tinyEncoderConfig('bert', { hiddenDropout: 0, attentionDropout: 0, classifierDropout: 0 });
    const weights = tinyEncoderWeights(cfg, 41);
    const model = await EncoderGpu.load(gpu, cfg, async (n) => weights.get(n)!, { f16: false, tensorNames: weights.keys(), task: TASK, seed: 9 });
    const data = store('bert', cfg.vocabSize, 12, 77);
    // Labels by a random rule the rows do not spell out: only memorization gets them right.
    const r = rng(3);
    data.labels = { ...data.labels!, values: Int32Array.from({ length: 12 }, () => Math.floor(r() * 3)) };
    const s = settings({ learningRate: 2e-2, maxSteps: 150, batchSize: 4, microBatch: 4, warmupRatio: 0, weightDecay: 0, maxGradNorm: 1 }, { dropout: 0, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'up_proj', 'down_proj'], r: 4 });
    const evals: number[] = [];
    const outcome = await runTraining<ClassificationStore, EncoderBatch>({
      model, data: { train: data, validation: data, longestRow: 7 }, settings: { ...s, eval: { evalInterval: 50, logInterval: 10, checkpointInterval: 0 } },
      identity: { model: 'tiny-bert', data: 'rows' }, limits: { budgetBytes: 2 ** 30, maxBufferSize: gpu.limits.maxBufferSize }, padId: 0,
      onEvent: (e) => void (e.type === 'eval' && evals.push(e.metrics.eval_accuracy)),
    });
    console.log(`[encoder run] memorization: eval_accuracy ${evals.map((a) => a.toFixed(2)).join(' → ')}, final loss ${outcome.finalEval!.loss.toFixed(4)}`);
    expect(outcome.finalEval!.metrics.eval_accuracy).toBe(1);
    expect(outcome.finalEval!.confusion!.counts.flat().reduce((a, b) => a + b, 0)).toBe(12);

    const rows = Array.from({ length: 12 }, (_, i) => ({ ids: data.get(i).ids, types: data.get(i).tokenTypeIds }));
    const live = uploadAdapter(gpu, outcome.layout, outcome.params);
    const liveLogits = await model.predict(rows, live);
    const files = exportAdapter({ encoder: cfg, task: TASK }, outcome.layout, outcome.params, 'tiny-bert');
    expect(JSON.parse(files['config.json']!).id2label).toEqual({ 0: 'class 0', 1: 'class 1', 2: 'class 2' });
    const back = await importAdapter({ encoder: cfg, task: null }, files);
    expect(back.task).toEqual(TASK);
    expect(back.params).toEqual(outcome.params);
    const reloaded = uploadAdapter(gpu, back.layout, back.params);
    expect(await model.predict(rows, reloaded)).toEqual(liveLogits);

    // The one merge (formats/export/merge.ts) on the adapter's PEFT-named tensors: LoRA merged, the head from the adapter.
    const headed = { ...cfg, numLabels: TASK.labels.length };
    const read = mergedWeights(headed, (n) => weights.get(n)!, { ...(await readPeftAdapter(files, headed)), task: TASK });
    const merged = new Map<string, Float32Array>();
    for (const n of new Set([...weights.keys(), ...encoderHeadTensors(headed, headed.numLabels).map((h) => h.name)])) merged.set(n, await read(n));
    expect(merged.has('classifier.weight')).toBe(true);
    const mergedModel = await EncoderGpu.load(gpu, cfg, async (n) => merged.get(n)!, { f16: false, tensorNames: merged.keys(), task: TASK });
    expect(mergedModel.headSource.every((h) => h.fromCheckpoint)).toBe(true);
    const cmp = expectClose(await mergedModel.predict(rows, null), liveLogits, { atol: 1e-4, rtol: 1e-4 }, 'merged vs unmerged logits');
    console.log(`[encoder run] merged vs unmerged logits max abs error ${cmp.maxAbs.toExponential(2)}`);
    live.destroy();
    reloaded.destroy();
    mergedModel.destroy();
    model.destroy();
  });
});
