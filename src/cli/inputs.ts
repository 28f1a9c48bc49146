/**
 * What the CLI's commands read from their flags, shared by commands.ts and exportPytorch.ts: the
 * model (a folder, a built-in model or a hub id), an adapter folder, the layers, the data options, and the flags that
 * contradict a checkpoint or an adapter.
 */
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError, type ParsedCommand } from './args';
import { nodeFiles } from '../formats/nodeSource';
import type { ModelFiles } from '../formats/modelFolder';
import { hubFiles } from '../hub/hub';
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE } from '../formats/peft';
import { loadDataset, previewDataset, type LoadedDataset, type PrepareOptions } from '../data/dataset';
import type { DataSource } from '../data/source';
import type { loadTokenizer } from '../data/tokenize';
import { autoDataTask, dataTaskOf } from '../engine/model/encoderSpec';
import type { EncoderConfig } from '../formats/encoderConfig';
import { parseColumnsFlag, type ColumnMapping } from '../data/schema';
import { fromPath } from '../data/nodeSource';
import { DEMO_ENCODER_MODEL_NAME, DEMO_MODEL_NAME, SETTING_DEFS, canonicalJson, getSetting, type ModelChoice, type RunSettings } from '../settings/settings';

export interface OpenedModel {
  files: ModelFiles;
  choice: ModelChoice;
  /** What adapter_config.json records as the base (the path as given, the hub id, or the built-in model's name). */
  baseName: string;
  /** The model's folder on this machine (a local or built-in model; none for a hub id). */
  folder?: string;
}

/**
 * The studio's built-in models, shipped in the package's public/models/: `--model demo` (or the name
 * the studio records, adapter-studio/demo) and `--model demo-bert`. A local folder of that name wins.
 */
const BUILT_IN: Record<string, { folder: string; choice: ModelChoice; name: string }> = {
  demo: { folder: 'demo', choice: { kind: 'demo' }, name: DEMO_MODEL_NAME },
  [DEMO_MODEL_NAME]: { folder: 'demo', choice: { kind: 'demo' }, name: DEMO_MODEL_NAME },
  'demo-bert': { folder: 'demo-bert', choice: { kind: 'demo', variant: 'bert' }, name: DEMO_ENCODER_MODEL_NAME },
  [DEMO_ENCODER_MODEL_NAME]: { folder: 'demo-bert', choice: { kind: 'demo', variant: 'bert' }, name: DEMO_ENCODER_MODEL_NAME },
};

/** The folder of a built-in model: public/models/ of the package this module is in (run from src/ or from the built dist/cli/). */
export function builtInModelDir(folder: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, 'public', 'models', folder);
}

/** The model of --model: a folder, a built-in model (demo, demo-bert), or a hub id. */
export async function openModel(where: string): Promise<OpenedModel> {
  if (existsSync(where)) {
    if (!statSync(where).isDirectory()) throw new UsageError(`--model ${where} is a file; give the model's folder (config.json, model.safetensors, tokenizer.json)`);
    return { files: nodeFiles(where), choice: { kind: 'local', name: where }, baseName: where, folder: where };
  }
  const builtIn = Object.hasOwn(BUILT_IN, where) ? BUILT_IN[where] : undefined;
  if (builtIn) {
    const dir = builtInModelDir(builtIn.folder);
    if (!existsSync(join(dir, 'config.json'))) throw new UsageError(`--model ${where}: the built-in model is not in this installation (${dir}); give a model folder or a hub id`);
    return { files: nodeFiles(dir), choice: builtIn.choice, baseName: builtIn.name, folder: dir };
  }
  if (!/^[\w.-]+\/[\w.-]+$/.test(where)) throw new UsageError(`--model ${where}: no such folder, not a built-in model (demo, demo-bert), and not a hub id like "HuggingFaceTB/SmolLM2-135M"`);
  const files = hubFiles(where, { cache: null, token: process.env.HF_TOKEN });
  return { files, choice: { kind: 'hub', id: where }, baseName: where };
}

export const LABELS_FILE = 'config.json';

export async function readAdapterFolder(dir: string, flag: string): Promise<{ 'adapter_model.safetensors': Uint8Array; 'adapter_config.json': string; 'config.json'?: string }> {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`${flag} ${dir}: no such folder`);
  const weights = join(dir, ADAPTER_WEIGHTS_FILE);
  const config = join(dir, ADAPTER_CONFIG_FILE);
  if (!existsSync(weights) || !existsSync(config)) throw new UsageError(`${flag} ${dir} is not a PEFT adapter folder (needs ${ADAPTER_WEIGHTS_FILE} and ${ADAPTER_CONFIG_FILE})`);
  const labels = join(dir, LABELS_FILE);
  return {
    'adapter_model.safetensors': new Uint8Array(await readFile(weights)),
    'adapter_config.json': await readFile(config, 'utf8'),
    ...(existsSync(labels) ? { 'config.json': await readFile(labels, 'utf8') } : {}),
  };
}

export function parseLayers(text: string | undefined, numLayers: number): number[] | null {
  if (text === undefined || text === 'all') return null;
  const layers = text.split(',').map((s) => Number(s.trim()));
  for (const l of layers) {
    if (!Number.isInteger(l) || l < 0 || l >= numLayers) throw new UsageError(`train --layers: "${text}" must list layer numbers in 0..${numLayers - 1}`);
  }
  return layers;
}

/** Flags that contradict a source of settings (a checkpoint, an adapter) are errors naming both values. */
export function refuseConflicts(p: ParsedCommand, base: RunSettings, keys: string[], source: string): void {
  for (const key of keys) {
    const given = p.settings.get(key);
    if (given === undefined) continue;
    const have = getSetting(base, key);
    if (canonicalJson(given) !== canonicalJson(have)) {
      const d = SETTING_DEFS.find((x) => x.key === key)!;
      throw new UsageError(`train --${d.cli} ${Array.isArray(given) ? given.join(',') : given} conflicts with ${source}, which has ${Array.isArray(have) ? have.join(',') : String(have)}: ${source} wins; drop --${d.cli}`);
    }
  }
}

export const LORA_KEYS = ['lora.r', 'lora.alpha', 'lora.dropout', 'lora.targets', 'lora.useRslora'];

/** The data options a command's flags and settings give (one mapping of flags to the data layer). */
export function dataOptions(p: ParsedCommand, settings: Pick<RunSettings, 'data' | 'train'>, maxLength: number, vocabSize: number, explain?: number[]): PrepareOptions {
  const o = p.options;
  let mapping: ColumnMapping | undefined;
  const columns = o.string('columns');
  const schema = o.string('schema');
  const numbersAsText = o.string('numbers-as-text')?.split(',').map((c) => c.trim()).filter(Boolean);
  if (columns !== undefined || schema !== undefined) {
    try {
      mapping = parseColumnsFlag(columns ?? '', schema, { numbersAsText });
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  } else if (numbersAsText?.length) throw new UsageError('--numbers-as-text names columns of a mapping: give --columns (and --schema) with it');
  return {
    mapping, maxLength, trainOn: settings.data.trainOn, onBadRows: settings.data.onBadRows, seed: settings.train.seed, vocabSize, explain,
  };
}

/** The options `train` reads its dataset with (and `export --format pytorch` writes it with): one place, so both see the same rows. */
export async function runDataOptions(p: ParsedCommand, settings: RunSettings, vocabSize: number, validationPath: string | undefined): Promise<PrepareOptions> {
  return {
    ...dataOptions(p, settings, settings.train.maxLength, vocabSize),
    validation: validationPath ? { source: await fromPath(validationPath) } : settings.data.validationFraction > 0 ? { fraction: settings.data.validationFraction } : undefined,
  };
}

/** The longest row an encoder's position table holds (RoBERTa's positions start after the pad id). */
export function encoderMaxPositions(cfg: EncoderConfig): number {
  return cfg.family === 'roberta' ? cfg.maxPositionEmbeddings - cfg.padTokenId - 1 : cfg.maxPositionEmbeddings;
}

/**
 * Classification data for an encoder: the file read with the model's tokenizer ([CLS]/[SEP] or
 * <s>/</s>), labels resolved as the task setting says (auto: from the labels and the config).
 */
export async function loadClassificationData(
  source: DataSource, validation: DataSource | undefined, tok: Awaited<ReturnType<typeof loadTokenizer>>, spec: EncoderConfig, settings: RunSettings, maxLength: number,
): Promise<LoadedDataset> {
  const opts = {
    objective: 'classification' as const,
    maxLength,
    seed: settings.train.seed,
    vocabSize: spec.vocabSize,
    validation: validation ? { source: validation } : settings.data.validationFraction > 0 ? { fraction: settings.data.validationFraction } : undefined,
  };
  const preview = await previewDataset(source, { objective: 'classification' });
  let mapping: ColumnMapping | undefined = preview.detection.mapping ?? undefined;
  const forced = dataTaskOf(settings.data.task);
  if (mapping?.kind === 'classification') {
    if (forced) mapping = { ...mapping, task: forced };
    else if (spec.problemType === 'regression') {
      const labels = preview.rows.map((r) => r[(mapping as { label: string }).label]);
      const numeric = labels.length > 0 && labels.every((l) => typeof l === 'number' || (typeof l === 'string' && l.trim() !== '' && Number.isFinite(Number(l))));
      mapping = { ...mapping, task: autoDataTask('single_label', spec, numeric) };
    }
  }
  const data = await loadDataset(source, tok, { ...opts, mapping });
  if (!data.classification) throw new UsageError(`${source.name}: the rows are not classification data (a text, or two, and a label)`);
  return data;
}
