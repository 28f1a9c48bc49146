/**
 * The one way to load a model's tokenizer: its tokenizer.json and tokenizer_config.json read through the model's
 * ModelFiles (the demo served next to the page, a hub repository, a dropped folder, a folder on disk in Node), so
 * the tokenizer always comes from the same place as the weights and nothing is fetched behind the caller's back.
 *
 * The class is the one AutoTokenizer picks: `tokenizer_class` from tokenizer_config.json without its "Fast" suffix,
 * looked up among transformers.js's tokenizer classes, else PreTrainedTokenizer.
 *
 * @huggingface/transformers is imported here with a dynamic import(), so a bundle that imports src/data does not
 * load it (and onnxruntime-web, which its web build imports) until a tokenizer is actually loaded.
 */
import type { PreTrainedTokenizer } from '@huggingface/transformers';
import type { ModelFiles } from '../../formats/modelFolder';
import { DatasetError } from '../errors';

export type LoadedTokenizer = PreTrainedTokenizer;

function fail(files: ModelFiles, file: string, reason: string, hint = 'load the model from a folder saved by save_pretrained (tokenizer.json, tokenizer_config.json)'): never {
  throw new DatasetError('tokenizer', reason, { file: `${files.name.replace(/\/+$/, '')}/${file}` }, hint);
}

async function readJson(files: ModelFiles, file: string, required: boolean): Promise<Record<string, unknown> | null> {
  let text: string | null;
  try {
    text = await files.text(file);
  } catch (e) {
    return fail(files, file, `cannot read ${file}: ${(e as Error).message}`);
  }
  if (text === null) {
    if (!required) return null;
    return fail(files, file, `${file} not found`, 'the model folder must hold tokenizer.json and tokenizer_config.json (as save_pretrained writes them)');
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
    return v as Record<string, unknown>;
  } catch (e) {
    return fail(files, file, `${file} is not valid JSON (${(e as Error).message})`, 'download it again');
  }
}

/** Loads the tokenizer of a model folder (offline: only `files` is read). Throws DatasetError code 'tokenizer'. */
export async function loadTokenizer(files: ModelFiles): Promise<LoadedTokenizer> {
  const tokenizerJson = await readJson(files, 'tokenizer.json', true);
  const config = (await readJson(files, 'tokenizer_config.json', false)) ?? {};
  if (config.chat_template === undefined) {
    // Tokenizers saved by transformers ≥ 4.43 may keep the template in its own file.
    const jinja = await files.text('chat_template.jinja').catch(() => null);
    if (jinja) config.chat_template = jinja;
  }
  const transformers = await import('@huggingface/transformers');
  const name = typeof config.tokenizer_class === 'string' ? config.tokenizer_class.replace(/Fast$/, '') : 'PreTrainedTokenizer';
  const candidate = (transformers as unknown as Record<string, unknown>)[name];
  const Base = transformers.PreTrainedTokenizer;
  const Cls = typeof candidate === 'function' && (candidate === Base || candidate.prototype instanceof Base) ? (candidate as typeof Base) : Base;
  try {
    return new Cls(tokenizerJson, config);
  } catch (e) {
    return fail(files, 'tokenizer.json', `cannot build the tokenizer: ${(e as Error).message}`);
  }
}
