// LoRA training of a BERT-base-shaped encoder for sequence classification with the real engine
// (EncoderGpu through the run driver), the recipe's configuration: sequence 128, batch 16, r 8 on
// query and value, the classifier trained in full, dropout as Transformers trains. Reports
// tokens/s, time to the first step, the peak GPU bytes actually allocated and the planner's
// estimate for the same configuration (computed from the config alone).
//
// Software adapters are slow, so the model keeps bert-base-uncased's widths (C 768, I 3072, 12
// heads × 64, vocabulary 30522, 512 positions) but only `layers` encoder layers (default 2 of 12);
// every row says so. Pass --encoder-layers 12 for the real depth.
import type { Gpu } from '../src/engine/gpu/device';
import { ClassificationStore } from '../src/data/classify';
import { parseEncoderConfig, expectedEncoderTensors, encoderHeadTensors } from '../src/formats/encoderConfig';
import { EncoderGpu, type EncoderBatch } from '../src/engine/model/encoder';
import { formatBytes } from '../src/units';
import { SeededRng } from '../src/engine/train/rng';
import { DEFAULT_SETTINGS, type RunSettings } from '../src/settings/settings';
import { GpuMemoryTracker, timedSteps } from './e2e';
import { fmt, median } from './harness';

export const ENCODER_DEFAULT_LAYERS = 2;

export interface EncoderBenchOptions {
  layers: number;
  /** Measured steps after the first. */
  steps: number;
  maxCaseSeconds: number;
}

export interface EncoderBenchResult {
  name: string;
  layers: number;
  seqLen: number;
  batchSize: number;
  weightsF16: boolean;
  adapterParams: number;
  tokensPerStep: number;
  firstStepMs: number;
  stepMs: number[];
  medianStepMs: number;
  tokensPerSecond: number;
  baselineBytes: number;
  peakBytes: number;
  plannedBytes: number;
  planRatio: number;
  losses: number[];
}

/** bert-base-uncased's config.json at a chosen depth. */
export function bertBaseConfig(layers: number) {
  return parseEncoderConfig({
    architectures: ['BertForMaskedLM'], attention_probs_dropout_prob: 0.1, hidden_act: 'gelu', hidden_dropout_prob: 0.1, hidden_size: 768,
    initializer_range: 0.02, intermediate_size: 3072, layer_norm_eps: 1e-12, max_position_embeddings: 512, model_type: 'bert', num_attention_heads: 12,
    num_hidden_layers: layers, pad_token_id: 0, position_embedding_type: 'absolute', type_vocab_size: 2, vocab_size: 30522,
  });
}

export async function runEncoderBench(gpu: Gpu, opts: EncoderBenchOptions, log: (message: string) => void): Promise<EncoderBenchResult> {
  const seqLen = 128;
  const batchSize = 16;
  const cfg = bertBaseConfig(opts.layers);
  const task = { problemType: 'single_label_classification' as const, labels: ['negative', 'positive'] };
  const tracker = new GpuMemoryTracker(gpu);
  let model: EncoderGpu | null = null;
  try {
    const t0 = performance.now();
    log(`encoder: a bert-base-uncased-shaped model with ${opts.layers} of 12 layers${opts.layers < 12 ? ' (reduced depth: software adapters are slow)' : ''}, random weights`);
    const rng = new SeededRng(3);
    const shapes = new Map([...expectedEncoderTensors(cfg), ...encoderHeadTensors(cfg, 2).slice(0, 2)].map((t) => [t.name, t.shape]));
    model = await EncoderGpu.load(
      gpu,
      cfg,
      async (name) => {
        const shape = shapes.get(name);
        if (!shape) throw new Error(`bench/encoder.ts: no tensor ${name}`);
        const n = shape.reduce((a, b) => a * b, 1);
        if (/LayerNorm\.weight$/.test(name)) return new Float32Array(n).fill(1);
        return Float32Array.from({ length: n }, () => (rng.next() - 0.5) * 0.04);
      },
      { tensorNames: shapes.keys(), task, seed: 1 },
    );
    log(`encoder: weights ${formatBytes(tracker.live)} on the GPU (${model.f16 ? 'f16' : 'f32'} projections), ${((performance.now() - t0) / 1000).toFixed(1)} s to load`);
    const steps = Math.max(1, opts.steps);
    const settings: RunSettings = {
      ...DEFAULT_SETTINGS,
      train: { ...DEFAULT_SETTINGS.train, maxSteps: 1 + steps, batchSize, microBatch: batchSize, maxLength: seqLen, gradientCheckpointing: 'off', seed: 1 },
      eval: { evalInterval: 0, logInterval: 1_000_000, checkpointInterval: 0 },
    };
    // Rows exactly seqLen long ([CLS] … [SEP]), labels alternating: every micro-batch is full.
    const data = new ClassificationStore(cfg.vocabSize);
    for (let i = 0; i < 2 * batchSize; i++) {
      const ids = Int32Array.from({ length: seqLen }, (_, t) => (t === 0 ? 101 : t === seqLen - 1 ? 102 : 1000 + (rng.nextU32() % 20000)));
      data.push({ ids, tokenTypeIds: new Uint8Array(seqLen) }, i + 1);
    }
    data.labels = { task: 'single_label', names: task.labels, numLabels: 2, values: Int32Array.from({ length: 2 * batchSize }, (_, i) => i % 2) };
    const plan = model.memoryPlan(settings.lora, { batchSize, seqLen, gradientCheckpointing: false, kvCacheTokens: 0, stagedBatches: 1 });
    await gpu.device.queue.onSubmittedWorkDone();
    const baselineBytes = tracker.live;
    tracker.resetPeak();
    const start = performance.now();
    const { outcome, firstStepMs, stepMs, losses } = await timedSteps<ClassificationStore, EncoderBatch>(gpu, { model, data: { train: data, validation: null, longestRow: seqLen }, settings }, opts.maxCaseSeconds, start);
    if (stepMs.length === 0) throw new Error('encoder bench: no step after the first was measured');
    const med = median(stepMs);
    const N = batchSize * seqLen;
    const result: EncoderBenchResult = {
      name: `bert-base shape, ${opts.layers} of 12 layers, T${seqLen} B${batchSize} r8 on query,value + classifier`,
      layers: opts.layers,
      seqLen,
      batchSize,
      weightsF16: model.f16,
      adapterParams: outcome.layout.size,
      tokensPerStep: N,
      firstStepMs,
      stepMs,
      medianStepMs: med,
      tokensPerSecond: N / (med / 1000),
      baselineBytes,
      peakBytes: tracker.peak,
      plannedBytes: plan.total,
      planRatio: plan.total / tracker.peak,
      losses,
    };
    log(
      `encoder | ${result.name}: ${fmt(result.tokensPerSecond)} tok/s (median step ${med.toFixed(0)} ms of ${stepMs.length}), first step ${(firstStepMs / 1000).toFixed(1)} s, ` +
        `peak ${formatBytes(result.peakBytes)}, planned ${formatBytes(result.plannedBytes)} (${fmt(result.planRatio, 2)}×)`,
    );
    return result;
  } finally {
    model?.destroy();
    tracker.uninstall();
  }
}

const MiB = 2 ** 20;

export function formatEncoderTable(r: EncoderBenchResult): string {
  return [
    `bert-base-uncased shape (C 768, I 3072, 12 heads × 64, vocab 30522), random weights, **${r.layers} of 12 layers**; the recipe's run: ` +
      'sequence 128, batch 16 (one micro-batch), r 8 on query and value, classifier trained in full, hidden/attention/LoRA dropout; tokens/s = B·T ÷ median step wall time after the first step.',
    '',
    '| T | B | LoRA r8 on | tokens/s | step ms (median) | first step s | peak MiB (weights MiB) | planned MiB | planned/peak |',
    '|---|---|---|---:|---:|---:|---:|---:|---:|',
    `| ${r.seqLen} | ${r.batchSize} | query, value (+ classifier) | ${fmt(r.tokensPerSecond)} | ${fmt(r.medianStepMs)} | ${fmt(r.firstStepMs / 1000)} | ${fmt(r.peakBytes / MiB)} (${fmt(r.baselineBytes / MiB)}) | ${fmt(r.plannedBytes / MiB)} | ${fmt(r.planRatio, 2)}× |`,
  ].join('\n');
}
