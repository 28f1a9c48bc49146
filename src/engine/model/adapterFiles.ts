/**
 * The engine's adapter in and out of PEFT's folder format (formats/peft.ts is the one validator of
 * the files). Merging is not here: formats/export/merge.ts merges PEFT-named tensors for every
 * export and the CLI's `merge`, decoders and encoders alike.
 *
 * A Llama-family adapter is CAUSAL_LM: LoRA pairs only. An encoder's is SEQ_CLS: LoRA pairs under
 * the encoder's module paths plus the head trained in full (modules_to_save), and its labels
 * travel in a config.json beside the adapter: the …ForSequenceClassification config (architectures,
 * id2label, label2id, problem_type) that `AutoConfig.from_pretrained(folder)` reads and that
 * `AutoModelForSequenceClassification.from_pretrained(base, config=…)` takes. adapter_config.json
 * cannot carry them: PEFT before 0.14 refuses unknown fields.
 */
import type { ModelSpec } from '../../formats/hfConfig';
import { type LoraConfig, readPeftAdapter, seqClsTask, writePeftAdapter } from '../../formats/peft';
import { sequenceClassificationConfig, type EncoderConfig } from '../../formats/encoderConfig';
import type { ByteSource } from '../../formats/byteSource';
import { type AdapterLayout, type LoraSettings, LoraConfigError, adapterFromTensors, adapterTensors } from './lora';
import { llamaAdapterLayout } from './llama';
import { encoderAdapterLayoutFor, type EncoderTask } from './encoderSpec';

export type AdapterFiles = { 'adapter_model.safetensors': Uint8Array; 'adapter_config.json': string; 'config.json'?: string };
type AdapterInput = { 'adapter_model.safetensors': Uint8Array | ByteSource; 'adapter_config.json': string; 'config.json'?: string | null };

/** What an adapter belongs to: a Llama-family decoder, or an encoder and the task of its head. */
export type AdapterModel = ModelSpec | { encoder: EncoderConfig; task: EncoderTask | null; config?: Record<string, unknown> };

function encoderOf(m: AdapterModel): { encoder: EncoderConfig; task: EncoderTask | null; config?: Record<string, unknown> } | null {
  return 'encoder' in m ? m : null;
}

export function toPeftConfig(settings: LoraSettings, baseModelNameOrPath: string, revision: string | null = null, seqCls: { modulesToSave: string[] } | null = null): LoraConfig {
  return {
    taskType: seqCls ? 'SEQ_CLS' : 'CAUSAL_LM',
    modulesToSave: seqCls ? [...seqCls.modulesToSave] : null,
    r: settings.r,
    alpha: settings.alpha,
    dropout: settings.dropout,
    targetModules: [...settings.targets],
    useRslora: settings.useRslora,
    layers: settings.layers ? [...settings.layers] : null,
    baseModelNameOrPath,
    revision,
    rankPattern: {},
    alphaPattern: {},
  };
}

export function fromPeftConfig(config: LoraConfig): LoraSettings {
  if (Object.keys(config.rankPattern).length || Object.keys(config.alphaPattern).length) {
    throw new LoraConfigError('adapter_config.json: rank_pattern / alpha_pattern (per-module ranks) are not supported by the engine');
  }
  return { r: config.r, alpha: config.alpha, dropout: config.dropout, targets: [...config.targetModules], layers: config.layers ? [...config.layers] : null, useRslora: config.useRslora };
}

/** The adapter's files: adapter_model.safetensors, adapter_config.json and (an encoder's) config.json with its labels. */
export function exportAdapter(model: AdapterModel, layout: AdapterLayout, params: Float32Array, baseModelNameOrPath: string): AdapterFiles {
  const enc = encoderOf(model);
  if (!enc) return writePeftAdapter(model as ModelSpec, toPeftConfig(layout.settings, baseModelNameOrPath), adapterTensors(layout, params));
  if (!enc.task) throw new LoraConfigError('an encoder adapter needs its task (labels) to be written');
  if (!layout.modulesToSave) throw new LoraConfigError('an encoder adapter holds its trained head (modules_to_save)');
  const base = { ...enc.encoder, numLabels: enc.task.labels.length };
  const files = writePeftAdapter(base, toPeftConfig(layout.settings, baseModelNameOrPath, null, { modulesToSave: layout.modulesToSave }), adapterTensors(layout, params));
  return { ...files, 'config.json': sequenceClassificationConfig(enc.config ?? {}, enc.encoder, enc.task) };
}

export interface ImportedAdapter {
  settings: LoraSettings;
  layout: AdapterLayout;
  params: Float32Array;
  config: LoraConfig;
  /** An encoder adapter's task: from its config.json, else num_labels from the head and the base config's names. */
  task?: EncoderTask;
}

/**
 * Reads an adapter for a model, checked key by key (formats/peft.ts). For an encoder the head's
 * size comes from the file, its label names and problem type from the adapter's config.json (or,
 * without one, the task given, else LABEL_i names and single-label classification).
 */
export async function importAdapter(model: AdapterModel, files: AdapterInput): Promise<ImportedAdapter> {
  const enc = encoderOf(model);
  if (!enc) {
    const spec = model as ModelSpec;
    const { config, tensors } = await readPeftAdapter(files, spec);
    const settings = fromPeftConfig(config);
    const layout = llamaAdapterLayout(spec, settings);
    return { settings, layout, params: adapterFromTensors(layout, tensors), config };
  }
  const task = await seqClsTask(files, enc.encoder, enc.task);
  const base = { ...enc.encoder, numLabels: task.labels.length };
  const { config, tensors } = await readPeftAdapter(files, base);
  const settings = fromPeftConfig(config);
  const layout = encoderAdapterLayoutFor(enc.encoder, settings, task);
  return { settings, layout, params: adapterFromTensors(layout, tensors), config, task };
}
