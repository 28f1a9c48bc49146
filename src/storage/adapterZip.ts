// Export and import of PEFT adapters: a zip (fflate) with adapter_model.safetensors,
// adapter_config.json and a README.md model card; import takes a zip or the files of a folder and
// validates them as PEFT would load them (DESIGN.md §4), treating missing or unexpected keys as errors.
import { strFromU8, strToU8, unzipSync, zipSync } from 'fflate';
import { openSafetensors, type SafetensorsFile } from '../formats/safetensors';
import type { AdapterFiles, AdapterMeta } from './adapters';
import { batchSize, modelLabel } from '../app/store/settings';

export const ADAPTER_MODEL = 'adapter_model.safetensors';
export const ADAPTER_CONFIG = 'adapter_config.json';
export const MODEL_CARD = 'README.md';

export class AdapterImportError extends Error {
  constructor(
    readonly file: string,
    readonly detail: string,
  ) {
    super(`AdapterImportError: ${file}: ${detail}`);
    this.name = 'AdapterImportError';
  }
}

const MODULES = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];
const KEY = /^base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)\.lora_(A|B)\.weight$/;

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
  const t = s.train;
  const base = meta.baseModel;
  const hubBase = s.model.kind === 'hub';
  const lines = [
    '---',
    `base_model: ${hubBase ? base : 'demo'}`,
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
    `| r | ${s.lora.r} |`,
    `| lora_alpha | ${s.lora.alpha} |`,
    `| lora_dropout | ${s.lora.dropout} |`,
    `| target_modules | ${s.lora.targets.join(', ')} |`,
    `| use_rslora | ${s.lora.useRslora} |`,
    `| learning rate | ${t.learningRate} |`,
    `| schedule | ${t.schedule}, warmup ratio ${t.warmupRatio} |`,
    `| epochs | ${t.epochs} |`,
    `| batch size | ${batchSize(t)} (micro-batch ${t.microBatch} × accumulation ${t.accumulation}) |`,
    `| weight decay | ${t.weightDecay} |`,
    `| max length | ${t.maxLength} |`,
    `| seed | ${t.seed} |`,
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
      [MODEL_CARD]: strToU8(modelCard(meta)),
    },
    { mtime: new Date(meta.updatedAt) },
  );
}

/** A file name for downloads: letters, digits, '-', '_' and '.' only. */
export function safeFileName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[-.]+|-+$/g, '').slice(0, 80) || 'adapter';
}

function parseConfig(text: string): PeftConfigSummary {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new AdapterImportError(ADAPTER_CONFIG, `not valid JSON (${(error as Error).message})`);
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new AdapterImportError(ADAPTER_CONFIG, 'expected a JSON object');
  const c = json as Record<string, unknown>;
  if (c.peft_type !== 'LORA') throw new AdapterImportError(ADAPTER_CONFIG, `peft_type is ${JSON.stringify(c.peft_type)}, expected "LORA"`);
  const num = (field: string, fallback?: number) => {
    const v = c[field] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new AdapterImportError(ADAPTER_CONFIG, `field "${field}" must be a non-negative number`);
    return v;
  };
  const r = num('r', 8);
  if (!Number.isInteger(r) || r < 1) throw new AdapterImportError(ADAPTER_CONFIG, `field "r" must be a positive integer, got ${r}`);
  let targets = c.target_modules;
  if (typeof targets === 'string') targets = [targets];
  if (!Array.isArray(targets) || targets.length === 0 || !targets.every((t) => typeof t === 'string' && MODULES.includes(t))) {
    throw new AdapterImportError(ADAPTER_CONFIG, `field "target_modules" must list some of ${MODULES.join(', ')}, got ${JSON.stringify(targets)}`);
  }
  if (c.use_dora === true) throw new AdapterImportError(ADAPTER_CONFIG, 'DoRA adapters (use_dora: true) are not supported');
  if (c.fan_in_fan_out === true) throw new AdapterImportError(ADAPTER_CONFIG, 'fan_in_fan_out: true is for GPT-2 style Conv1D layers, which the studio does not run');
  return {
    baseModel: typeof c.base_model_name_or_path === 'string' ? c.base_model_name_or_path : '',
    r,
    alpha: num('lora_alpha', 8),
    dropout: num('lora_dropout', 0),
    targets: targets as string[],
    useRslora: c.use_rslora === true,
  };
}

async function checkTensors(st: SafetensorsFile, config: PeftConfigSummary): Promise<{ tensors: number; parameters: number; layers: number[] }> {
  const seen = new Map<string, { A?: number[]; B?: number[] }>();
  let parameters = 0;
  const layers = new Set<number>();
  for (const t of st.header.tensors) {
    const m = KEY.exec(t.name);
    if (!m) throw new AdapterImportError(ADAPTER_MODEL, `unexpected tensor "${t.name}" (expected base_model.model.model.layers.{i}.{self_attn|mlp}.{module}.lora_{A|B}.weight)`);
    const [, layer, group, module, which] = m;
    const wantGroup = ['gate_proj', 'up_proj', 'down_proj'].includes(module) ? 'mlp' : 'self_attn';
    if (group !== wantGroup) throw new AdapterImportError(ADAPTER_MODEL, `tensor "${t.name}": ${module} belongs under ${wantGroup}`);
    if (!config.targets.includes(module)) throw new AdapterImportError(ADAPTER_MODEL, `tensor "${t.name}": ${module} is not in target_modules`);
    if (t.dtype !== 'F32' && t.dtype !== 'F16' && t.dtype !== 'BF16') throw new AdapterImportError(ADAPTER_MODEL, `tensor "${t.name}": dtype ${t.dtype}, expected F32`);
    if (t.shape.length !== 2) throw new AdapterImportError(ADAPTER_MODEL, `tensor "${t.name}": shape ${JSON.stringify(t.shape)} is not 2-D`);
    const rAxis = which === 'A' ? t.shape[0] : t.shape[1];
    if (rAxis !== config.r) throw new AdapterImportError(ADAPTER_MODEL, `tensor "${t.name}": shape ${JSON.stringify(t.shape)} but r is ${config.r}`);
    const slot = `${layer}.${module}`;
    const entry = seen.get(slot) ?? {};
    entry[which as 'A' | 'B'] = t.shape;
    seen.set(slot, entry);
    parameters += t.shape[0] * t.shape[1];
    layers.add(Number(layer));
  }
  if (seen.size === 0) throw new AdapterImportError(ADAPTER_MODEL, 'the file holds no LoRA tensors');
  for (const [slot, e] of seen) {
    if (!e.A || !e.B) throw new AdapterImportError(ADAPTER_MODEL, `layer ${slot}: lora_${e.A ? 'B' : 'A'} is missing`);
  }
  for (const layer of layers) {
    for (const module of config.targets) {
      if (!seen.has(`${layer}.${module}`)) throw new AdapterImportError(ADAPTER_MODEL, `layer ${layer}: ${module} is in target_modules but has no tensors`);
    }
  }
  return { tensors: st.header.tensors.length, parameters, layers: [...layers].sort((a, b) => a - b) };
}

/** Validates adapter files (from a folder or a zip) and returns them with a summary. */
export async function validateAdapterFiles(entries: Map<string, Uint8Array>): Promise<ValidatedAdapter> {
  const byBase = new Map<string, Uint8Array>();
  for (const [path, bytes] of entries) {
    const base = path.split('/').pop() ?? path;
    if (base === ADAPTER_MODEL || base === ADAPTER_CONFIG) {
      if (byBase.has(base)) throw new AdapterImportError(base, 'found more than once; import one adapter at a time');
      byBase.set(base, bytes);
    }
  }
  const model = byBase.get(ADAPTER_MODEL);
  const configBytes = byBase.get(ADAPTER_CONFIG);
  if (!configBytes) throw new AdapterImportError(ADAPTER_CONFIG, 'missing: a PEFT adapter folder holds adapter_config.json and adapter_model.safetensors');
  if (!model) throw new AdapterImportError(ADAPTER_MODEL, 'missing (adapter_model.bin pickles are not read; convert them to safetensors)');
  const configText = strFromU8(configBytes);
  const config = parseConfig(configText);
  let st: SafetensorsFile;
  try {
    st = await openSafetensors(model, ADAPTER_MODEL);
  } catch (error) {
    throw new AdapterImportError(ADAPTER_MODEL, (error as Error).message);
  }
  const summary = await checkTensors(st, config);
  return { files: { adapterModel: model, adapterConfig: configText }, config, ...summary };
}

/** Unpacks a zip (only the two adapter files are extracted) and validates it. */
export async function readAdapterZip(zip: Uint8Array, name = 'adapter.zip'): Promise<ValidatedAdapter> {
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(zip, { filter: (f) => /(^|\/)(adapter_model\.safetensors|adapter_config\.json)$/.test(f.name) && f.originalSize < 2 ** 31 });
  } catch (error) {
    throw new AdapterImportError(name, `not a readable zip (${(error as Error).message})`);
  }
  return validateAdapterFiles(new Map(Object.entries(files)));
}
