/**
 * The model an export reads, from a model folder wherever it lives (a Node folder, dropped browser
 * files, the served demo, the hub) and an optional PEFT adapter: its spec, config.json, the text
 * files that travel with it, and a weight reader that merges the adapter in (merge.ts) and refuses
 * a non-finite tensor by name. The CLI's `export` and `merge` and the studio's "Export for…" all
 * open their source here.
 *
 * A Llama-family decoder exports as the causal LM it is. A BERT-family encoder exports as the
 * …ForSequenceClassification model its SEQ_CLS adapter makes: LoRA merged, the head the adapter
 * trained (modules_to_save) in place of the base's, the labels of the adapter's config.json in
 * config.json; without an adapter the base must be a classifier already (its own head and labels).
 */
import { encoderHeadTensors, ENCODER_HEAD_MODULES, sequenceClassificationConfig, type EncoderConfig, type SequenceClassificationTask } from '../encoderConfig';
import type { ByteSource } from '../byteSource';
import { openModelFolder, type DecoderFolder, type EncoderFolder, type ModelFiles } from '../modelFolder';
import { firstNonFinite, readPeftAdapter, seqClsTask } from '../peft';
import { mergedWeights, type LoraAdapter } from './merge';
import { ExportError, type EncoderSourceModel, type SourceModel, type WeightReader } from './types';

/**
 * The files besides config.json and the weights that an exported model carries when the source
 * has them: the tokenizer (tokenizer.json and the slow tokenizers' vocab.txt, vocab.json and
 * merges.txt that Python's non-fast tokenizers read), generation settings, the chat template.
 */
export const MODEL_TEXT_FILES = [
  'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json', 'chat_template.jinja', 'vocab.txt', 'vocab.json', 'merges.txt',
] as const;

export interface DecoderSource {
  folder: DecoderFolder;
  /** The base model as it is (for a GGUF base beside a GGUF adapter). */
  base: SourceModel;
  /** The base with the adapter merged in (the base itself without an adapter). */
  merged: SourceModel;
}

export interface EncoderSource {
  folder: EncoderFolder;
  /** The classifier being exported: the adapter's head and labels (the base's own without an adapter). */
  task: SequenceClassificationTask;
  /** The base encoder as stored, with the head of the base's config (absent tensors fail when read). */
  base: EncoderSourceModel;
  /** The base with the adapter's LoRA merged in and its trained head. */
  merged: EncoderSourceModel;
}

export type OpenedSource = DecoderSource | EncoderSource;

export function isEncoderExport(source: OpenedSource): source is EncoderSource {
  return source.folder.family === 'encoder';
}

type AdapterFolderFiles = { 'adapter_model.safetensors': Uint8Array | ByteSource; 'adapter_config.json': string; 'config.json'?: string | null };

/**
 * Reads an adapter folder's files for an export of `folder`'s model (a model folder, or a loaded
 * session's family and spec), checked key by key against it
 * (formats/peft.ts): a decoder's CAUSAL_LM adapter, or an encoder's SEQ_CLS adapter with its head and
 * the task its config.json names (peft.ts seqClsTask).
 */
export async function readExportAdapter(folder: Pick<DecoderFolder, 'family' | 'spec'> | Pick<EncoderFolder, 'family' | 'spec'>, files: AdapterFolderFiles): Promise<LoraAdapter> {
  if (folder.family === 'llama') return readPeftAdapter(files, folder.spec);
  const task = await seqClsTask(files, folder.spec);
  const { config, tensors } = await readPeftAdapter(files, { ...folder.spec, numLabels: task.labels.length });
  return { config, tensors, task };
}

/**
 * Opens `files` as an export source. Every tensor read is checked: a non-finite base tensor or a
 * merged one that overflows is an ExportError naming the tensor, raised before anything is written.
 */
export async function openExportSource(files: ModelFiles, adapter: LoraAdapter | null): Promise<OpenedSource> {
  const folder = await openModelFolder(files);
  const textFiles = new Map<string, string>();
  for (const f of MODEL_TEXT_FILES) {
    const text = await files.text(f);
    if (text !== null) textFiles.set(f, text);
  }
  const checked = (read: WeightReader): WeightReader => async (name: string) => {
    const values = await read(name);
    const bad = firstNonFinite(values);
    if (bad) throw new ExportError(`${files.name}: tensor "${name}" holds ${bad}: refusing to export a non-finite model`);
    return values;
  };
  const checkedMerge = (read: WeightReader): WeightReader => async (name: string) => {
    const values = await read(name);
    const bad = firstNonFinite(values);
    if (bad) throw new ExportError(`merged tensor "${name}" would hold ${bad}: the adapter overflows the model; nothing was written`);
    return values;
  };
  if (folder.family === 'llama') {
    const base = checked((name) => folder.readTensorF32(name));
    const common = { spec: folder.spec, config: folder.config, textFiles };
    return { folder, base: { ...common, weights: base }, merged: { ...common, weights: adapter ? checkedMerge(mergedWeights(folder.spec, base, adapter)) : base } };
  }

  // An encoder: by canonical names, whatever spelling the checkpoint stores.
  const cfg = folder.spec;
  const base = checked(async (name) => {
    const stored = folder.weights.names.get(name);
    if (!stored) throw new ExportError(`${files.name}: the base model stores no "${name}"`);
    return folder.readTensorF32(stored);
  });
  const task = adapter ? adapterTask(cfg, adapter) : baseTask(cfg, folder, files.name);
  const spec: EncoderConfig = { ...cfg, numLabels: task.labels.length, id2label: [...task.labels], problemType: task.problemType };
  // Every head tensor comes from the adapter (trained in full) or the base, with the head's shape.
  const trained = new Set(adapter ? [...adapter.tensors.keys()].filter((k) => !k.includes('.lora_')).map((k) => k.replace(/^base_model\.model\./, '')) : []);
  for (const h of encoderHeadTensors(spec, spec.numLabels)) {
    if (trained.has(h.name)) continue;
    const stored = folder.weights.names.get(h.name);
    const shape = stored ? folder.tensorInfo(stored).shape : null;
    if (!shape || shape.join('×') !== h.shape.join('×')) {
      throw new ExportError(`the base model stores no "${h.name}" ${JSON.stringify(h.shape)}${adapter ? ' and the adapter does not train it' : ''}: the exported ${cfg.architecture} would be incomplete`);
    }
  }
  const common = { textFiles };
  const baseConfig = JSON.parse(sequenceClassificationConfig(folder.config, cfg, baseTaskOrDefault(cfg)));
  const mergedConfig = JSON.parse(sequenceClassificationConfig(folder.config, cfg, task));
  const baseSpec: EncoderConfig = { ...cfg };
  return {
    folder,
    task,
    base: { ...common, spec: baseSpec, config: baseConfig, weights: base },
    merged: { ...common, spec, config: mergedConfig, weights: adapter ? checkedMerge(mergedWeights(spec, base, adapter)) : base },
  };
}

/** The base config's own task (Transformers' defaults where it names none). */
function baseTaskOrDefault(cfg: EncoderConfig): SequenceClassificationTask {
  return { problemType: cfg.problemType ?? (cfg.numLabels === 1 ? 'regression' : 'single_label_classification'), labels: [...cfg.id2label] };
}

/** Without an adapter the base must be a classifier already: its head stored with its config's num_labels. */
function baseTask(cfg: EncoderConfig, folder: EncoderFolder, name: string): SequenceClassificationTask {
  if (folder.weights.head !== 'present') {
    throw new ExportError(`${name} has no classification head (${ENCODER_HEAD_MODULES[cfg.family].join(', ')} with ${cfg.numLabels} labels): export it with the SEQ_CLS adapter that trained one (--adapter)`);
  }
  return baseTaskOrDefault(cfg);
}

/** The adapter's task (its config.json), or one read off its head's size when it came without one. */
function adapterTask(cfg: EncoderConfig, adapter: LoraAdapter): SequenceClassificationTask {
  if (adapter.config.taskType !== 'SEQ_CLS') throw new ExportError(`the adapter is ${adapter.config.taskType}, but ${cfg.architecture} takes a SEQ_CLS adapter (LoRA and a trained classification head)`);
  if (adapter.task) return adapter.task;
  const last = adapter.tensors.get(`base_model.model.${ENCODER_HEAD_MODULES[cfg.family][1]}.weight`);
  if (!last || last.length % cfg.hiddenSize !== 0) throw new ExportError('the adapter holds no classification head (modules_to_save): it is not a SEQ_CLS adapter');
  const L = last.length / cfg.hiddenSize;
  if (L === cfg.numLabels) return baseTaskOrDefault(cfg);
  return { problemType: L === 1 ? 'regression' : 'single_label_classification', labels: Array.from({ length: L }, (_, i) => `LABEL_${i}`) };
}
