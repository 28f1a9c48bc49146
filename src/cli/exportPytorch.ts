/**
 * adapter-studio export --format pytorch: a run (model, data, settings, optionally an adapter to
 * continue) as a Transformers + PEFT project (train.py, accelerate configs, the rows as this run
 * renders them) that trains the same adapter on GPUs (src/formats/export/pytorch.ts): a decoder's
 * causal-LM run, or an encoder's classification run (its data read as `train` reads it). The other
 * formats of `export` (models, not runs) are in commands.ts.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { zipSync } from 'fflate';
import { applySettings, UsageError, type CliIo, type ParsedCommand } from './args';
import { encoderMaxPositions, loadClassificationData, openModel, parseLayers, readAdapterFolder, refuseConflicts, runDataOptions, LORA_KEYS } from './inputs';
import { ensureFolder, FileError, isInside, writeFileAtomic } from './files';
import { openModelFolder } from '../formats/modelFolder';
import { padTokenId } from '../formats/hfConfig';
import { peftTargetModules } from '../formats/peft';
import { importAdapter } from '../engine/model/adapterFiles';
import { encoderTaskFor } from '../engine/model/encoderSpec';
import { loadTokenizer } from '../data/tokenize';
import { loadDataset } from '../data/dataset';
import { fromPath } from '../data/nodeSource';
import { classifiedRows, renderedRows } from '../data/renderedRows';
import { exportPytorch, type PytorchExportRequest } from '../formats/export/pytorch';
import { concatParts } from '../formats/export/gguf/format';
import type { ExportedFiles } from '../formats/export/types';
import { parseTrainerState } from '../formats/trainerState';
import { DEFAULT_SETTINGS, type RunSettings } from '../settings/settings';

/** Files a model folder holds that train.py needs (weights, configs, tokenizer), when it travels with the export. */
const MODEL_FILE = /^(config\.json|generation_config\.json|tokenizer\.json|tokenizer_config\.json|special_tokens_map\.json|chat_template\.jinja|vocab\.txt|vocab\.json|merges\.txt|model(-\d{5}-of-\d{5})?\.safetensors|model\.safetensors\.index\.json)$/;
/** The tokenizer's files (an encoder's slow-tokenizer vocabularies too: vocab.txt for WordPiece, vocab.json + merges.txt for BPE). */
export const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'chat_template.jinja', 'vocab.txt', 'vocab.json', 'merges.txt'];

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
  if (m.folder && isInside(out, m.folder)) throw new UsageError(`export --out ${out} is inside the base model's folder; choose another folder`);
  const folder = await openModelFolder(m.files);

  let settings: RunSettings = applySettings('export', p.settings, { ...DEFAULT_SETTINGS, model: m.choice });
  if (o.string('layers') !== undefined) settings = { ...settings, lora: { ...settings.lora, layers: parseLayers(o.string('layers'), folder.spec.numLayers) } };

  const tok = await loadTokenizer(m.files);
  const valFile = o.string('validation');
  const source = await fromPath(dataPath);
  const validationSource = valFile ? await fromPath(valFile) : undefined;
  let rows: PytorchExportRequest['rows'];
  let classification: PytorchExportRequest['classification'] = null;
  let render: PytorchExportRequest['render'];
  let schema: string;
  let padId: number;
  let initAdapter: PytorchExportRequest['initAdapter'] = null;
  const initDir = o.string('init-adapter');
  /** The adapter to continue: its LoRA settings win over the flags' (a conflicting flag is refused). */
  const continueFrom = async (files: Awaited<ReturnType<typeof readAdapterFolder>>, imported: Awaited<ReturnType<typeof importAdapter>>) => {
    refuseConflicts(p, { ...settings, lora: { ...imported.settings } }, LORA_KEYS, `the adapter ${initDir}`);
    settings = { ...settings, lora: { ...imported.settings } };
    initAdapter = {
      name: basename(resolve(initDir!)), steps: await adapterSteps(initDir!), adapterModel: files['adapter_model.safetensors'], adapterConfig: files['adapter_config.json'],
      ...(files['config.json'] ? { labelsConfig: files['config.json'] } : {}),
    };
  };

  if (folder.family === 'encoder') {
    // A classification run: the data read as `adapter-studio train` reads it for this encoder, the head's task from its labels.
    const cfg = folder.spec;
    const maxLength = Math.min(settings.train.maxLength, encoderMaxPositions(cfg));
    const data = await loadClassificationData(source, validationSource, tok, cfg, settings, maxLength);
    const cls = data.classification!;
    const task = encoderTaskFor(cls.labels, cfg);
    io.err.write(`data: ${cls.train.length} training examples${cls.validation ? `, ${cls.validation.length} validation examples` : ''}, ${data.stats.tokens} tokens; task ${task.problemType}, ${task.labels.length} label${task.labels.length === 1 ? '' : 's'}\n`);
    if (initDir) {
      const files = await readAdapterFolder(initDir, '--init-adapter');
      const imported = await importAdapter({ encoder: cfg, task, config: folder.config }, files);
      if (imported.task && imported.task.labels.length !== task.labels.length) {
        throw new UsageError(`export --init-adapter ${initDir}: its head has ${imported.task.labels.length} outputs but the data has ${task.labels.length} labels`);
      }
      await continueFrom(files, imported);
    }
    classification = { problemType: task.problemType, labels: task.labels, targetModules: peftTargetModules(cfg, settings.lora.targets), tokenTypeIds: cfg.family !== 'distilbert' };
    rows = classifiedRows({ source, validationSource, tokenizer: tok, mapping: data.mapping, maxLength, train: cls.train, validation: cls.validation });
    render = { maxLength, trainOn: settings.data.trainOn, pairFormat: 'template' };
    schema = data.mapping.kind;
    padId = cfg.padTokenId;
  } else {
    const spec = folder.spec;
    const options = await runDataOptions(p, settings, spec.vocabSize, valFile);
    const data = await loadDataset(source, tok, options);
    if (data.mapping.kind === 'classification') throw new UsageError('export --format pytorch: the rows are classification data, which a causal language model does not train on; choose an encoder model (BERT, RoBERTa, DistilBERT)');
    io.err.write(`data: ${data.train.length} training examples${data.validation ? `, ${data.validation.length} validation examples` : ''}, ${data.stats.tokens} tokens\n`);
    if (initDir) {
      const files = await readAdapterFolder(initDir, '--init-adapter');
      await continueFrom(files, await importAdapter(spec, files));
    }
    const rendering = { maxLength: options.maxLength, trainOn: options.trainOn, pairFormat: options.pairFormat };
    rows = renderedRows({ source, validationSource, tokenizer: tok, mapping: data.mapping, render: rendering, train: data.train, validation: data.validation ?? null });
    render = { maxLength: settings.train.maxLength, trainOn: options.trainOn ?? 'response', pairFormat: options.pairFormat ?? 'template' };
    schema = data.mapping.kind;
    padId = padTokenId(spec, tok.pad_token_id);
  }

  const tokenizerFiles = new Map<string, string>();
  for (const f of TOKENIZER_FILES) {
    const text = await m.files.text(f);
    if (text !== null) tokenizerFiles.set(f, text);
  }
  let bundled: Map<string, Uint8Array> | null = null;
  // A built-in model always travels (no hub has it), as the studio's export of the demo; a local folder with --bundle-model.
  if (o.bool('bundle-model', false) || m.choice.kind === 'demo') {
    if (!m.folder) throw new UsageError('export --bundle-model: only a local model folder can travel with the export (a hub model is downloaded by train.py)');
    bundled = new Map();
    for (const f of readdirSync(m.folder).sort()) if (MODEL_FILE.test(f)) bundled.set(f, new Uint8Array(await readFile(join(m.folder, f))));
  }
  const files = await exportPytorch({
    settings,
    title: `${basename(dataPath)} on ${m.baseName}`,
    base: { name: m.baseName, hubId: m.choice.kind === 'hub' ? m.choice.id : null, revision: null, files: bundled },
    tokenizerFiles,
    padTokenId: padId,
    rows,
    classification,
    decode: (ids) => tok.decode(ids, { skip_special_tokens: false }),
    dataset: { name: basename(dataPath), schema },
    render,
    initAdapter,
  });
  const where = await writeExport(files, out);
  io.err.write(`wrote ${where}: pip install -r requirements.txt, then accelerate launch --config_file accelerate/single_gpu.yaml train.py (README.md says more)\n`);
}
