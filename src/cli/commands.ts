/**
 * The CLI's commands: thin adapters over the engine (loaded lazily so `--help` and usage errors
 * start fast). Training goes through the engine's one run driver; this file only says where its
 * events, checkpoints and the adapter go on disk.
 */
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { applySettings, UsageError, type ParsedCommand } from './args';
import type { CliIo } from './main';
import { Progress } from './progress';
import { ensureFolder, FileError, isInside, lockFolder, writeFileAtomic, describeFsError } from './files';
import { nodeFiles, fromNodeFile } from '../formats/nodeSource';
import { openModelFolder, requireDecoder, type ModelFiles, type ModelFolder } from '../formats/modelFolder';
import { hubFiles } from '../hub/hub';
import { openSafetensors, serializeSafetensors } from '../formats/safetensors';
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, inspectPeftAdapter, parseAdapterConfig, firstNonFinite } from '../formats/peft';
import { fromF32 } from '../formats/dtype';
import { eosTokenIds, padTokenId } from '../formats/hfConfig';
import { loadTokenizer } from '../data/tokenize';
import { loadDataset, previewDataset, type LoadedDataset } from '../data/dataset';
import { fromPath } from '../data/nodeSource';
import type { DataSource } from '../data/source';
import type { ColumnMapping } from '../data/schema';
import { createNodeGpu } from '../engine/gpu/node';
import type { Gpu } from '../engine/gpu/device';
import { loadModel, type LoadedModel } from '../engine/model/load';
import { uploadAdapter } from '../engine/model/model';
import { exportAdapter, importAdapter, mergeAdapter, type AdapterModel, type ImportedAdapter } from '../engine/model/adapterFiles';
import type { EncoderGpu } from '../engine/model/encoder';
import { autoDataTask, dataTaskOf, describeTargetMapping, encoderTargetModules, encoderTaskFor, type EncoderTask } from '../engine/model/encoderSpec';
import { encoderHeadTensors, expectedEncoderTensors, labelsFromConfig, sequenceClassificationConfig, trainedHeadModules, type EncoderConfig } from '../formats/encoderConfig';
import type { TrainableModel } from '../engine/model/model';
import type { RunData } from '../engine/train/run';
import type { EvalResult } from '../engine/train/evaluate';
import { generateTokens } from '../engine/model/generate';
import { evaluate } from '../engine/train/evaluate';
import { formatBytes } from '../engine/train/memory';
import { deserializeCheckpoint } from '../engine/train/checkpoint';
import { RunControl, runTraining } from '../engine/train/run';
import { DEFAULT_SETTINGS, SETTING_DEFS, canonicalJson, getSetting, type ModelChoice, type RunSettings } from '../settings/settings';

export const CHECKPOINT_FILE = 'checkpoint.ascp';
export const METRICS_FILE = 'metrics.jsonl';

interface OpenedModel {
  files: ModelFiles;
  /** A local folder holding tokenizer.json and tokenizer_config.json. */
  tokenizerDir: string;
  choice: ModelChoice;
  /** What adapter_config.json records as the base (the path as given, or the hub id). */
  baseName: string;
}

async function openModel(where: string): Promise<OpenedModel> {
  if (existsSync(where)) {
    if (!statSync(where).isDirectory()) throw new UsageError(`--model ${where} is a file; give the model's folder (config.json, model.safetensors, tokenizer.json)`);
    return { files: nodeFiles(where), tokenizerDir: where, choice: { kind: 'local', name: where }, baseName: where };
  }
  if (!/^[\w.-]+\/[\w.-]+$/.test(where)) throw new UsageError(`--model ${where}: no such folder (and not a hub id like "HuggingFaceTB/SmolLM2-135M")`);
  const files = hubFiles(where, { cache: null, token: process.env.HF_TOKEN });
  const dir = await mkdtemp(join(tmpdir(), 'adapter-studio-tokenizer-'));
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) {
    const text = await files.text(f);
    if (text !== null) await writeFile(join(dir, f), text);
  }
  return { files, tokenizerDir: dir, choice: { kind: 'hub', id: where }, baseName: where };
}

async function gpuAndModel(m: OpenedModel, p: ParsedCommand, io: CliIo, task?: EncoderTask): Promise<{ gpu: Gpu; loaded: LoadedModel }> {
  const gpu = await createNodeGpu();
  io.err.write(`GPU: ${gpu.adapter.name}${gpu.features.f16 ? ' (shader-f16)' : ''}\n`);
  const f16 = gpu.features.f16 && !p.options.bool('f32-weights', false);
  const loaded = await loadModel(gpu, m.files, { f16, task });
  return { gpu, loaded };
}

/** The labels' config.json an encoder adapter carries beside its PEFT files. */
export const LABELS_FILE = 'config.json';

async function readAdapterFolder(dir: string, flag: string): Promise<{ 'adapter_model.safetensors': Uint8Array; 'adapter_config.json': string; 'config.json'?: string }> {
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

/** What an adapter of this folder's model is read against (an encoder with the task its head has, when known). */
function adapterModelOf(folder: ModelFolder, task: EncoderTask | null = null): AdapterModel {
  return folder.family === 'llama' ? folder.spec : { encoder: folder.spec, task, config: folder.config };
}

/**
 * Classification data for an encoder: the file read with the model's tokenizer ([CLS]/[SEP] or
 * <s>/</s>), labels resolved as the task setting says (auto: from the labels and the config).
 */
async function loadClassificationData(
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

function parseLayers(text: string | undefined, numLayers: number): number[] | null {
  if (text === undefined || text === 'all') return null;
  const layers = text.split(',').map((s) => Number(s.trim()));
  for (const l of layers) {
    if (!Number.isInteger(l) || l < 0 || l >= numLayers) throw new UsageError(`train --layers: "${text}" must list layer numbers in 0..${numLayers - 1}`);
  }
  return layers;
}

/** Flags that contradict a source of settings (a checkpoint, an adapter) are errors naming both values. */
function refuseConflicts(p: ParsedCommand, base: RunSettings, keys: string[], source: string): void {
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

const LORA_KEYS = ['lora.r', 'lora.alpha', 'lora.dropout', 'lora.targets', 'lora.useRslora'];

async function train(p: ParsedCommand, io: CliIo): Promise<void> {
  const o = p.options;
  const modelArg = o.required('model');
  const dataPath = o.required('data');
  const out = o.required('out');
  if (!existsSync(dataPath)) throw new UsageError(`train --data ${dataPath}: no such file`);
  const m = await openModel(modelArg);
  const folder = await openModelFolder(m.files);
  const spec = folder.spec;

  let resumeBytes: Uint8Array | undefined;
  let base: RunSettings = { ...DEFAULT_SETTINGS, model: m.choice };
  if (o.string('resume')) {
    const path = o.string('resume')!;
    resumeBytes = new Uint8Array(await readFile(path).catch((e) => { throw describeFsError(e, path, 'reading the checkpoint'); }));
    const state = deserializeCheckpoint(resumeBytes, path);
    const saved = (state.run as { settings?: RunSettings }).settings;
    if (!saved) throw new UsageError(`--resume ${path}: the checkpoint does not record its settings`);
    refuseConflicts(p, saved, SETTING_DEFS.filter((d) => d.group !== 'eval').map((d) => d.key), `the checkpoint ${path}`);
    base = { ...saved, model: m.choice, eval: saved.eval };
    io.err.write(`resuming from ${path} at step ${state.step} of ${state.totalSteps}\n`);
  }
  let settings = applySettings('train', p.settings, base);
  if (o.string('layers') !== undefined) settings = { ...settings, lora: { ...settings.lora, layers: parseLayers(o.string('layers'), spec.numLayers) } };
  if (isInside(out, m.tokenizerDir) && m.choice.kind === 'local') throw new UsageError(`train --out ${out} is inside the base model's folder ${m.tokenizerDir}; choose another folder`);

  const tok = await loadTokenizer(m.files);
  const valFile = o.string('validation');
  const gpu = await createNodeGpu();
  io.err.write(`GPU: ${gpu.adapter.name}${gpu.features.f16 ? ' (shader-f16)' : ''}\n`);
  const f16 = gpu.features.f16 && !o.bool('f32-weights', false);

  // The family's model and data: a decoder trains on token rows, an encoder on labelled texts.
  let model: TrainableModel<unknown, never>;
  let runData: RunData<unknown>;
  let padId: number;
  let dataKey: string;
  let encoder: { model: EncoderGpu; task: EncoderTask } | null = null;
  let destroy: () => void;
  if (folder.family === 'llama') {
    const data = await loadDataset(await fromPath(dataPath), tok, {
      maxLength: settings.train.maxLength,
      seed: settings.train.seed,
      vocabSize: folder.spec.vocabSize,
      trainOn: settings.data.trainOn,
      validation: valFile ? { source: await fromPath(valFile) } : settings.data.validationFraction > 0 ? { fraction: settings.data.validationFraction } : undefined,
    });
    const longestRow = Math.min(settings.train.maxLength, data.stats.maxLength);
    io.err.write(`data: ${data.train.length} training examples, ${data.stats.tokens} tokens, longest ${longestRow}${data.validation ? `, ${data.validation.length} validation examples` : ''}\n`);
    const loaded = await loadModel(gpu, m.files, { f16 });
    model = loaded.model as unknown as TrainableModel<unknown, never>;
    runData = { train: data.train, validation: data.validation ?? null, longestRow };
    padId = padTokenId(folder.spec, tok.pad_token_id);
    dataKey = `${basename(dataPath)}:${data.stats.rows}:${data.stats.tokens}`;
    destroy = () => loaded.model.destroy();
  } else {
    const cfg = folder.spec;
    const maxPositions = cfg.family === 'roberta' ? cfg.maxPositionEmbeddings - cfg.padTokenId - 1 : cfg.maxPositionEmbeddings;
    const data = await loadClassificationData(await fromPath(dataPath), valFile ? await fromPath(valFile) : undefined, tok, cfg, settings, Math.min(settings.train.maxLength, maxPositions));
    const cls = data.classification!;
    const task = encoderTaskFor(cls.labels, cfg);
    const longestRow = Math.min(settings.train.maxLength, maxPositions, data.stats.maxLength);
    const counts = data.report.classes?.trainCounts;
    io.err.write(`data: ${cls.train.length} training examples, ${data.stats.tokens} tokens, longest ${longestRow}${cls.validation ? `, ${cls.validation.length} validation examples` : ''}\n`);
    io.err.write(`task: ${task.problemType} (${settings.data.task === 'auto' ? 'detected from the labels' : `--task ${settings.data.task}`}), ${task.labels.length} label${task.labels.length === 1 ? '' : 's'}${task.problemType === 'regression' ? '' : `: ${task.labels.map((l, i) => `${l}${counts ? ` (${counts[i]})` : ''}`).join(', ')}`}\n`);
    for (const w of data.report.warnings) io.err.write(`  warning: ${w}\n`);
    const loaded = await loadModel(gpu, m.files, { f16, task, seed: settings.train.seed });
    if (loaded.family !== 'encoder') throw new Error('the folder changed while loading');
    loaded.model.hiddenDropout = settings.train.encoderDropout;
    const head = loaded.model.headSource;
    io.err.write(`model: ${cfg.architecture} (${cfg.numLayers} layers, hidden ${cfg.hiddenSize}); head ${head.every((h) => h.fromCheckpoint) ? 'from the checkpoint' : `new (${head.filter((h) => !h.fromCheckpoint).map((h) => h.name).join(', ')} initialized as Transformers does, normal(0, ${cfg.initializerRange}), seed ${settings.train.seed})`}\n`);
    io.err.write(`LoRA targets: ${describeTargetMapping(cfg.family, settings.lora.targets)} (target_modules ${JSON.stringify(encoderTargetModules(cfg.family, settings.lora.targets))}); trained in full: ${trainedHeadModules(cfg.family).join(', ')} (modules_to_save)\n`);
    model = loaded.model as unknown as TrainableModel<unknown, never>;
    runData = { train: cls.train, validation: cls.validation, longestRow };
    padId = cfg.padTokenId;
    dataKey = `${basename(dataPath)}:${data.stats.rows}:${data.stats.tokens}:${task.problemType}:${task.labels.length}`;
    encoder = { model: loaded.model, task };
    destroy = () => loaded.model.destroy();
  }

  let initParams: Float32Array | undefined;
  if (o.string('init-adapter')) {
    if (resumeBytes) throw new UsageError('train: --init-adapter and --resume contradict each other (a checkpoint already holds the adapter); give one');
    const dir = o.string('init-adapter')!;
    const imported: ImportedAdapter = await importAdapter(adapterModelOf(folder, encoder?.task ?? null), await readAdapterFolder(dir, '--init-adapter'));
    if (encoder && imported.task && imported.task.labels.length !== encoder.task.labels.length) {
      throw new UsageError(`train --init-adapter ${dir}: its head has ${imported.task.labels.length} outputs but the data has ${encoder.task.labels.length} labels`);
    }
    const fromAdapter: RunSettings = { ...settings, lora: { ...imported.settings } };
    refuseConflicts(p, fromAdapter, LORA_KEYS, `the adapter ${dir}`);
    if (o.string('layers') !== undefined && canonicalJson(settings.lora.layers) !== canonicalJson(imported.settings.layers)) {
      throw new UsageError(`train --layers conflicts with the adapter ${dir}: the adapter wins; drop --layers`);
    }
    settings = fromAdapter;
    initParams = imported.params;
    io.err.write(`starting from adapter ${dir} (r ${settings.lora.r}, alpha ${settings.lora.alpha}, dropout ${settings.lora.dropout}, ${settings.lora.targets.join(', ')})\n`);
  }

  await ensureFolder(out);
  const release = lockFolder(out);
  const metricsPath = join(out, METRICS_FILE);
  const checkpointPath = join(out, CHECKPOINT_FILE);
  // metrics.jsonl holds each step once: a resumed run drops what was logged after its checkpoint.
  const resumedAt = resumeBytes ? deserializeCheckpoint(resumeBytes).step : 0;
  let metrics: string[] = [];
  if (resumeBytes && existsSync(metricsPath)) {
    metrics = (await readFile(metricsPath, 'utf8')).split('\n').filter((line) => {
      try {
        return line && (JSON.parse(line) as { step: number }).step <= resumedAt;
      } catch {
        return false;
      }
    });
  }
  const appendMetrics = async (line: Record<string, unknown>) => {
    metrics.push(JSON.stringify(line));
    await writeFileAtomic(metricsPath, metrics.join('\n') + '\n');
  };
  if (!resumeBytes) await writeFileAtomic(metricsPath, '');
  const progress = new Progress(io.out, settings.eval.logInterval);
  const control = new RunControl();
  const abort = new AbortController();
  // First Ctrl-C stops after the current step and keeps the adapter; a second one cancels.
  const onSigint = () => {
    if (control.stopRequested) abort.abort();
    else {
      io.err.write('\nstopping after this step (Ctrl-C again to cancel without saving)…\n');
      control.stop();
    }
  };
  process.on('SIGINT', onSigint);
  let lastEval: { step: number; result: EvalResult } | null = null;
  try {
    const outcome = await runTraining({
      model,
      data: runData,
      settings,
      identity: { model: m.baseName, data: dataKey },
      limits: { budgetBytes: o.number('gpu-memory', 4) * 2 ** 30, maxBufferSize: gpu.limits.maxBufferSize },
      padId,
      resume: resumeBytes,
      initParams,
      control,
      signal: abort.signal,
      onEvent: async (e) => {
        switch (e.type) {
          case 'plan':
            io.err.write(`plan: micro-batch ${e.plan.microBatch} × ${e.plan.gradAccum} = batch ${settings.train.batchSize}, ${e.plan.seqLen} tokens per row${e.plan.checkpointing ? ', gradient checkpointing' : ''}; ${formatBytes(e.plan.memory.total)} of GPU memory; ${e.totalSteps} steps (${e.stepsPerEpoch} per epoch)\n`);
            for (const r of e.plan.reasons) io.err.write(`  ${r}\n`);
            break;
          case 'step':
            progress.update({ ...e.report, etaMs: e.etaSeconds === null ? NaN : e.etaSeconds * 1000 });
            break;
          case 'log':
            await appendMetrics({ step: e.step, ...e.metrics });
            break;
          case 'eval':
            progress.note(`step ${e.step}: ${Object.entries(e.metrics).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ')}`);
            lastEval = { step: e.step, result: e.result };
            await appendMetrics({ step: e.step, ...e.metrics });
            break;
          case 'checkpoint':
            await writeFileAtomic(checkpointPath, e.bytes, (back) => void deserializeCheckpoint(back, checkpointPath));
            break;
        }
      },
    });
    progress.done();
    if (outcome.finalLoss === null) throw new FileError(out, 'no step had a target token: the run learned nothing (check the data and --train-on); no adapter written');
    const bad = firstNonFinite(outcome.params);
    if (bad) throw new FileError(out, `the adapter holds ${bad}; it was not written (the last good checkpoint is kept)`);
    const final = lastEval as { step: number; result: EvalResult } | null;
    if (final && (final.result.perClass || final.result.confusion)) {
      // Per-class figures and the confusion matrix once, at the end (compute_metrics' classification report).
      await appendMetrics({
        step: final.step,
        eval_per_class: Object.fromEntries((final.result.perClass ?? []).map((c) => [c.label, { precision: c.precision, recall: c.recall, f1: c.f1, support: c.support }])),
        ...(final.result.confusion ? { eval_confusion: final.result.confusion } : {}),
      });
      for (const c of final.result.perClass ?? []) progress.note(`  ${c.label}: precision ${c.precision.toFixed(3)}, recall ${c.recall.toFixed(3)}, f1 ${c.f1.toFixed(3)} (${c.support} examples)`);
    }
    const files = exportAdapter(adapterModelOf(folder, encoder?.task ?? null), outcome.layout, outcome.params, m.baseName);
    await writeFileAtomic(join(out, ADAPTER_WEIGHTS_FILE), files['adapter_model.safetensors'], async (back) => {
      await inspectPeftAdapter({ 'adapter_model.safetensors': back, 'adapter_config.json': files['adapter_config.json'] });
    });
    await writeFileAtomic(join(out, ADAPTER_CONFIG_FILE), files['adapter_config.json'], (back) => void parseAdapterConfig(new TextDecoder().decode(back), folder.family === 'llama' ? folder.spec : { ...folder.spec, numLabels: encoder!.task.labels.length }));
    if (files['config.json']) await writeFileAtomic(join(out, LABELS_FILE), files['config.json']);
    io.err.write(`${outcome.status === 'done' ? 'done' : `stopped at step ${outcome.steps} of ${outcome.totalSteps}`}: wrote ${join(out, ADAPTER_WEIGHTS_FILE)}, ${ADAPTER_CONFIG_FILE}${files['config.json'] ? `, ${LABELS_FILE} (labels)` : ''}, ${METRICS_FILE} and ${CHECKPOINT_FILE}\n`);
    if (encoder) {
      io.err.write(`load it in Python: cfg = AutoConfig.from_pretrained("${out}"); base = AutoModelForSequenceClassification.from_pretrained("${m.baseName}", config=cfg); model = PeftModel.from_pretrained(base, "${out}")\n`);
    }
  } finally {
    process.off('SIGINT', onSigint);
    release();
    destroy();
  }
}

async function evalCommand(p: ParsedCommand, io: CliIo): Promise<void> {
  const o = p.options;
  const m = await openModel(o.required('model'));
  const dataPath = o.required('data');
  if (!existsSync(dataPath)) throw new UsageError(`eval --data ${dataPath}: no such file`);
  const folder = await openModelFolder(m.files);
  const tok = await loadTokenizer(m.files);
  const maxLength = o.number('max-length', 512);
  const adapterFiles = o.string('adapter') ? await readAdapterFolder(o.string('adapter')!, '--adapter') : null;
  let r: EvalResult;
  if (folder.family === 'llama') {
    const spec = folder.spec;
    const imported = adapterFiles ? await importAdapter(spec, adapterFiles) : null;
    const data = await loadDataset(await fromPath(dataPath), tok, { maxLength, vocabSize: spec.vocabSize });
    const { gpu, loaded } = await gpuAndModel(m, p, io);
    const adapter = imported ? uploadAdapter(gpu, imported.layout, imported.params) : null;
    const seqLen = Math.min(maxLength, data.stats.maxLength, spec.maxPositionEmbeddings);
    r = await evaluate(loaded.model as unknown as TrainableModel, data.train, { microBatch: o.number('micro-batch', 8), seqLen, padId: padTokenId(spec, tok.pad_token_id), adapter });
    adapter?.destroy();
    loaded.model.destroy();
  } else {
    // Every row is evaluated (no split); the task is the adapter's, else the data's.
    const cfg = folder.spec;
    const settings = applySettings('eval', new Map([['data.validationFraction', 0]]));
    const data = await loadClassificationData(await fromPath(dataPath), undefined, tok, cfg, settings, Math.min(maxLength, cfg.maxPositionEmbeddings));
    const cls = data.classification!;
    let task = encoderTaskFor(cls.labels, cfg);
    const imported = adapterFiles ? await importAdapter({ encoder: cfg, task, config: folder.config }, adapterFiles) : null;
    if (imported?.task) {
      if (imported.task.labels.length !== task.labels.length || imported.task.problemType !== task.problemType) {
        throw new UsageError(`eval: the adapter's head is ${imported.task.problemType} with ${imported.task.labels.length} labels, the data ${task.problemType} with ${task.labels.length}`);
      }
      if (task.problemType !== 'regression' && imported.task.labels.join('\n') !== task.labels.join('\n')) {
        io.err.write(`note: the adapter's labels are ${imported.task.labels.join(', ')}; the data's ${task.labels.join(', ')} (matched by id)\n`);
      }
      task = imported.task;
    }
    const { gpu, loaded } = await gpuAndModel(m, p, io, task);
    const adapter = imported ? uploadAdapter(gpu, imported.layout, imported.params) : null;
    const seqLen = Math.min(maxLength, data.stats.maxLength, cfg.maxPositionEmbeddings);
    r = await evaluate(loaded.model as unknown as TrainableModel<unknown, never>, cls.train, { microBatch: o.number('micro-batch', 8), seqLen, padId: cfg.padTokenId, adapter });
    adapter?.destroy();
    loaded.model.destroy();
  }
  if (!Number.isFinite(r.loss)) throw new FileError(dataPath, `the loss is ${r.loss}${r.count === 0 ? ': no row has a target token' : ': the model or adapter produces non-finite values'}`);
  const extra = r.perClass ? { eval_per_class: Object.fromEntries(r.perClass.map((c) => [c.label, { precision: c.precision, recall: c.recall, f1: c.f1, support: c.support }])) } : {};
  io.out.write(JSON.stringify({ ...r.metrics, count: r.count, ...extra, adapter: o.string('adapter') ?? null }) + '\n');
}

async function generateCommand(p: ParsedCommand, io: CliIo): Promise<void> {
  const o = p.options;
  const m = await openModel(o.required('model'));
  const prompt = o.required('prompt');
  const folder = requireDecoder(await openModelFolder(m.files), 'generate');
  const spec = folder.spec;
  const imported = o.string('adapter') ? await importAdapter(spec, await readAdapterFolder(o.string('adapter')!, '--adapter')) : null;
  const tok = await loadTokenizer(m.files);
  let ids: number[];
  if (o.bool('chat', false)) {
    ids = Array.from(tok.apply_chat_template([{ role: 'user', content: prompt }], { add_generation_prompt: true, tokenize: true, return_tensor: false }) as unknown as number[]);
  } else {
    ids = Array.from(tok.encode(prompt));
  }
  const { gpu, loaded } = await gpuAndModel(m, p, io);
  if (loaded.family !== 'llama') throw new Error('the folder changed while loading');
  const adapter = imported ? uploadAdapter(gpu, imported.layout, imported.params) : null;
  const maxNew = o.number('max-new-tokens', 128);
  const tokens = await generateTokens(loaded.model, adapter, ids, {
    maxNewTokens: maxNew,
    temperature: o.number('temperature', 0.7),
    topK: o.number('top-k', 50),
    topP: o.number('top-p', 0.95),
    seed: o.number('seed', 0),
    eosTokenIds: eosTokenIds(spec, tok.eos_token_id),
  });
  io.out.write((tokens.length ? tok.decode(tokens, { skip_special_tokens: true }) : '') + '\n');
  io.err.write(`${tokens.length} new tokens${tokens.length < maxNew ? ' (stopped at EOS)' : ''}\n`);
  adapter?.destroy();
  loaded.model.destroy();
}

async function inspect(path: string, p: ParsedCommand, io: CliIo): Promise<void> {
  if (!existsSync(path)) throw new UsageError(`inspect: ${path} does not exist`);
  const lines: string[] = [];
  if (!statSync(path).isDirectory()) {
    const st = await openSafetensors(await fromNodeFile(path));
    let params = 0;
    const dtypes = new Map<string, number>();
    for (const t of st.header.tensors) {
      params += t.shape.reduce((a, b) => a * b, 1);
      dtypes.set(t.dtype, (dtypes.get(t.dtype) ?? 0) + 1);
    }
    lines.push(`${path}: safetensors, ${st.header.tensors.length} tensors, ${params.toLocaleString('en-US')} values`);
    lines.push(`dtypes: ${[...dtypes].map(([d, n]) => `${d} × ${n}`).join(', ')}`);
    if (st.metadata) lines.push(`metadata: ${JSON.stringify(st.metadata)}`);
    for (const t of st.header.tensors.slice(0, 12)) lines.push(`  ${t.name}  ${t.dtype} ${JSON.stringify(t.shape)}`);
    if (st.header.tensors.length > 12) lines.push(`  … ${st.header.tensors.length - 12} more`);
    for (const t of st.header.tensors) {
      const bad = firstNonFinite(await st.readF32(t.name));
      if (bad) throw new FileError(path, `tensor "${t.name}" holds ${bad}: the file is not usable`);
    }
    lines.push('valid: yes (every value finite)');
  } else if (existsSync(join(path, ADAPTER_CONFIG_FILE))) {
    const files = await readAdapterFolder(path, 'inspect');
    const summary = await inspectPeftAdapter(files);
    const c = summary.config;
    const enc = summary.encoder;
    lines.push(`${path}: PEFT LoRA adapter${c.taskType === 'SEQ_CLS' ? ' (SEQ_CLS)' : ''}, r ${c.r}, alpha ${c.alpha}, dropout ${c.dropout}, targets ${c.targetModules.join(', ')}, ${summary.tensors} tensors, ${summary.parameters.toLocaleString('en-US')} values`);
    if (enc) {
      const labels = files['config.json'] ? labelsFromConfig(files['config.json'], join(path, LABELS_FILE)) : null;
      lines.push(`${enc.family} encoder, LoRA on ${describeTargetMapping(enc.family, c.targetModules)}; head trained in full (modules_to_save ${JSON.stringify(c.modulesToSave)}): ${enc.head.join(', ')}; ${enc.numLabels} output${enc.numLabels === 1 ? '' : 's'}`);
      lines.push(labels ? `labels (${LABELS_FILE}): ${labels.problemType}, ${labels.labels.join(', ')}` : `labels: not recorded (no ${LABELS_FILE} beside the adapter)`);
    }
    lines.push(`base model: ${c.baseModelNameOrPath || '(not recorded)'}`);
    const base = p.options.string('model') ?? (c.baseModelNameOrPath && existsSync(c.baseModelNameOrPath) ? c.baseModelNameOrPath : undefined);
    if (base) {
      const m = await openModel(base);
      const folder = await openModelFolder(m.files);
      const imported = await importAdapter(adapterModelOf(folder), files);
      let norm = 0;
      for (const x of imported.params) norm += x * x;
      const head = imported.layout.full.length ? ` and ${imported.layout.full.length} head tensors` : '';
      lines.push(`valid against ${base}: yes (${imported.layout.slots.length} adapted projections${head}, ${imported.layout.size.toLocaleString('en-US')} values, weight norm ${Math.sqrt(norm).toFixed(4)})`);
    } else {
      lines.push('valid: file structure and values (pass --model to check key names and shapes against the base model)');
    }
  } else if (existsSync(join(path, 'config.json'))) {
    const folder = await openModelFolder(nodeFiles(path));
    if (folder.family === 'llama') {
      const s = folder.spec;
      lines.push(`${path}: ${s.architecture} model, hidden ${s.hiddenSize}, ${s.numLayers} layers, heads ${s.numHeads}/${s.numKvHeads}, head dim ${s.headDim}, intermediate ${s.intermediateSize}, vocab ${s.vocabSize}${s.tieWordEmbeddings ? ', tied embeddings' : ''}`);
    } else {
      const s = folder.spec;
      lines.push(`${path}: ${s.modelType} encoder (${s.architecture}), hidden ${s.hiddenSize}, ${s.numLayers} layers, ${s.numHeads} heads, intermediate ${s.intermediateSize}, vocab ${s.vocabSize}, positions ${s.maxPositionEmbeddings}`);
      lines.push(`classification head: ${folder.weights.head === 'present' ? `stored (${s.numLabels} labels: ${s.id2label.join(', ')}${s.problemType ? `, ${s.problemType}` : ''})` : 'not stored: training adds one (normal(0, initializer_range) weights, zero biases)'}`);
      lines.push(`dropout: hidden ${s.hiddenDropout}, attention ${s.attentionDropout}, classifier ${s.classifierDropout}; LoRA targets: ${describeTargetMapping(s.family, ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'up_proj', 'down_proj'])}`);
      if (folder.weights.ignored.length) lines.push(`unused tensors (pre-training heads, buffers): ${folder.weights.ignored.length}, e.g. ${folder.weights.ignored.slice(0, 3).join(', ')}`);
    }
    lines.push(`${folder.tensorNames.length} tensors; weights valid: yes`);
    const entries = await readdir(path);
    lines.push(`tokenizer: ${entries.includes('tokenizer.json') ? 'tokenizer.json present' : 'MISSING tokenizer.json'}`);
  } else {
    throw new UsageError(`inspect: ${path} is a folder with neither config.json (a model) nor ${ADAPTER_CONFIG_FILE} (an adapter)`);
  }
  io.out.write(lines.join('\n') + '\n');
}

async function merge(p: ParsedCommand, io: CliIo): Promise<void> {
  const o = p.options;
  const modelPath = o.required('model');
  const out = o.required('out');
  const adapterPath = o.required('adapter');
  const m = await openModel(modelPath);
  if (m.choice.kind === 'local' && isInside(out, modelPath)) throw new UsageError(`merge --out ${out} is the base model's folder (or inside it): merging would overwrite the model it reads; choose another folder`);
  if (isInside(out, adapterPath)) throw new UsageError(`merge --out ${out} is the adapter's folder (or inside it); choose another folder`);
  const folder = await openModelFolder(m.files);
  const imported = await importAdapter(adapterModelOf(folder), await readAdapterFolder(adapterPath, '--adapter'));
  // Tensors to write, by the name they get: a decoder keeps its own; an encoder is written as the
  // …ForSequenceClassification model Transformers saves (canonical names, the head, no pre-training heads).
  const names = new Map<string, string>();
  if (folder.family === 'llama') for (const n of folder.tensorNames) names.set(n, n);
  else {
    for (const e of expectedEncoderTensors(folder.spec)) names.set(e.name, folder.weights.names.get(e.name)!);
    for (const h of encoderHeadTensors(folder.spec, imported.task?.labels.length ?? folder.spec.numLabels)) {
      const stored = folder.weights.names.get(h.name);
      if (stored) names.set(h.name, stored);
    }
  }
  const weights = new Map<string, Float32Array>();
  for (const [name, stored] of names) {
    const values = await folder.readTensorF32(stored);
    const bad = firstNonFinite(values);
    if (bad) throw new FileError(modelPath, `tensor "${stored}" holds ${bad}: refusing to merge into a non-finite model`);
    weights.set(name, values);
  }
  const merged = mergeAdapter(imported.layout, imported.params, (n) => weights.get(n)!);
  const tensors = new Map<string, { dtype: 'F32'; shape: number[]; data: Uint8Array }>();
  const shapeOf = (name: string): number[] => {
    const t = imported.layout.full.find((f) => f.name === name);
    return t ? t.shape : folder.tensorInfo(names.get(name)!).shape;
  };
  for (const name of new Set([...names.keys(), ...merged.keys()])) {
    const values = merged.get(name) ?? weights.get(name)!;
    if (!values) throw new FileError(out, `the merged model lacks "${name}"`);
    const bad = firstNonFinite(values);
    if (bad) throw new FileError(out, `merged tensor "${name}" would hold ${bad}; nothing was written`);
    tensors.set(name, { dtype: 'F32', shape: shapeOf(name), data: fromF32('F32', values) });
  }
  // An encoder missing part of its head (BERT's pooler absent) cannot be merged into a complete model.
  if (folder.family === 'encoder') {
    for (const h of encoderHeadTensors(folder.spec, imported.task!.labels.length)) {
      if (!tensors.has(h.name)) throw new FileError(modelPath, `the base model stores no "${h.name}" and the adapter does not train it: the merged ${folder.spec.architecture} would be incomplete`);
    }
  }
  const config = folder.family === 'llama'
    ? JSON.stringify({ ...folder.config, torch_dtype: 'float32' }, null, 2) + '\n'
    : sequenceClassificationConfig({ ...folder.config, torch_dtype: 'float32' }, folder.spec, imported.task!);
  await ensureFolder(out);
  const release = lockFolder(out);
  try {
    await writeFileAtomic(join(out, 'model.safetensors'), serializeSafetensors(tensors, { format: 'pt' }), async (back) => void (await openSafetensors(back, 'model.safetensors')));
    await writeFileAtomic(join(out, 'config.json'), config);
    for (const f of ['generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.txt', 'vocab.json', 'merges.txt']) {
      const text = await m.files.text(f);
      if (text !== null) await writeFileAtomic(join(out, f), text);
    }
  } finally {
    release();
  }
  const head = imported.layout.full.length ? ` and the trained head (${imported.layout.full.map((t) => t.name).join(', ')})` : '';
  io.err.write(`wrote merged ${folder.family === 'encoder' ? folder.spec.architecture : 'model'} (${imported.layout.slots.length} projections merged${head}) to ${out}\n`);
}

export async function runCommand(name: string, p: ParsedCommand, io: CliIo): Promise<void> {
  switch (name) {
    case 'train': return train(p, io);
    case 'eval': return evalCommand(p, io);
    case 'generate': return generateCommand(p, io);
    case 'inspect': return inspect(p.positionals[0], p, io);
    case 'merge': return merge(p, io);
    default: throw new UsageError(`unknown command "${name}"`);
  }
}
