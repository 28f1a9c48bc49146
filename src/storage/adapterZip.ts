// Export and import of PEFT adapters as the library stores them: a zip (fflate) with
// adapter_model.safetensors, adapter_config.json and a README.md model card. Import takes a zip or
// the files of a folder; the files themselves are checked by formats/peft.ts, the one validator of
// adapter files (against the base model when it is loaded, see the worker).
import { strFromU8, strToU8, unzipSync, zipSync } from 'fflate';
import { inspectPeftAdapter } from '../formats/peft';
import { parseTrainerState, summarizeTrainerState, type TrainingSummary } from '../formats/trainerState';
import type { AdapterFiles, AdapterMeta, DatasetSummary } from './adapters';
import { SETTING_DEFS, formatSettingValue, getSetting, loraScale, modelLabel, validateSettings, withDefaults, type RunSettings } from '../settings/settings';

export const ADAPTER_MODEL = 'adapter_model.safetensors';
export const ADAPTER_CONFIG = 'adapter_config.json';
export const MODEL_CARD = 'README.md';
/** Written by Hugging Face's Trainer in checkpoint-N folders and by trainer.save_state(). */
export const TRAINER_STATE = 'trainer_state.json';
/** Written by the PyTorch export's train.py next to the adapter (formats/export/pytorch.ts). */
export const RUN_RECORD = 'adapter_studio_run.json';
/** The files an import reads; everything else in a folder or zip (optimizer states, …) is left alone. */
export const IMPORT_FILE = /(^|\/)(adapter_model\.safetensors|adapter_config\.json|config\.json|trainer_state\.json|adapter_studio_run\.json)$/;
/** An encoder adapter's labels (the …ForSequenceClassification config.json). */
export const LABELS_CONFIG = 'config.json';

export class AdapterImportError extends Error {
  constructor(
    readonly file: string,
    readonly detail: string,
  ) {
    super(`AdapterImportError: ${file}: ${detail}`);
    this.name = 'AdapterImportError';
  }
}


export interface ValidatedAdapter {
  files: AdapterFiles;
  config: PeftConfigSummary;
  tensors: number;
  parameters: number;
  layers: number[];
  /** The folder the adapter was taken from ("" for the top), e.g. "output" or "output/checkpoint-40". */
  folder: string;
  /** The training log that came with it (a Trainer's trainer_state.json), as the library keeps it. */
  training: (TrainingSummary & { file: string }) | null;
  /** The studio run it continues (adapter_studio_run.json of a PyTorch export's train.py). */
  run: ImportedRun | null;
}

export interface ImportedRun {
  /** The run's settings, when they are valid settings of this studio. */
  settings: RunSettings | null;
  baseModel: string | null;
  dataset: DatasetSummary | null;
  /** How it was trained, in words ("PyTorch, 4 processes × 2 rows × 2 accumulation, bf16, transformers 4.57.3"). */
  trainedWith: string | null;
  /** Steps the studio had trained before (a continued adapter): the log's steps count from there. */
  stepOffset: number;
}

export interface PeftConfigSummary {
  baseModel: string;
  r: number;
  alpha: number;
  dropout: number;
  targets: string[];
  useRslora: boolean;
}

function fmt(x: number | null | undefined, digits = 4): string {
  return x == null || !Number.isFinite(x) ? 'n/a' : x.toFixed(digits);
}

/** Markdown text can carry user-given names: keep them from opening HTML or links. */
function mdText(s: string): string {
  return s.replace(/[<>&[\]`|*_\\]/g, (c) => `\\${c}`).replace(/[\r\n]+/g, ' ');
}

/** The README.md model card: what the adapter is, how it was made, and how to load it with PEFT. */
export function modelCard(meta: AdapterMeta): string {
  const s = meta.settings;
  const base = meta.baseModel;
  const hubBase = s.model.kind === 'hub';
  const lines = [
    '---',
    `base_model: ${hubBase ? base : mdText(base)}`,
    'library_name: peft',
    'tags:',
    '- lora',
    '- adapter-studio',
    '---',
    '',
    `# ${mdText(meta.name)}`,
    '',
    `A LoRA adapter for **${mdText(modelLabel(s.model))}**, fine-tuned in the browser with Adapter Studio (WebGPU).`,
    '',
    '## Base model',
    '',
    `- ${mdText(base)}${hubBase ? ` (https://huggingface.co/${base})` : ''}`,
    '',
    '## Dataset',
    '',
  ];
  if (meta.dataset) {
    const d = meta.dataset;
    lines.push(
      `- file: ${mdText(d.name)} (${d.format}, ${d.kind})`,
      `- rows: ${d.rows} (${d.trainRows} train, ${d.validationRows} validation)`,
      `- tokens: ${d.tokens}`,
    );
  } else {
    lines.push('- not recorded (imported adapter)');
  }
  lines.push(
    '',
    '## Hyperparameters',
    '',
    '| setting | value |',
    '|---|---|',
    ...SETTING_DEFS.filter((d) => d.group === 'lora' || d.group === 'train' || d.group === 'data').map((d) => `| ${d.label} | ${mdText(formatSettingValue(d, getSetting(s, d.key)))} |`),
    `| LoRA scale (alpha/${s.lora.useRslora ? '√r' : 'r'}) | ${loraScale(s.lora)} |`,
    '',
    '## Metrics',
    '',
    `- optimizer steps: ${meta.metrics.steps}`,
    `- final training loss: ${fmt(meta.metrics.finalLoss)}`,
    `- final validation loss: ${fmt(meta.metrics.finalValidationLoss)}`,
    '',
    '## Use it with PEFT',
    '',
    '```python',
    'from transformers import AutoModelForCausalLM, AutoTokenizer',
    'from peft import PeftModel',
    '',
    `base = AutoModelForCausalLM.from_pretrained("${hubBase ? base : 'path/to/the/base/model'}")`,
    `tokenizer = AutoTokenizer.from_pretrained("${hubBase ? base : 'path/to/the/base/model'}")`,
    'model = PeftModel.from_pretrained(base, "path/to/this/folder")',
    '```',
    '',
  );
  return lines.join('\n');
}

/** A zip with the adapter, its config and the model card. */
export function adapterZip(meta: AdapterMeta, files: AdapterFiles): Uint8Array {
  return zipSync(
    {
      [ADAPTER_MODEL]: [files.adapterModel, { level: 0 }],
      [ADAPTER_CONFIG]: strToU8(files.adapterConfig),
      ...(files.labelsConfig ? { [LABELS_CONFIG]: strToU8(files.labelsConfig) } : {}),
      [MODEL_CARD]: strToU8(modelCard(meta)),
    },
    { mtime: new Date(meta.updatedAt) },
  );
}

/** A file name for downloads: letters, digits, '-', '_' and '.' only. */
export function safeFileName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[-.]+|-+$/g, '').slice(0, 80) || 'adapter';
}

function dirOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

function baseOf(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

const CHECKPOINT_DIR = /(^|\/)checkpoint-(\d+)$/;

/**
 * The folder whose adapter to import. A Trainer's output folder holds the final adapter and the same
 * files again in each checkpoint-N folder: the final one wins, else the last checkpoint. Two adapters
 * that are not one run's are refused.
 */
function chooseAdapterFolder(entries: Map<string, Uint8Array>): string {
  const has = new Map<string, Set<string>>();
  for (const path of entries.keys()) {
    const base = baseOf(path);
    if (base !== ADAPTER_MODEL && base !== ADAPTER_CONFIG) continue;
    const dir = dirOf(path);
    if (!has.has(dir)) has.set(dir, new Set());
    has.get(dir)!.add(base);
  }
  const complete = [...has].filter(([, f]) => f.size === 2).map(([d]) => d);
  const finals = complete.filter((d) => !CHECKPOINT_DIR.test(d));
  if (finals.length > 1) throw new AdapterImportError(ADAPTER_MODEL, `found more than once (${finals.map((d) => d || 'the top folder').join(', ')}); import one adapter at a time`);
  if (finals.length === 1) return finals[0];
  const checkpoints = complete.filter((d) => CHECKPOINT_DIR.test(d));
  if (checkpoints.length) {
    const parents = new Set(checkpoints.map(dirOf));
    if (parents.size > 1) throw new AdapterImportError(ADAPTER_MODEL, `found in checkpoints of several runs (${[...parents].join(', ')}); import one adapter at a time`);
    return checkpoints.sort((a, b) => Number(CHECKPOINT_DIR.exec(b)![2]) - Number(CHECKPOINT_DIR.exec(a)![2]))[0];
  }
  // No folder has both files: say which one is missing.
  const present = new Set([...has.values()].flatMap((f) => [...f]));
  if (!present.has(ADAPTER_CONFIG)) throw new AdapterImportError(ADAPTER_CONFIG, 'missing: a PEFT adapter folder holds adapter_config.json and adapter_model.safetensors');
  if (!present.has(ADAPTER_MODEL)) throw new AdapterImportError(ADAPTER_MODEL, 'missing (adapter_model.bin pickles are not read; convert them to safetensors)');
  throw new AdapterImportError(ADAPTER_MODEL, 'adapter_model.safetensors and adapter_config.json are in different folders; import the folder that holds both');
}

/** The training log of the adapter in `folder`: its own trainer_state.json or its checkpoints', the furthest one. */
function trainingOf(entries: Map<string, Uint8Array>, folder: string, stepOffset: number): ValidatedAdapter['training'] {
  const run = CHECKPOINT_DIR.test(folder) ? dirOf(folder) : folder;
  let best: { file: string; state: ReturnType<typeof parseTrainerState> } | null = null;
  for (const [path, bytes] of entries) {
    if (baseOf(path) !== TRAINER_STATE) continue;
    const dir = dirOf(path);
    const ours = dir === folder || (dir === run && !CHECKPOINT_DIR.test(folder)) || (CHECKPOINT_DIR.test(dir) && dirOf(dir) === run && !CHECKPOINT_DIR.test(folder));
    if (!ours) continue;
    const state = parseTrainerState(strFromU8(bytes), path);
    if (!best || state.globalStep > best.state.globalStep || (state.globalStep === best.state.globalStep && dir === folder)) best = { file: path, state };
  }
  return best ? { file: best.file, ...summarizeTrainerState(best.state, stepOffset) } : null;
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

/** Settings of an earlier export, completed with the settings added since (withDefaults), when they are valid; else null. */
function importedSettings(raw: unknown): RunSettings | null {
  if (!raw || typeof raw !== 'object') return null;
  let settings: RunSettings;
  try {
    settings = withDefaults(raw as RunSettings);
  } catch {
    return null; // not shaped like settings at all (a group is missing)
  }
  return validateSettings(settings).length === 0 ? settings : null;
}

/** adapter_studio_run.json: the export's run.json and how train.py was launched. */
export function parseRunRecord(text: string, file = RUN_RECORD): ImportedRun {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw new AdapterImportError(file, `is not valid JSON (${(e as Error).message})`);
  }
  if (!j || typeof j !== 'object' || j.format !== 'adapter-studio-pytorch') throw new AdapterImportError(file, 'is not the run record of an Adapter Studio PyTorch export');
  const settings = importedSettings(j.settings);
  const base = (j.base_model ?? {}) as Record<string, unknown>;
  const d = (j.dataset ?? null) as Record<string, unknown> | null;
  let dataset: DatasetSummary | null = null;
  if (d && typeof d.name === 'string') {
    const t = (d.train ?? {}) as Record<string, unknown>;
    const v = (d.validation ?? {}) as Record<string, unknown>;
    dataset = {
      name: d.name,
      format: d.name.split('.').slice(1).join('.') || 'unknown',
      rows: num(t.rows) + num(v.rows),
      trainRows: num(t.rows),
      validationRows: num(v.rows),
      tokens: num(t.tokens) + num(v.tokens),
      kind: str(d.schema) ?? 'unknown',
    };
  }
  const l = (j.launch ?? null) as Record<string, unknown> | null;
  let trainedWith: string | null = null;
  if (l) {
    const versions = (l.versions ?? {}) as Record<string, unknown>;
    const how = l.fsdp ? 'FSDP' : l.deepspeed ? 'DeepSpeed' : num(l.processes) > 1 ? 'DDP' : 'one GPU';
    trainedWith = `PyTorch (${how}): ${num(l.processes)} process${num(l.processes) === 1 ? '' : 'es'} × ${num(l.per_device_batch)} rows × ${num(l.gradient_accumulation_steps)} accumulation, ${str(l.precision) ?? '?'}; transformers ${str(versions.transformers) ?? '?'}, peft ${str(versions.peft) ?? '?'}, torch ${str(versions.torch) ?? '?'}`;
  }
  const init = (j.init_adapter ?? null) as Record<string, unknown> | null;
  return { settings, baseModel: str(base.name), dataset, trainedWith, stepOffset: init ? num(init.steps) : 0 };
}

/**
 * Validates adapter files (from a folder or a zip) and returns them with a summary. A Trainer's
 * output folder (PEFT's files, checkpoint-N folders, trainer_state.json, train.py's run record)
 * imports with its training log.
 */
export async function validateAdapterFiles(entries: Map<string, Uint8Array>): Promise<ValidatedAdapter> {
  const folder = chooseAdapterFolder(entries);
  const at = (name: string) => entries.get(folder ? `${folder}/${name}` : name)!;
  const model = at(ADAPTER_MODEL);
  const configText = strFromU8(at(ADAPTER_CONFIG));
  const summary = await inspectPeftAdapter({ [ADAPTER_MODEL]: model, [ADAPTER_CONFIG]: configText } as { 'adapter_model.safetensors': Uint8Array; 'adapter_config.json': string });
  const c = summary.config;
  const runDir = CHECKPOINT_DIR.test(folder) ? dirOf(folder) : folder;
  const recordBytes = entries.get(runDir ? `${runDir}/${RUN_RECORD}` : RUN_RECORD);
  const run = recordBytes ? parseRunRecord(strFromU8(recordBytes), runDir ? `${runDir}/${RUN_RECORD}` : RUN_RECORD) : null;
  // An encoder's labels travel in config.json; a decoder's folder may hold its base's config.json, which is not ours.
  const labels = summary.encoder ? entries.get(folder ? `${folder}/${LABELS_CONFIG}` : LABELS_CONFIG) : undefined;
  return {
    files: { adapterModel: model, adapterConfig: configText, ...(labels ? { labelsConfig: strFromU8(labels) } : {}) },
    config: { baseModel: c.baseModelNameOrPath, r: c.r, alpha: c.alpha, dropout: c.dropout, targets: [...c.targetModules], useRslora: c.useRslora },
    tensors: summary.tensors,
    parameters: summary.parameters,
    layers: summary.layers,
    folder,
    training: trainingOf(entries, folder, run?.stepOffset ?? 0),
    run,
  };
}

/** Unpacks a zip (only the adapter files, a Trainer's trainer_state.json and train.py's run record) and validates it. */
export async function readAdapterZip(zip: Uint8Array, name = 'adapter.zip'): Promise<ValidatedAdapter> {
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(zip, { filter: (f) => IMPORT_FILE.test(f.name) && f.originalSize < 2 ** 31 });
  } catch (error) {
    throw new AdapterImportError(name, `not a readable zip (${(error as Error).message})`);
  }
  return validateAdapterFiles(new Map(Object.entries(files)));
}
