// Export and import of PEFT adapters as the library stores them: a zip (fflate) with
// adapter_model.safetensors, adapter_config.json and a README.md model card. Import takes a zip or
// the files of a folder; the files themselves are checked by formats/peft.ts, the one validator of
// adapter files (against the base model when it is loaded, see the worker).
import { strFromU8, strToU8, unzipSync, zipSync } from 'fflate';
import { inspectPeftAdapter } from '../formats/peft';
import type { AdapterFiles, AdapterMeta } from './adapters';
import { SETTING_DEFS, formatSettingValue, getSetting, loraScale, modelLabel } from '../settings/settings';

export const ADAPTER_MODEL = 'adapter_model.safetensors';
export const ADAPTER_CONFIG = 'adapter_config.json';
export const MODEL_CARD = 'README.md';
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

/** Validates adapter files (from a folder or a zip) and returns them with a summary. */
export async function validateAdapterFiles(entries: Map<string, Uint8Array>): Promise<ValidatedAdapter> {
  const byBase = new Map<string, Uint8Array>();
  for (const [path, bytes] of entries) {
    const base = path.split('/').pop() ?? path;
    if (base === ADAPTER_MODEL || base === ADAPTER_CONFIG || base === LABELS_CONFIG) {
      if (byBase.has(base)) throw new AdapterImportError(base, 'found more than once; import one adapter at a time');
      byBase.set(base, bytes);
    }
  }
  const model = byBase.get(ADAPTER_MODEL);
  const configBytes = byBase.get(ADAPTER_CONFIG);
  if (!configBytes) throw new AdapterImportError(ADAPTER_CONFIG, 'missing: a PEFT adapter folder holds adapter_config.json and adapter_model.safetensors');
  if (!model) throw new AdapterImportError(ADAPTER_MODEL, 'missing (adapter_model.bin pickles are not read; convert them to safetensors)');
  const configText = strFromU8(configBytes);
  const summary = await inspectPeftAdapter({ [ADAPTER_MODEL]: model, [ADAPTER_CONFIG]: configText } as { 'adapter_model.safetensors': Uint8Array; 'adapter_config.json': string });
  const c = summary.config;
  // An encoder's labels travel in config.json; a decoder's folder may hold its base's config.json, which is not ours.
  const labels = summary.encoder ? byBase.get(LABELS_CONFIG) : undefined;
  return {
    files: { adapterModel: model, adapterConfig: configText, ...(labels ? { labelsConfig: strFromU8(labels) } : {}) },
    config: { baseModel: c.baseModelNameOrPath, r: c.r, alpha: c.alpha, dropout: c.dropout, targets: [...c.targetModules], useRslora: c.useRslora },
    tensors: summary.tensors,
    parameters: summary.parameters,
    layers: summary.layers,
  };
}

/** Unpacks a zip (only the two adapter files are extracted) and validates it. */
export async function readAdapterZip(zip: Uint8Array, name = 'adapter.zip'): Promise<ValidatedAdapter> {
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(zip, { filter: (f) => /(^|\/)(adapter_model\.safetensors|adapter_config\.json|config\.json)$/.test(f.name) && f.originalSize < 2 ** 31 });
  } catch (error) {
    throw new AdapterImportError(name, `not a readable zip (${(error as Error).message})`);
  }
  return validateAdapterFiles(new Map(Object.entries(files)));
}
