/**
 * What the BERT-family encoder needs besides its config: the task its classification head learns
 * (Transformers' problem_type and the label names), how the settings' target names map to the
 * encoder's own modules, the adapter layout (LoRA pairs, then the head trained in full as PEFT's
 * SEQ_CLS modules_to_save), the dropout sites, and the memory plan, all from the config alone.
 *
 * Letters: N tokens of a micro-batch, C hidden, NH heads, I intermediate, L labels, R rank.
 */
import {
  ENCODER_HEAD_MODULES, ENCODER_MODULES, SEQ_CLS_MODULES_TO_SAVE, encoderHeadTensors, encoderModulePath, trainedHeadModules,
  type ClassificationProblem, type EncoderConfig, type EncoderModule, type SequenceClassificationTask,
} from '../../formats/encoderConfig';
import { TARGET_MODULES, type TargetModule } from '../../settings/settings';
import type { MemoryPlan } from '../train/memory';
import { buildAdapterLayout, LoraConfigError, type AdapterLayout, type FullModules, type LoraSettings } from './lora';
import type { MemoryConfig } from './model';

export type { ClassificationProblem, EncoderConfig, EncoderModule };

/** The task of the classification head: Transformers' problem_type and the name of each output (regression: e.g. ["score"]). */
export type EncoderTask = SequenceClassificationTask;

/**
 * The settings' target names (the Llama family's) → this family's modules: the attention
 * projections by role, the MLP's input and output; an encoder's MLP has no gate.
 */
export const ENCODER_TARGET_MODULE: Record<TargetModule, EncoderModule | null> = {
  q_proj: 'query',
  k_proj: 'key',
  v_proj: 'value',
  o_proj: 'attention.output',
  gate_proj: null,
  up_proj: 'intermediate',
  down_proj: 'output',
};

/** The settings' target names each encoder module answers to (for the studio's checkboxes and the CLI). */
export function encoderTargetNames(family: EncoderConfig['family']): { target: TargetModule; module: string | null }[] {
  return TARGET_MODULES.map((t) => {
    const m = ENCODER_TARGET_MODULE[t];
    return { target: t, module: m ? encoderModulePath(family, 0, m).replace(/^.*\.layer\.0\./, '') : null };
  });
}

/** PEFT target_modules for these targets, in the family's own names (query, value; q_lin, v_lin …). */
export function encoderTargetModules(family: EncoderConfig['family'], targets: readonly TargetModule[]): string[] {
  return TARGET_MODULES.filter((t) => targets.includes(t)).map((t) => {
    const m = ENCODER_TARGET_MODULE[t];
    if (!m) throw new LoraConfigError(`an encoder has no ${t} module (its MLP has one input projection, chosen by up_proj)`);
    const path = encoderModulePath(family, 0, m);
    return path.slice(path.lastIndexOf('.') + 1);
  });
}

/** Transformers' SEQ_CLS head tensors PEFT trains in full, with the Trainer's decay rule (weights yes, biases no). */
export function encoderFullModules(spec: EncoderConfig, numLabels: number, init?: Map<string, Float32Array>): FullModules {
  const trained = new Set(trainedHeadModules(spec.family));
  const tensors = encoderHeadTensors(spec, numLabels)
    .filter((t) => trained.has(t.module))
    .map((t) => ({ name: t.name, module: t.module, shape: t.shape, decay: !t.name.endsWith('.bias') }));
  return { tensors, modulesToSave: [...SEQ_CLS_MODULES_TO_SAVE], init };
}

/** The encoder's adapter layout: LoRA on the mapped modules, then the trained head. */
export function encoderAdapterLayoutFor(spec: EncoderConfig, lora: LoraSettings, task: EncoderTask, init?: Map<string, Float32Array>): AdapterLayout {
  return buildAdapterLayout(
    spec.numLayers,
    (layer, target) => {
      const m = ENCODER_TARGET_MODULE[target];
      if (!m) return null;
      const C = spec.hiddenSize;
      return { in: m === 'output' ? spec.intermediateSize : C, out: m === 'intermediate' ? spec.intermediateSize : C, path: encoderModulePath(spec.family, layer, m) };
    },
    lora,
    encoderFullModules(spec, task.labels.length, init),
  );
}

/** The Philox site of a LoRA module's input dropout (bert.ref.ts encoderDropoutSite): layer·16 + role index. */
export function encoderLoraSite(layer: number, target: TargetModule): number {
  return layer * 16 + ENCODER_MODULES.indexOf(ENCODER_TARGET_MODULE[target]!);
}

/** Philox sites of the hidden dropouts (bert.ref.ts encoderDropoutSite). */
export const ENCODER_SITES = {
  embeddings: 0x7fff0000,
  head: (index: number) => 0x7fff0001 + index,
  attentionProbs: (layer: number) => layer * 16 + 8,
  attentionOutput: (layer: number) => layer * 16 + 9,
  output: (layer: number) => layer * 16 + 10,
};

/** The head modules in forward order and which of them train (BERT's pooler stays frozen). */
export function encoderHeadPlan(spec: EncoderConfig): { modules: [string, string]; trained: boolean[] } {
  const modules = ENCODER_HEAD_MODULES[spec.family];
  const trained = new Set(trainedHeadModules(spec.family));
  return { modules, trained: modules.map((m) => trained.has(m)) };
}

const F32 = 4;

/** f32 words of one buffer each of the workspace, by name: shared by createWorkspace and the memory plan. */
export function encoderWorkspaceFloats(spec: EncoderConfig, o: { N: number; R: number; targets: number; L: number; checkpointing: boolean; loraDropout: boolean; staged: number; statsWords: number }): { name: string; floats: number; perLayer: boolean }[] {
  const { N, R, L } = o;
  const C = spec.hiddenSize;
  const I = spec.intermediateSize;
  const NH = spec.numHeads;
  const B = N; // head buffers are sized for the worst case of one token per row
  const out: { name: string; floats: number; perLayer: boolean }[] = [];
  const add = (name: string, floats: number, perLayer = false) => out.push({ name, floats: Math.max(1, floats), perLayer });
  // inputs, live and staged
  for (const n of ['inputIds', 'tokenTypeIds', 'positionIds', 'keyMask']) add(n, N);
  add('labels', N * L);
  if (o.staged > 0) add('staged micro-batches', o.staged * (4 * N + N * L));
  // layer inputs (and the last hidden state)
  for (let l = 0; l <= spec.numLayers; l++) add(`layer ${l} input`, N * C);
  // what a layer saves for its backward (one shared set when checkpointing)
  const layers = o.checkpointing ? 1 : spec.numLayers;
  for (let l = 0; l < layers; l++) {
    for (const n of ['q', 'k', 'v', 'attention out', 'z1', 'h1', 'z2']) add(`layer ${l} ${n}`, N * C, true);
    add(`layer ${l} lse`, N * NH, true);
    for (const n of ['mean1', 'rstd1', 'mean2', 'rstd2']) add(`layer ${l} ${n}`, N, true);
    add(`layer ${l} f`, N * I, true);
    add(`layer ${l} gelu`, N * I, true);
    for (let t = 0; t < o.targets; t++) add(`layer ${l} lora u ${t}`, N * R, true);
  }
  // scratch: embeddings, backward gradients
  add('embedding mean', N);
  add('embedding rstd', N);
  for (const n of ['scratch', 'd residual', 'dz', 'dtmp', 'dq', 'dk', 'dv', 'd attention out']) add(n, N * C);
  add('dI', N * I);
  add('dI2', N * I);
  add('attention delta', N * NH);
  add('lora du', N * R);
  if (o.loraDropout) add('lora dropout scratch', N * Math.max(C, I));
  // head
  for (const n of ['first token', 'head in0', 'head a0', 'head act', 'head in1', 'head din1', 'head dact', 'head da0', 'head din0', 'head dfirst']) add(n, B * C);
  add('logits', B * L);
  add('dlogits', B * L);
  add('row loss', B);
  add('predictions', B);
  add('loss sum', 1);
  add('count', 1);
  add('correct', 1);
  add('eval statistics', o.statsWords);
  return out;
}

/** Bytes of the frozen weights as EncoderGpu stores them: projections f16 when asked, the rest f32. */
export function encoderWeightBytes(spec: EncoderConfig, f16: boolean): { total: number; largest: number; largestName: string } {
  const C = spec.hiddenSize;
  const I = spec.intermediateSize;
  const per = f16 ? 2 : 4;
  const embed = (spec.vocabSize + spec.maxPositionEmbeddings + spec.typeVocabSize) * C + 2 * C;
  const projections = spec.numLayers * (4 * C * C + 2 * C * I);
  const projectionBiases = spec.numLayers * (4 * C + I + C);
  const norms = spec.numLayers * 4 * C;
  const pooler = spec.family === 'bert' ? C * C + C : 0; // frozen BERT pooler; trained head modules live in the adapter
  const total = (embed + norms + pooler) * F32 + (projections + projectionBiases) * per;
  const wordBytes = spec.vocabSize * C * F32;
  const projBytes = C * I * per;
  return wordBytes >= projBytes ? { total, largest: wordBytes, largestName: 'word_embeddings.weight' } : { total, largest: projBytes, largestName: 'intermediate.dense.weight' };
}

/** GPU bytes of a configuration, computed from the config alone as EncoderGpu allocates them. */
export function encoderMemoryPlan(spec: EncoderConfig, lora: LoraSettings, task: EncoderTask, cfg: MemoryConfig & { weightsF16: boolean; statsWords: number }): MemoryPlan {
  const N = cfg.batchSize * cfg.seqLen;
  const layout = encoderAdapterLayoutFor(spec, lora, task);
  const floats = encoderWorkspaceFloats(spec, {
    N, R: lora.r, targets: lora.targets.length, L: task.labels.length, checkpointing: cfg.gradientCheckpointing,
    loraDropout: lora.dropout > 0, staged: cfg.stagedBatches ?? 0, statsWords: cfg.statsWords,
  });
  const w = encoderWeightBytes(spec, cfg.weightsF16);
  const adapter = layout.size * F32 * 4;
  let activations = 0;
  let workspace = 0;
  let largest = 0;
  let largestName = '';
  for (const b of floats) {
    const bytes = b.floats * F32;
    if (b.perLayer || /^layer \d+ input$/.test(b.name)) activations += bytes;
    else workspace += bytes;
    if (bytes > largest) {
      largest = bytes;
      largestName = b.name;
    }
  }
  if (w.largest > largest) {
    largest = w.largest;
    largestName = w.largestName;
  }
  const total = w.total + adapter + activations + workspace;
  return { weights: w.total, adapter, activations, workspace, logitsChunk: 0, kvCache: 0, total, largestBuffer: largest, largestBufferName: largestName };
}

// ---------------------------------------------------------------- the task from the data

/** The data layer's label tasks. */
export type DataTask = 'single_label' | 'multi_label' | 'regression';

/** The settings' task (data.task) as the data layer names it; undefined for auto. */
export function dataTaskOf(setting: 'auto' | 'classification' | 'regression' | 'multi-label'): DataTask | undefined {
  return setting === 'classification' ? 'single_label' : setting === 'regression' ? 'regression' : setting === 'multi-label' ? 'multi_label' : undefined;
}

/**
 * For data.task auto: the data decides (names or integer ids → single-label, floats → regression,
 * lists → multi-label), except that a config whose problem_type is regression keeps numeric labels
 * as regression targets (a model fine-tuned on scores given integer scores).
 */
export function autoDataTask(detected: DataTask, spec: Pick<EncoderConfig, 'problemType'>, numericLabels: boolean): DataTask {
  if (detected === 'single_label' && spec.problemType === 'regression' && numericLabels) return 'regression';
  return detected;
}

/** The head's task for resolved labels: problem_type and a name per output (regression: the config's, else LABEL_0). */
export function encoderTaskFor(labels: { task: DataTask; names: string[]; numLabels: number }, spec: Pick<EncoderConfig, 'id2label'>): EncoderTask {
  const problemType: ClassificationProblem = labels.task === 'single_label' ? 'single_label_classification' : labels.task === 'multi_label' ? 'multi_label_classification' : 'regression';
  const names = labels.task === 'regression' ? (spec.id2label.length === labels.numLabels ? [...spec.id2label] : Array.from({ length: labels.numLabels }, (_, i) => `LABEL_${i}`)) : [...labels.names];
  return { problemType, labels: names };
}

/** One line for the user: the settings' targets and the encoder's own modules they adapt. */
export function describeTargetMapping(family: EncoderConfig['family'], targets: readonly TargetModule[]): string {
  const names = encoderTargetNames(family);
  return targets.map((t) => `${t} → ${names.find((n) => n.target === t)?.module ?? '(none)'}`).join(', ');
}

/**
 * What a head's logits mean for its task, per row: class probabilities (softmax), label
 * probabilities (sigmoid, each on its own), or the regression outputs themselves.
 */
export function outputProbabilities(problemType: ClassificationProblem, logits: ArrayLike<number>, L: number): number[][] {
  const rows: number[][] = [];
  for (let b = 0; b * L < logits.length; b++) {
    const x = Array.from({ length: L }, (_, l) => logits[b * L + l]);
    if (problemType === 'single_label_classification') {
      const m = Math.max(...x);
      const e = x.map((v) => Math.exp(v - m));
      const sum = e.reduce((a, v) => a + v, 0);
      rows.push(e.map((v) => v / sum));
    } else if (problemType === 'multi_label_classification') rows.push(x.map((v) => 1 / (1 + Math.exp(-v))));
    else rows.push(x);
  }
  return rows;
}
