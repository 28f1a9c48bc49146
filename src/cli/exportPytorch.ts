/**
 * adapter-studio export --format pytorch: a run (model, data, settings, optionally an adapter to
 * continue) as a Transformers + PEFT project (train.py, accelerate configs, the rows as this run
 * renders them) that trains the same adapter on GPUs (src/formats/export/pytorch.ts). The other
 * formats of `export` (models, not runs) are in commands.ts.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { zipSync } from 'fflate';
import { applySettings, UsageError, type CliIo, type ParsedCommand } from './args';
import { openModel, parseLayers, readAdapterFolder, refuseConflicts, runDataOptions, LORA_KEYS } from './inputs';
import { ensureFolder, FileError, isInside, writeFileAtomic } from './files';
import { openModelFolder, requireDecoder } from '../formats/modelFolder';
import { padTokenId } from '../formats/hfConfig';
import { importAdapter } from '../engine/model/adapterFiles';
import { loadTokenizer } from '../data/tokenize';
import { loadDataset } from '../data/dataset';
import { fromPath } from '../data/nodeSource';
import { renderedRows } from '../data/renderedRows';
import { exportPytorch } from '../formats/export/pytorch';
import { concatParts } from '../formats/export/gguf/format';
import type { ExportedFiles } from '../formats/export/types';
import { parseTrainerState } from '../formats/trainerState';
import { DEFAULT_SETTINGS, type RunSettings } from '../settings/settings';

/** Files a model folder holds that train.py needs (weights, configs, tokenizer), when it travels with the export. */
const MODEL_FILE = /^(config\.json|generation_config\.json|tokenizer\.json|tokenizer_config\.json|special_tokens_map\.json|chat_template\.jinja|model(-\d{5}-of-\d{5})?\.safetensors|model\.safetensors\.index\.json)$/;
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'chat_template.jinja'];

/** How many steps an adapter folder was trained: metrics.jsonl (adapter-studio train) or trainer_state.json (Transformers). */
async function adapterSteps(dir: string): Promise<number> {
  const metrics = join(dir, 'metrics.jsonl');
  if (existsSync(metrics)) {
    let steps = 0;
    for (const line of (await readFile(metrics, 'utf8')).split('\n')) {
      try {
        const s = (JSON.parse(line) as { step?: unknown }).step;
        if (typeof s === 'number' && Number.isFinite(s)) steps = Math.max(steps, s);
      } catch {
        // a torn last line
      }
    }
    return steps;
  }
  const state = join(dir, 'trainer_state.json');
  if (existsSync(state)) return parseTrainerState(await readFile(state, 'utf8'), state).globalStep;
  return 0;
}

/** Writes exported files to a folder (each atomically) or, for a .zip path, one zip. */
export async function writeExport(files: ExportedFiles, out: string): Promise<string> {
  if (out.toLowerCase().endsWith('.zip')) {
    await ensureFolder(dirname(resolve(out)));
    const entries: Record<string, [Uint8Array, { level: 0 | 6 }]> = {};
    for (const [name, parts] of files) entries[name] = [concatParts(parts), { level: name.endsWith('.safetensors') ? 0 : 6 }];
    await writeFileAtomic(out, zipSync(entries));
    return `${out} (${files.size} files)`;
  }
  if (existsSync(out) && statSync(out).isDirectory() && readdirSync(out).length > 0) {
    throw new FileError(out, 'the folder is not empty; give a new folder (or a .zip path) so that nothing is overwritten');
  }
  await ensureFolder(out);
  for (const [name, parts] of files) {
    const path = join(out, name);
    await mkdir(dirname(path), { recursive: true });
    await writeFileAtomic(path, concatParts(parts));
  }
  return `${out}/ (${files.size} files)`;
}

export async function exportPytorchCommand(p: ParsedCommand, io: CliIo): Promise<void> {
  const o = p.options;
  const modelArg = o.required('model');
  const dataPath = o.required('data');
  const out = o.required('out');
  if (!existsSync(dataPath)) throw new UsageError(`export --data ${dataPath}: no such file`);
  const m = await openModel(modelArg);
  if (m.choice.kind === 'local' && isInside(out, modelArg)) throw new UsageError(`export --out ${out} is inside the base model's folder; choose another folder`);
  const folder = requireDecoder(await openModelFolder(m.files), 'export --format pytorch');
  const spec = folder.spec;

  let settings: RunSettings = applySettings('export', p.settings, { ...DEFAULT_SETTINGS, model: m.choice });
  if (o.string('layers') !== undefined) settings = { ...settings, lora: { ...settings.lora, layers: parseLayers(o.string('layers'), spec.numLayers) } };
  let initAdapter: Parameters<typeof exportPytorch>[0]['initAdapter'] = null;
  const initDir = o.string('init-adapter');
  if (initDir) {
    const files = await readAdapterFolder(initDir, '--init-adapter');
    const imported = await importAdapter(spec, files);
    refuseConflicts(p, { ...settings, lora: { ...imported.settings } }, LORA_KEYS, `the adapter ${initDir}`);
    settings = { ...settings, lora: { ...imported.settings } };
    initAdapter = { name: basename(resolve(initDir)), steps: await adapterSteps(initDir), adapterModel: files['adapter_model.safetensors'], adapterConfig: files['adapter_config.json'] };
  }

  const tok = await loadTokenizer(m.files);
  const valFile = o.string('validation');
  const options = await runDataOptions(p, settings, spec.vocabSize, valFile);
  const data = await loadDataset(await fromPath(dataPath), tok, options);
  if (data.mapping.kind === 'classification') throw new UsageError('export --format pytorch: classification runs export once the encoder (BERT) family is in the studio; this exports causal-LM runs');
  io.err.write(`data: ${data.train.length} training examples${data.validation ? `, ${data.validation.length} validation examples` : ''}, ${data.stats.tokens} tokens\n`);

  const tokenizerFiles = new Map<string, string>();
  for (const f of TOKENIZER_FILES) {
    const text = await m.files.text(f);
    if (text !== null) tokenizerFiles.set(f, text);
  }
  let bundled: Map<string, Uint8Array> | null = null;
  if (o.bool('bundle-model', false)) {
    if (m.choice.kind !== 'local') throw new UsageError('export --bundle-model: only a local model folder can travel with the export (a hub model is downloaded by train.py)');
    bundled = new Map();
    for (const f of readdirSync(modelArg).sort()) if (MODEL_FILE.test(f)) bundled.set(f, new Uint8Array(await readFile(join(modelArg, f))));
  }
  const files = await exportPytorch({
    settings,
    title: `${basename(dataPath)} on ${m.baseName}`,
    base: { name: m.baseName, hubId: m.choice.kind === 'hub' ? m.choice.id : null, revision: null, files: bundled },
    tokenizerFiles,
    padTokenId: padTokenId(spec, tok.pad_token_id),
    rows: renderedRows({
      source: await fromPath(dataPath),
      validationSource: valFile ? await fromPath(valFile) : undefined,
      tokenizer: tok,
      mapping: data.mapping,
      render: { maxLength: options.maxLength, trainOn: options.trainOn, pairFormat: options.pairFormat },
      train: data.train,
      validation: data.validation ?? null,
    }),
    decode: (ids) => tok.decode(ids, { skip_special_tokens: false }),
    dataset: { name: basename(dataPath), schema: data.mapping.kind },
    render: { maxLength: settings.train.maxLength, trainOn: options.trainOn ?? 'response', pairFormat: options.pairFormat ?? 'template' },
    initAdapter,
  });
  const where = await writeExport(files, out);
  io.err.write(`wrote ${where}: pip install -r requirements.txt, then accelerate launch --config_file accelerate/single_gpu.yaml train.py (README.md says more)\n`);
}
