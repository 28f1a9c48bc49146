/**
 * Opens a Hugging Face model folder — wherever its files live (a Node folder, dropped
 * browser files, a served URL, the hub) — as a validated spec plus lazy tensor reads. The family
 * comes from config.json's model_type: a Llama-family decoder (ModelSpec) or a BERT-family
 * encoder (EncoderConfig); anything else is refused naming both lists.
 */
import { type ByteSource, fromBlob, fromUrl, HttpError, type UrlSourceOptions } from './byteSource';
import { ARCHITECTURES, ConfigError, type ModelSpec, parseHfConfig } from './hfConfig';
import { checkEncoderWeights, ENCODER_MODEL_TYPES, isEncoderModelType, parseEncoderConfig, type EncoderConfig, type EncoderWeightCheck } from './encoderConfig';
import { WeightMapError } from './weightMap';
import { isJsonObject, parseJsonStrict } from './json';
import { SafetensorsFile, type TensorInfo } from './safetensors';
import { assertWeights } from './weightMap';

/** Where a model folder's files come from. Both methods resolve to null when the file does not exist. */
export interface ModelFiles {
  name: string;
  text(file: string): Promise<string | null>;
  source(file: string): Promise<ByteSource | null>;
}

export class ModelFolderError extends Error {
  constructor(
    readonly model: string,
    readonly file: string | null,
    detail: string,
  ) {
    super(`ModelFolderError: ${model}${file ? `/${file}` : ''}: ${detail}`);
    this.name = 'ModelFolderError';
  }
}

interface FolderBase {
  config: Record<string, unknown>;
  /** Every tensor in the model folder, in the order of the expected weight map where it applies. */
  tensorNames: string[];
  /** dtype, shape and offsets of a tensor (from its shard's header). */
  tensorInfo(name: string): TensorInfo;
  /** Raw little-endian bytes in the stored dtype (e.g. to upload F16 weights unchanged). */
  readTensorBytes(name: string): Promise<Uint8Array>;
  /** Raw bytes of rows [row0, row0 + count) of a tensor (its first dimension), in the stored dtype. */
  readTensorRows(name: string, row0: number, count: number): Promise<Uint8Array>;
  readTensorF32(name: string): Promise<Float32Array>;
}

/** A Llama-family decoder (causal LM). */
export interface DecoderFolder extends FolderBase {
  family: 'llama';
  spec: ModelSpec;
}

/** A BERT-family encoder (sequence classification); `weights` maps each logical tensor name to its stored one. */
export interface EncoderFolder extends FolderBase {
  family: 'encoder';
  spec: EncoderConfig;
  weights: EncoderWeightCheck;
}

export type ModelFolder = DecoderFolder | EncoderFolder;

/** A folder whose model is not of the family a command needs (e.g. `generate` with an encoder). */
export function requireDecoder(folder: ModelFolder, what: string): DecoderFolder {
  if (folder.family !== 'llama') throw new ModelFolderError(folder.config.model_type as string, 'config.json', `${what} needs a Llama-family decoder; this is a ${folder.spec.family} encoder (sequence classification)`);
  return folder;
}

export const INDEX_FILE = 'model.safetensors.index.json';
export const WEIGHTS_FILE = 'model.safetensors';

/** Reads the shard list of model.safetensors.index.json: tensor name → shard file. */
export function parseShardIndex(text: string, model = 'model'): Map<string, string> {
  let json: unknown;
  try {
    json = parseJsonStrict(text, INDEX_FILE);
  } catch (e) {
    throw new ModelFolderError(model, INDEX_FILE, (e as Error).message);
  }
  if (!isJsonObject(json) || !isJsonObject(json.weight_map)) {
    throw new ModelFolderError(model, INDEX_FILE, 'expected an object with a "weight_map" object');
  }
  const map = new Map<string, string>();
  for (const [tensor, file] of Object.entries(json.weight_map)) {
    if (typeof file !== 'string' || !/^[\w.-]+\.safetensors$/.test(file) || file.includes('..')) {
      throw new ModelFolderError(model, INDEX_FILE, `weight_map["${tensor}"] is ${JSON.stringify(file)}, not a .safetensors file name in the folder`);
    }
    map.set(tensor, file);
  }
  return map;
}

export async function openModelFolder(files: ModelFiles): Promise<ModelFolder> {
  const configText = await files.text('config.json');
  if (configText === null) throw new ModelFolderError(files.name, 'config.json', 'not found: a model folder needs its config.json');
  let config: unknown;
  try {
    config = parseJsonStrict(configText, 'config.json');
  } catch (e) {
    throw new ModelFolderError(files.name, 'config.json', (e as Error).message);
  }
  const modelType = (config as Record<string, unknown> | null)?.model_type;
  let family: 'llama' | 'encoder';
  if (typeof modelType === 'string' && (ARCHITECTURES as readonly string[]).includes(modelType)) family = 'llama';
  else if (isEncoderModelType(modelType)) family = 'encoder';
  else {
    throw new ConfigError(`${files.name}/config.json`, 'model_type', `${JSON.stringify(modelType ?? null)} is not a supported model (decoders: ${ARCHITECTURES.join(', ')}; encoders for classification: ${Object.keys(ENCODER_MODEL_TYPES).join(', ')})`);
  }
  const spec = family === 'llama' ? parseHfConfig(config, `${files.name}/config.json`) : null;
  const encoder = family === 'encoder' ? parseEncoderConfig(config, `${files.name}/config.json`) : null;

  // Shards: the index if present, else the single file.
  const shardOf = new Map<string, SafetensorsFile>();
  const indexText = await files.text(INDEX_FILE);
  const openShard = async (file: string): Promise<SafetensorsFile> => {
    const source = await files.source(file);
    if (!source) throw new ModelFolderError(files.name, file, 'not found');
    return SafetensorsFile.open(source);
  };
  if (indexText !== null) {
    const index = parseShardIndex(indexText, files.name);
    const shards = new Map<string, SafetensorsFile>();
    for (const file of new Set(index.values())) shards.set(file, await openShard(file));
    for (const [file, shard] of shards) {
      for (const name of shard.names) {
        if (index.get(name) !== file) {
          throw new ModelFolderError(files.name, file, `holds tensor "${name}" which ${INDEX_FILE} ${index.has(name) ? `places in ${index.get(name)}` : 'does not list'}`);
        }
        shardOf.set(name, shard);
      }
    }
    for (const [name, file] of index) {
      if (!shardOf.has(name)) throw new ModelFolderError(files.name, file, `lacks tensor "${name}" that ${INDEX_FILE} places there`);
    }
  } else {
    const single = await files.source(WEIGHTS_FILE);
    if (!single) throw new ModelFolderError(files.name, WEIGHTS_FILE, `not found, and there is no ${INDEX_FILE}`);
    const file = await SafetensorsFile.open(single);
    for (const name of file.names) shardOf.set(name, file);
  }

  const infos = [...shardOf.entries()].map(([name, f]) => f.info(name));
  let weights: EncoderWeightCheck | null = null;
  if (spec) assertWeights(spec, infos, files.name);
  else {
    weights = checkEncoderWeights(encoder!, infos);
    if (weights.problems.length) throw new WeightMapError(files.name, weights.problems);
  }

  const shard = (name: string): SafetensorsFile => {
    const f = shardOf.get(name);
    if (!f) throw new ModelFolderError(files.name, null, `no tensor named "${name}"`);
    return f;
  };
  const base: FolderBase = {
    config: config as Record<string, unknown>,
    tensorNames: [...shardOf.keys()],
    tensorInfo: (name) => shard(name).info(name),
    readTensorBytes: (name) => shard(name).readBytes(name),
    readTensorRows: (name, row0, count) => shard(name).readRows(name, row0, count),
    readTensorF32: (name) => shard(name).readF32(name),
  };
  return spec ? { ...base, family: 'llama', spec } : { ...base, family: 'encoder', spec: encoder!, weights: weights! };
}

/** Files held in memory (generated models, tests). */
export function memoryFiles(files: Map<string, Uint8Array | string>, name = 'memory'): ModelFiles {
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  return {
    name,
    async text(file) {
      const v = files.get(file);
      return v === undefined ? null : typeof v === 'string' ? v : dec.decode(v);
    },
    async source(file) {
      const v = files.get(file);
      if (v === undefined) return null;
      const bytes = typeof v === 'string' ? enc.encode(v) : v;
      return { name: file, size: bytes.byteLength, read: async (o, l) => { if (o < 0 || l < 0 || o + l > bytes.byteLength) throw new RangeError(`${file}: read past the end`); return bytes.subarray(o, o + l); } };
    },
  };
}

/** A folder the user dropped or picked in the browser (File[] or FileList; sub-folders ignored). */
export function browserFiles(list: FileList | File[], name = 'local folder'): ModelFiles {
  const byName = new Map<string, File>();
  for (const f of Array.from(list)) byName.set(f.name, f);
  return {
    name,
    async text(file) {
      const f = byName.get(file);
      return f ? f.text() : null;
    },
    async source(file) {
      const f = byName.get(file);
      return f ? fromBlob(f, file) : null;
    },
  };
}

/** A served folder, e.g. the demo model at `./models/demo/`. 404 means "no such file". */
export function urlFiles(baseUrl: string, options: UrlSourceOptions = {}): ModelFiles {
  const withSlash = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  // A relative base (the studio's `./models/demo/`) resolves against the page or worker location.
  const here = (globalThis as { location?: { href: string } }).location?.href;
  const base = /^[a-z][a-z0-9+.-]*:/i.test(withSlash) || !here ? withSlash : new URL(withSlash, here).href;
  const doFetch = options.fetch ?? fetch;
  return {
    name: base,
    async text(file) {
      const url = new URL(file, base).href;
      const res = await doFetch(url, { headers: options.headers, signal: options.signal });
      if (res.status === 404) return null;
      if (!res.ok) throw new HttpError(url, res.status, `${url}: HTTP ${res.status} ${res.statusText}`);
      return res.text();
    },
    async source(file) {
      try {
        return await fromUrl(new URL(file, base).href, options);
      } catch (e) {
        if (e instanceof HttpError && e.status === 404) return null;
        throw e;
      }
    },
  };
}
