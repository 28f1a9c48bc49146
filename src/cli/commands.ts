/**
 * The CLI's commands: thin adapters over the engine (loaded lazily so `--help` and usage errors
 * start fast). Training goes through the engine's one run driver; this file only says where its
 * events, checkpoints and the adapter go on disk.
 */
import { existsSync, statSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { applySettings, UsageError, type CliIo, type ParsedCommand } from './args';
import { dataOptions, encoderMaxPositions, LABELS_FILE, loadClassificationData, LORA_KEYS, openModel, parseLayers, readAdapterFolder, refuseConflicts, runDataOptions, type OpenedModel } from './inputs';
import { Progress, StartupProgress } from './progress';
import { ensureFolder, FileError, isInside, lockFolder, removeStaleTemporaries, writeFileAtomic, describeFsError } from './files';
import { nodeFiles, fromNodeFile } from '../formats/nodeSource';
import { openModelFolder, requireDecoder, type ModelFolder } from '../formats/modelFolder';
import { openSafetensors } from '../formats/safetensors';
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, inspectPeftAdapter, parseAdapterConfig, firstNonFinite } from '../formats/peft';
import { concatParts, exportModel, exportQuants, isModelExportFormat, MODEL_EXPORTS, openExportSource, readExportAdapter, type ExportedFiles, type LoraAdapter, type OpenedSource } from '../formats/export/index';
import { eosTokenIds, padTokenId } from '../formats/hfConfig';
import { loadTokenizer } from '../data/tokenize';
import { loadDataset, prepareDataset } from '../data/dataset';
import { describeMapping, mappingFlags } from '../data/schema';
import type { DatasetReport, RowView } from '../data/report';
import { fromPath } from '../data/nodeSource';
import { createNodeGpu } from '../engine/gpu/node';
import type { Gpu } from '../engine/gpu/device';
import { loadModel, openModel as openEngineModel, type LoadedModel } from '../engine/model/load';
import { uploadAdapter } from '../engine/model/model';
import { exportAdapter, importAdapter, type AdapterModel, type ImportedAdapter } from '../engine/model/adapterFiles';
import type { EncoderGpu } from '../engine/model/encoder';
import { describeTargetMapping, encoderTargetModules, encoderTaskFor, type EncoderTask } from '../engine/model/encoderSpec';
import { labelsFromConfig, trainedHeadModules } from '../formats/encoderConfig';
import type { TrainableModel } from '../engine/model/model';
import type { RunData } from '../engine/train/run';
import type { EvalResult } from '../engine/train/evaluate';
import { generateTokens } from '../engine/model/generate';
import { evaluate } from '../engine/train/evaluate';
import { PlanError, type PlanLimits, type RunPlan } from '../engine/train/memory';
import { formatBytes } from '../units';
import { familyFromConfig, type WeightFormat } from '../engine/model/families';
import { deserializeCheckpoint } from '../formats/checkpoint';
import { RunControl, planTraining, runTraining } from '../engine/train/run';
import { DEFAULT_SETTINGS, SETTING_DEFS, canonicalJson, withDefaults, type BaseWeights, type RunSettings } from '../settings/settings';

export const CHECKPOINT_FILE = 'checkpoint.ascp';
export const METRICS_FILE = 'metrics.jsonl';

/**
 * The GPU and the model for eval and generate, the base stored as --weights says: for a decoder auto
 * takes the planner's choice for `rows` rows of `seqLen` tokens in --gpu-memory (the most precise
 * that fits); an encoder's base is f32 or f16 (auto: f16 where the GPU has shader-f16).
 */
async function gpuAndModel(m: OpenedModel, folder: ModelFolder, p: ParsedCommand, io: CliIo, command: string, rows: number, seqLen: number, task?: EncoderTask): Promise<{ gpu: Gpu; loaded: LoadedModel }> {
  const gpu = await createNodeGpu();
  io.err.write(`GPU: ${gpu.adapter.name}${gpu.features.f16 ? ' (shader-f16)' : ''}\n`);
  const settings = applySettings(command, p.settings);
  let weights: WeightFormat | undefined;
  if (folder.family === 'llama') {
    const run: RunSettings = { ...settings, train: { ...settings.train, batchSize: rows, microBatch: rows, maxLength: seqLen, gradientCheckpointing: 'on' } };
    const plan = planTraining(familyFromConfig(folder.config).onDevice({ f16: gpu.features.f16, ...gpu.limits }), run, { longestRow: seqLen }, cliLimits(p, gpu));
    io.err.write(`${plan.weightsNote}\n`);
    weights = plan.weights;
  } else weights = encoderWeights(settings.train.weights);
  const loaded = await loadModel(gpu, m.files, { weights, task });
  return { gpu, loaded };
}

/** An encoder's base precision from the setting: auto leaves it to the device (f16 with shader-f16); the loader refuses q8 and nf4. */
function encoderWeights(weights: BaseWeights): WeightFormat | undefined {
  return weights === 'auto' ? undefined : weights;
}

/** What --gpu-memory allows, with the device's own largest buffer. */
function cliLimits(p: ParsedCommand, gpu: Gpu): PlanLimits {
  return { budgetBytes: p.options.number('gpu-memory', 4) * 2 ** 30, maxBufferSize: gpu.limits.maxBufferSize };
}

/** The labels' config.json an encoder adapter carries beside its PEFT files. */
/** What an adapter of this folder's model is read against (an encoder with the task its head has, when known). */
function adapterModelOf(folder: ModelFolder, task: EncoderTask | null = null): AdapterModel {
  return folder.family === 'llama' ? folder.spec : { encoder: folder.spec, task, config: folder.config };
}

/** A rendered row with its trained tokens marked ⟦…⟧ (what the loss counts). */
function markTrained(row: RowView): string {
  if (row.error) return `row ${row.row} (line ${row.line ?? '?'}): ${row.error}`;
  const parts: string[] = [];
  let open = false;
  for (const t of row.tokens) {
    if (t.trained && !open) parts.push('⟦');
    if (!t.trained && open) parts.push('⟧');
    open = t.trained;
    parts.push(t.text);
  }
  if (open) parts.push('⟧');
  const label = row.label ? `  → label ${row.label.names?.join(', ') ?? JSON.stringify(row.label.raw)}` : '';
  return `row ${row.row} (line ${row.line ?? '?'}), ${row.tokens.length} tokens${row.truncated ? ` (cut from ${row.fullLength})` : ''}, ${row.trainedTokens} trained${label}:\n    ${parts.join('').replace(/\n/g, '\n    ')}`;
}

/** What the data layer found, as the studio's Dataset screen shows it, for a terminal. */
function reportLines(r: DatasetReport, full: boolean): string[] {
  const lines = [`data: ${r.file.name} (${r.file.format ?? 'unknown format'}, ${r.file.bytes.toLocaleString('en-US')} bytes)`];
  if (r.mapping) lines.push(`schema: ${describeMapping(r.mapping)} — ${r.mappingSource === 'given' ? 'as given' : 'detected'}; to choose it: ${mappingFlags(r.mapping)}`);
  const st = r.stats;
  if (st) {
    lines.push(`rows: ${st.rows} read, ${st.examples} used${st.rejected ? `, ${st.rejected} skipped` : ''}; ${st.tokens.toLocaleString('en-US')} tokens, ${st.targetTokens.toLocaleString('en-US')} trained; lengths ${st.minLength}–${st.maxLength} (mean ${st.meanLength.toFixed(1)}); ${st.truncated} cut to ${r.maxLength}`);
  }
  if (r.split) lines.push(`split: ${r.split.trainExamples} train / ${r.split.validationExamples} validation (${r.split.mode === 'file' ? 'a separate file' : r.split.mode === 'fraction' ? `${r.split.fraction} held out, seed ${r.split.seed}${r.split.stratified ? ', stratified by class' : ''}` : 'none'})`);
  if (r.duplicates && (r.duplicates.count || r.duplicates.withinTrain)) lines.push(`duplicates: ${r.duplicates.count} validation rows repeat a training row${r.duplicates.withinTrain ? `, ${r.duplicates.withinTrain} repeats within training` : ''}`);
  if (r.classes) lines.push(`task: ${r.classes.task}${r.classes.names.length ? `; classes ${r.classes.names.map((n, i) => `${n} ×${r.classes!.trainCounts[i] ?? 0}`).join(', ')}` : ''}`);
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  const errors = full ? r.errors : r.errors.slice(0, 5);
  for (const e of errors) lines.push(`${r.ok ? 'skipped' : 'error'}: ${e.message}`);
  if (errors.length < r.errors.length) lines.push(`… ${r.errors.length - errors.length} more (adapter-studio data shows them all)`);
  const samples = full ? r.samples : r.samples.slice(0, 1);
  if (samples.length) lines.push(`as the model sees it (trained tokens ⟦marked⟧):`, ...samples.map((row) => `  ${markTrained(row)}`));
  return lines;
}

async function dataCommand(p: ParsedCommand, io: CliIo): Promise<void> {
  const o = p.options;
  const dataPath = o.required('data');
  if (!existsSync(dataPath)) throw new UsageError(`data --data ${dataPath}: no such file`);
  const m = await openModel(o.required('model'));
  const folder = await openModelFolder(m.files);
  const settings = applySettings('data', p.settings);
  const tok = await loadTokenizer(m.files);
  const show = o.string('show-rows')?.split(',').map((x) => Number(x.trim()));
  if (show && !show.every((x) => Number.isInteger(x) && x >= 1)) throw new UsageError(`data --show-rows: "${o.string('show-rows')}" must list row numbers (1, 2, …)`);
  const opts = dataOptions(p, settings, o.number('max-length', 512), folder.spec.vocabSize, show);
  const valFile = o.string('validation');
  const source = await fromPath(dataPath);
  const prepared = await prepareDataset(source, tok, {
    ...opts,
    validation: valFile ? { source: await fromPath(valFile) } : settings.data.validationFraction > 0 ? { fraction: settings.data.validationFraction } : undefined,
  });
  const r = prepared.report;
  if (o.bool('json', false)) io.out.write(JSON.stringify(r, null, 2) + '\n');
  else io.out.write(reportLines(r, true).join('\n') + '\n');
  if (!r.ok) throw new FileError(dataPath, r.errors[0]?.message ?? 'the dataset cannot be used');
}

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
    const complete = withDefaults(saved); // a checkpoint from before a setting existed ran with its default
    refuseConflicts(p, complete, SETTING_DEFS.filter((d) => d.group !== 'eval').map((d) => d.key), `the checkpoint ${path}`);
    base = { ...complete, model: m.choice, eval: complete.eval };
    io.err.write(`resuming from ${path} at step ${state.step} of ${state.totalSteps}\n`);
  }
  let settings = applySettings('train', p.settings, base);
  if (o.string('layers') !== undefined) settings = { ...settings, lora: { ...settings.lora, layers: parseLayers(o.string('layers'), spec.numLayers) } };
  if (m.folder && isInside(out, m.folder)) throw new UsageError(`train --out ${out} is inside the base model's folder ${m.folder}; choose another folder`);

  const tok = await loadTokenizer(m.files);
  const valFile = o.string('validation');
  const gpu = await createNodeGpu();
  io.err.write(`GPU: ${gpu.adapter.name}${gpu.features.f16 ? ' (shader-f16)' : ''}\n`);
  const limits = cliLimits(p, gpu);
  // A resumed run keeps its checkpoint's base precision (one from before the setting: the default of then).
  const resumedWeights: WeightFormat | null = resumeBytes
    ? ((deserializeCheckpoint(resumeBytes).run as { plan?: Partial<RunPlan> }).plan?.weights ?? (gpu.features.f16 ? 'f16' : 'f32'))
    : null;

  // The family's model and data: a decoder trains on token rows, an encoder on labelled texts. The
  // model's weights stream in while the run compiles its pipelines (runTraining's loading).
  const startup = new StartupProgress(io.err);
  let loading: Promise<void>;
  let model: TrainableModel<unknown, never>;
  let runData: RunData<unknown>;
  let padId: number;
  let dataKey: string;
  let encoder: { model: EncoderGpu; task: EncoderTask } | null = null;
  let destroy: () => void;
  if (folder.family === 'llama') {
    const data = await loadDataset(await fromPath(dataPath), tok, await runDataOptions(p, settings, folder.spec.vocabSize, valFile));
    const longestRow = Math.min(settings.train.maxLength, data.stats.maxLength);
    io.err.write(reportLines(data.report, false).join('\n') + '\n');
    // The base precision comes from the plan (the setting, or auto's choice), before the weights load.
    let weights = resumedWeights;
    if (!weights) {
      const plan = planTraining(familyFromConfig(folder.config).onDevice({ f16: gpu.features.f16, ...gpu.limits }), settings, { longestRow }, limits);
      if (!plan.fits) throw new PlanError(plan);
      weights = plan.weights;
    }
    const loaded = await openEngineModel(gpu, m.files, { weights, onProgress: startup.loading });
    loading = loaded.loaded;
    model = loaded.model as unknown as TrainableModel<unknown, never>;
    runData = { train: data.train, validation: data.validation ?? null, longestRow };
    padId = padTokenId(folder.spec, tok.pad_token_id);
    dataKey = `${basename(dataPath)}:${data.stats.rows}:${data.stats.tokens}`;
    destroy = () => loaded.model.destroy();
  } else {
    const cfg = folder.spec;
    const maxPositions = encoderMaxPositions(cfg);
    const data = await loadClassificationData(await fromPath(dataPath), valFile ? await fromPath(valFile) : undefined, tok, cfg, settings, Math.min(settings.train.maxLength, maxPositions));
    const cls = data.classification!;
    const task = encoderTaskFor(cls.labels, cfg);
    const longestRow = Math.min(settings.train.maxLength, maxPositions, data.stats.maxLength);
    const counts = data.report.classes?.trainCounts;
    io.err.write(`data: ${cls.train.length} training examples, ${data.stats.tokens} tokens, longest ${longestRow}${cls.validation ? `, ${cls.validation.length} validation examples` : ''}\n`);
    io.err.write(`task: ${task.problemType} (${settings.data.task === 'auto' ? 'detected from the labels' : `--task ${settings.data.task}`}), ${task.labels.length} label${task.labels.length === 1 ? '' : 's'}${task.problemType === 'regression' ? '' : `: ${task.labels.map((l, i) => `${l}${counts ? ` (${counts[i]})` : ''}`).join(', ')}`}\n`);
    for (const w of data.report.warnings) io.err.write(`  warning: ${w}\n`);
    const loaded = await openEngineModel(gpu, m.files, { weights: resumedWeights ?? encoderWeights(settings.train.weights), task, seed: settings.train.seed, onProgress: startup.loading });
    loading = loaded.loaded;
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

  // Until the run owns the model, a failure here stops its load too.
  let initParams: Float32Array | undefined;
  let release: () => void;
  try {
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
    release = lockFolder(out);
    await removeStaleTemporaries(out);
  } catch (error) {
    destroy();
    throw error;
  }
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
      limits,
      padId,
      loading,
      resume: resumeBytes,
      initParams,
      control,
      signal: abort.signal,
      onEvent: async (e) => {
        switch (e.type) {
          case 'compile':
            startup.compiling(e.done, e.total);
            break;
          case 'plan':
            io.err.write(`plan: micro-batch ${e.plan.microBatch} × ${e.plan.gradAccum} = batch ${settings.train.batchSize}, ${e.plan.seqLen} tokens per row${e.plan.checkpointing ? ', gradient checkpointing' : ''}; ${formatBytes(e.plan.memory.total)} of GPU memory; ${e.totalSteps} steps (${e.stepsPerEpoch} per epoch)\n`);
            if (e.plan.weightsNote) io.err.write(`  ${e.plan.weightsNote}\n`);
            for (const r of e.plan.reasons) io.err.write(`  ${r}\n`);
            break;
          case 'step':
            startup.done();
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
    const seqLen = Math.min(maxLength, data.stats.maxLength, spec.maxPositionEmbeddings);
    const { gpu, loaded } = await gpuAndModel(m, folder, p, io, 'eval', o.number('micro-batch', 8), seqLen);
    const adapter = imported ? uploadAdapter(gpu, imported.layout, imported.params) : null;
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
    const seqLen = Math.min(maxLength, data.stats.maxLength, cfg.maxPositionEmbeddings);
    const { gpu, loaded } = await gpuAndModel(m, folder, p, io, 'eval', o.number('micro-batch', 8), seqLen, task);
    const adapter = imported ? uploadAdapter(gpu, imported.layout, imported.params) : null;
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
  const maxNew = o.number('max-new-tokens', 128);
  const { gpu, loaded } = await gpuAndModel(m, folder, p, io, 'generate', 1, Math.min(ids.length + maxNew, spec.maxPositionEmbeddings));
  if (loaded.family !== 'llama') throw new Error('the folder changed while loading');
  const adapter = imported ? uploadAdapter(gpu, imported.layout, imported.params) : null;
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
    for (const name of folder.tensorNames) {
      const bad = firstNonFinite(await folder.readTensorF32(name));
      if (bad) throw new FileError(path, `tensor "${name}" holds ${bad}: the model is not usable`);
    }
    lines.push(`${folder.tensorNames.length} tensors; weights valid: yes (every value finite)`);
    if (folder.family === 'llama') lines.push(...(await checkTokenizer(path, folder.spec.vocabSize, folder.spec)));
    const entries = await readdir(path);
    const ignored = entries.filter((f) => /\.(bin|pt|pth|ckpt|gguf|onnx|h5|msgpack)$/i.test(f));
    if (ignored.length) lines.push(`not read: ${ignored.join(', ')} (inspect and train read safetensors weights only; convert others with transformers' save_pretrained(safe_serialization=True))`);
  } else {
    throw new UsageError(`inspect: ${path} is a folder with neither config.json (a model) nor ${ADAPTER_CONFIG_FILE} (an adapter)`);
  }
  io.out.write(lines.join('\n') + '\n');
}

/**
 * What training will need of the tokenizer: tokenizer.json parses as a tokenizer, its vocabulary fits
 * the model's, and the bos / eos / pad ids of config.json and tokenizer_config.json are inside it.
 */
async function checkTokenizer(dir: string, vocabSize: number, spec: { bosTokenId: number | null; eosTokenIds: number[]; padTokenId: number | null }): Promise<string[]> {
  const file = join(dir, 'tokenizer.json');
  if (!existsSync(file)) throw new FileError(file, 'missing: a model folder needs its tokenizer.json to tokenize data (copy it from the model repository)');
  let json: { model?: { vocab?: Record<string, number> | [string, number][] }; added_tokens?: { id: number; content: string }[] };
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new FileError(file, `is not valid JSON (${(error as Error).message}): the file is damaged; copy it again from the model repository`);
  }
  const vocab = json.model?.vocab;
  const ids: number[] = Array.isArray(vocab) ? vocab.map((_, i) => i) : vocab && typeof vocab === 'object' ? Object.values(vocab) : [];
  if (!ids.length || !ids.every((i) => Number.isInteger(i) && i >= 0)) throw new FileError(file, 'holds no vocabulary ("model.vocab"): it is not a tokenizer.json that transformers.js can load');
  for (const t of json.added_tokens ?? []) ids.push(t.id);
  const tokenizerSize = Math.max(...ids) + 1;
  if (tokenizerSize > vocabSize) throw new FileError(file, `has token ids up to ${tokenizerSize - 1} but the model's vocabulary has ${vocabSize} tokens: tokenizer and model do not belong together`);
  const special = [
    ...(spec.bosTokenId !== null ? [['bos_token_id', spec.bosTokenId]] : []),
    ...spec.eosTokenIds.map((id) => ['eos_token_id', id]),
    ...(spec.padTokenId !== null ? [['pad_token_id', spec.padTokenId]] : []),
  ] as [string, number][];
  const known = new Set(ids);
  for (const [name, id] of special) {
    if (!known.has(id)) throw new FileError(join(dir, 'config.json'), `${name} ${id} is not a token of tokenizer.json (${tokenizerSize} ids): training and generation would use a token the tokenizer never makes`);
  }
  const configText = existsSync(join(dir, 'tokenizer_config.json')) ? await readFile(join(dir, 'tokenizer_config.json'), 'utf8') : null;
  let template = false;
  if (configText) {
    try {
      template = typeof (JSON.parse(configText) as { chat_template?: unknown }).chat_template === 'string';
    } catch (error) {
      throw new FileError(join(dir, 'tokenizer_config.json'), `is not valid JSON (${(error as Error).message})`);
    }
  }
  return [`tokenizer: ${tokenizerSize} ids, ${special.map(([n, id]) => `${n.replace('_token_id', '')} ${id}`).join(', ') || 'no special ids in config.json'}; ${template ? 'chat template present' : 'no chat template (pairs use the plain templates)'}`];
}

/** The export source (formats/export/source.ts) of the CLI's model and adapter, refusing an output inside either. */
async function sourceModel(m: OpenedModel, adapterPath: string | undefined, outFlag: string, out: string): Promise<{ source: OpenedSource; adapter: LoraAdapter | null }> {
  if (m.folder && isInside(out, m.folder)) throw new UsageError(`${outFlag} ${out} is the base model's folder (or inside it): writing there would overwrite the model it reads; choose another folder`);
  if (adapterPath && isInside(out, adapterPath)) throw new UsageError(`${outFlag} ${out} is the adapter's folder (or inside it); choose another folder`);
  const folder = await openModelFolder(m.files);
  // An encoder's SEQ_CLS adapter brings its head and, in the config.json beside it, its labels.
  const adapter = adapterPath ? await readExportAdapter(folder, await readAdapterFolder(adapterPath, '--adapter')) : null;
  return { source: await openExportSource(m.files, adapter), adapter };
}

/** Writes exported files (each a list of parts) into `out`, every file atomically, the folder locked. */
async function writeExport(out: string, files: ExportedFiles, io: CliIo): Promise<void> {
  await ensureFolder(out);
  const release = lockFolder(out);
  try {
    await removeStaleTemporaries(out);
    for (const [path, parts] of files) {
      const target = join(out, path);
      await ensureFolder(dirname(target), '--out');
      const bytes = parts.length === 1 ? parts[0] : concatParts(parts);
      await writeFileAtomic(target, bytes);
      io.err.write(`  ${path} (${formatBytes(bytes.byteLength)})\n`);
    }
  } finally {
    release();
  }
}

async function exportCommand(p: ParsedCommand, io: CliIo, fixed?: { format: 'hf'; dtype: 'F32' }): Promise<void> {
  const o = p.options;
  const format = fixed?.format ?? o.required('format');
  // A run, not a model: the PyTorch project takes the data and the run settings (cli/exportPytorch.ts).
  if (format === 'pytorch') return (await import('./exportPytorch')).exportPytorchCommand(p, io);
  if (!isModelExportFormat(format)) throw new UsageError(`export --format ${format}: not one of ${Object.keys(MODEL_EXPORTS).join(', ')}, pytorch`);
  for (const flag of ['data', 'validation', 'layers', 'init-adapter', 'bundle-model', 'schema', 'columns', 'numbers-as-text']) {
    if (o.has(flag)) throw new UsageError(`export --${flag} is for --format pytorch (a run); --format ${format} exports a model`);
  }
  if (p.settings.size) throw new UsageError(`export: run settings (--${[...p.settings.keys()].map((k) => SETTING_DEFS.find((d) => d.key === k)?.cli ?? k).join(', --')}) are for --format pytorch; --format ${format} exports a model`);
  const out = o.required('out');
  const m = await openModel(o.required('model'));
  const adapterPath = o.string('adapter');
  if (!adapterPath && format === 'gguf-adapter') throw new UsageError('export --format gguf-adapter needs --adapter');
  const quant = fixed?.dtype ?? o.string('quant');
  try {
    exportQuants(format, quant);
  } catch (error) {
    throw new UsageError(`export --quant: ${(error as Error).message.replace(/^ExportError: /, '')}`);
  }
  const { source, adapter } = await sourceModel(m, adapterPath, '--out', out);
  const name = o.string('name') ?? (basename(m.baseName.replace(/\/+$/, '')) || 'model');
  let lastStage = '';
  const onProgress = (e: { stage: string; done: number; total: number }) => {
    if (e.stage !== lastStage && e.done % 16 === 0) io.err.write(`\r\x1b[2K${e.stage} (${e.done + 1}/${e.total})`);
    lastStage = e.stage;
  };
  const files = await exportModel(format, source, adapter, { quant, name, onProgress });
  io.err.write('\r\x1b[2K');
  await writeExport(out, files, io);
  io.err.write(`wrote ${format} export of ${m.baseName}${adapterPath ? ` + ${adapterPath}` : ''} to ${out}\n`);
}

async function planCommand(p: ParsedCommand, io: CliIo): Promise<void> {
  const o = p.options;
  const where = o.required('model');
  // config.json only: the weights are never read.
  const configText = await (await openModel(where)).files.text('config.json');
  if (configText === null) throw new FileError(`${where}/config.json`, 'not found');
  const family = familyFromConfig(configText, `${where}/config.json`);
  const settings = applySettings('plan', p.settings);
  const maxBuffer = o.number('max-buffer', 2) * 2 ** 30;
  const limits = { budgetBytes: o.number('gpu-memory', 4) * 2 ** 30, maxBufferSize: maxBuffer };
  const device = { f16: o.bool('f16', true), maxBufferSize: maxBuffer, maxStorageBufferBindingSize: Math.min(maxBuffer, 2 ** 31 - 4) };
  const plan = planTraining(family.onDevice(device), settings, { longestRow: 0 }, limits);
  const m = plan.memory;
  const lines = [
    `${where}: ${family.architecture} (${family.family} family), ${family.layers} layers, hidden ${family.hidden}, vocab ${family.vocab}, ${(family.parameters / 1e6).toFixed(1)}M parameters`,
    `adapter: r ${settings.lora.r} on ${settings.lora.targets.join(', ')}: ${family.adapterParameters(settings.lora).toLocaleString('en-US')} trainable parameters`,
    `run: batch ${settings.train.batchSize} = micro-batch ${plan.microBatch} × ${plan.gradAccum}, ${plan.seqLen} tokens per row${plan.checkpointing ? ', gradient checkpointing' : ''}, weights ${plan.weights}`,
    plan.weightsNote,
    `memory: ${formatBytes(m.total)} of ${formatBytes(limits.budgetBytes)} — weights ${formatBytes(m.weights)}, adapter + Adam ${formatBytes(m.adapter)}, activations ${formatBytes(m.activations)}, workspace ${formatBytes(m.workspace)}, logits chunk ${formatBytes(m.logitsChunk)}; largest buffer ${formatBytes(m.largestBuffer)} (${m.largestBufferName})`,
    ...plan.reasons.map((r) => `  ${r}`),
    plan.fits ? 'fits: yes' : `fits: no — ${plan.advice}`,
  ];
  io.out.write(lines.join('\n') + '\n');
}

export async function runCommand(name: string, p: ParsedCommand, io: CliIo): Promise<void> {
  switch (name) {
    case 'train': return train(p, io);
    case 'eval': return evalCommand(p, io);
    case 'generate': return generateCommand(p, io);
    case 'inspect': return inspect(p.positionals[0], p, io);
    // A decoder's merged causal LM, or an encoder's merged …ForSequenceClassification: the hf export, F32.
    case 'merge': return exportCommand(p, io, { format: 'hf', dtype: 'F32' });
    case 'export': return exportCommand(p, io);
    case 'plan': return planCommand(p, io);
    case 'data': return dataCommand(p, io);
    default: throw new UsageError(`unknown command "${name}"`);
  }
}
