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
import { openModelFolder, type ModelFiles } from '../formats/modelFolder';
import { hubFiles } from '../hub/hub';
import { openSafetensors, serializeSafetensors } from '../formats/safetensors';
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, inspectPeftAdapter, parseAdapterConfig, firstNonFinite } from '../formats/peft';
import { fromF32 } from '../formats/dtype';
import { eosTokenIds, padTokenId } from '../formats/hfConfig';
import { loadTokenizer } from '../data/tokenize';
import { loadDataset } from '../data/dataset';
import { fromPath } from '../data/nodeSource';
import { createNodeGpu } from '../engine/gpu/node';
import type { Gpu } from '../engine/gpu/device';
import { loadModel, type LoadedModel } from '../engine/model/load';
import { uploadAdapter } from '../engine/model/model';
import { exportAdapter, importAdapter, mergeAdapter, type ImportedAdapter } from '../engine/model/adapterFiles';
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

async function gpuAndModel(m: OpenedModel, p: ParsedCommand, io: CliIo): Promise<{ gpu: Gpu; loaded: LoadedModel }> {
  const gpu = await createNodeGpu();
  io.err.write(`GPU: ${gpu.adapter.name}${gpu.features.f16 ? ' (shader-f16)' : ''}\n`);
  const f16 = gpu.features.f16 && !p.options.bool('f32-weights', false);
  const loaded = await loadModel(gpu, m.files, { f16 });
  return { gpu, loaded };
}

async function readAdapterFolder(dir: string, flag: string): Promise<{ 'adapter_model.safetensors': Uint8Array; 'adapter_config.json': string }> {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`${flag} ${dir}: no such folder`);
  const weights = join(dir, ADAPTER_WEIGHTS_FILE);
  const config = join(dir, ADAPTER_CONFIG_FILE);
  if (!existsSync(weights) || !existsSync(config)) throw new UsageError(`${flag} ${dir} is not a PEFT adapter folder (needs ${ADAPTER_WEIGHTS_FILE} and ${ADAPTER_CONFIG_FILE})`);
  return { 'adapter_model.safetensors': new Uint8Array(await readFile(weights)), 'adapter_config.json': await readFile(config, 'utf8') };
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

  let initParams: Float32Array | undefined;
  if (o.string('init-adapter')) {
    if (resumeBytes) throw new UsageError('train: --init-adapter and --resume contradict each other (a checkpoint already holds the adapter); give one');
    const dir = o.string('init-adapter')!;
    const imported: ImportedAdapter = await importAdapter(spec, await readAdapterFolder(dir, '--init-adapter'));
    const fromAdapter: RunSettings = { ...settings, lora: { ...imported.settings } };
    refuseConflicts(p, fromAdapter, LORA_KEYS, `the adapter ${dir}`);
    if (o.string('layers') !== undefined && canonicalJson(settings.lora.layers) !== canonicalJson(imported.settings.layers)) {
      throw new UsageError(`train --layers conflicts with the adapter ${dir}: the adapter wins; drop --layers`);
    }
    settings = fromAdapter;
    initParams = imported.params;
    io.err.write(`starting from adapter ${dir} (r ${settings.lora.r}, alpha ${settings.lora.alpha}, dropout ${settings.lora.dropout}, ${settings.lora.targets.join(', ')})\n`);
  }
  if (isInside(out, m.tokenizerDir) && m.choice.kind === 'local') throw new UsageError(`train --out ${out} is inside the base model's folder ${m.tokenizerDir}; choose another folder`);

  const tok = await loadTokenizer(m.files);
  const valFile = o.string('validation');
  const data = await loadDataset(await fromPath(dataPath), tok, {
    maxLength: settings.train.maxLength,
    seed: settings.train.seed,
    vocabSize: spec.vocabSize,
    trainOn: settings.data.trainOn,
    validation: valFile ? { source: await fromPath(valFile) } : settings.data.validationFraction > 0 ? { fraction: settings.data.validationFraction } : undefined,
  });
  const longestRow = Math.min(settings.train.maxLength, data.stats.maxLength);
  io.err.write(`data: ${data.train.length} training examples, ${data.stats.tokens} tokens, longest ${longestRow}${data.validation ? `, ${data.validation.length} validation examples` : ''}\n`);

  const gpu = await createNodeGpu();
  io.err.write(`GPU: ${gpu.adapter.name}${gpu.features.f16 ? ' (shader-f16)' : ''}\n`);
  const f16 = gpu.features.f16 && !o.bool('f32-weights', false);
  const loaded = await loadModel(gpu, m.files, { f16 });
  const padId = padTokenId(spec, tok.pad_token_id);
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
  try {
    const outcome = await runTraining({
      model: loaded.model,
      data: { train: data.train, validation: data.validation ?? null, longestRow },
      settings,
      identity: { model: m.baseName, data: `${basename(dataPath)}:${data.stats.rows}:${data.stats.tokens}` },
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
    const files = exportAdapter(spec, outcome.layout, outcome.params, m.baseName);
    await writeFileAtomic(join(out, ADAPTER_WEIGHTS_FILE), files['adapter_model.safetensors'], async (back) => {
      await inspectPeftAdapter({ 'adapter_model.safetensors': back, 'adapter_config.json': files['adapter_config.json'] });
    });
    await writeFileAtomic(join(out, ADAPTER_CONFIG_FILE), files['adapter_config.json'], (back) => void parseAdapterConfig(new TextDecoder().decode(back), spec));
    io.err.write(`${outcome.status === 'done' ? 'done' : `stopped at step ${outcome.steps} of ${outcome.totalSteps}`}: wrote ${join(out, ADAPTER_WEIGHTS_FILE)}, ${ADAPTER_CONFIG_FILE}, ${METRICS_FILE} and ${CHECKPOINT_FILE}\n`);
  } finally {
    process.off('SIGINT', onSigint);
    release();
    loaded.model.destroy();
  }
}

async function evalCommand(p: ParsedCommand, io: CliIo): Promise<void> {
  const o = p.options;
  const m = await openModel(o.required('model'));
  const dataPath = o.required('data');
  if (!existsSync(dataPath)) throw new UsageError(`eval --data ${dataPath}: no such file`);
  const folder = await openModelFolder(m.files);
  const spec = folder.spec;
  const imported = o.string('adapter') ? await importAdapter(spec, await readAdapterFolder(o.string('adapter')!, '--adapter')) : null;
  const tok = await loadTokenizer(m.files);
  const maxLength = o.number('max-length', 512);
  const data = await loadDataset(await fromPath(dataPath), tok, { maxLength, vocabSize: spec.vocabSize });
  const { gpu, loaded } = await gpuAndModel(m, p, io);
  const adapter = imported ? uploadAdapter(gpu, imported.layout, imported.params) : null;
  const seqLen = Math.min(maxLength, data.stats.maxLength, spec.maxPositionEmbeddings);
  const r = await evaluate(loaded.model, data.train, { microBatch: o.number('micro-batch', 8), seqLen, padId: padTokenId(spec, tok.pad_token_id), adapter });
  if (!Number.isFinite(r.loss)) throw new FileError(dataPath, `the loss is ${r.loss}${r.count === 0 ? ': no row has a target token' : ': the model or adapter produces non-finite values'}`);
  io.out.write(JSON.stringify({ ...r.metrics, count: r.count, adapter: o.string('adapter') ?? null }) + '\n');
  adapter?.destroy();
  loaded.model.destroy();
}

async function generateCommand(p: ParsedCommand, io: CliIo): Promise<void> {
  const o = p.options;
  const m = await openModel(o.required('model'));
  const prompt = o.required('prompt');
  const folder = await openModelFolder(m.files);
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
    lines.push(`${path}: PEFT LoRA adapter, r ${c.r}, alpha ${c.alpha}, dropout ${c.dropout}, targets ${c.targetModules.join(', ')}, ${summary.tensors} tensors, ${summary.parameters.toLocaleString('en-US')} values`);
    lines.push(`base model: ${c.baseModelNameOrPath || '(not recorded)'}`);
    const base = p.options.string('model') ?? (c.baseModelNameOrPath && existsSync(c.baseModelNameOrPath) ? c.baseModelNameOrPath : undefined);
    if (base) {
      const m = await openModel(base);
      const folder = await openModelFolder(m.files);
      const imported = await importAdapter(folder.spec, files);
      let norm = 0;
      for (const x of imported.params) norm += x * x;
      lines.push(`valid against ${base}: yes (${imported.layout.slots.length} adapted projections, ${imported.layout.size.toLocaleString('en-US')} values, weight norm ${Math.sqrt(norm).toFixed(4)})`);
    } else {
      lines.push('valid: file structure and values (pass --model to check key names and shapes against the base model)');
    }
  } else if (existsSync(join(path, 'config.json'))) {
    const folder = await openModelFolder(nodeFiles(path));
    const s = folder.spec;
    lines.push(`${path}: ${s.architecture} model, hidden ${s.hiddenSize}, ${s.numLayers} layers, heads ${s.numHeads}/${s.numKvHeads}, head dim ${s.headDim}, intermediate ${s.intermediateSize}, vocab ${s.vocabSize}${s.tieWordEmbeddings ? ', tied embeddings' : ''}`);
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
  const imported = await importAdapter(folder.spec, await readAdapterFolder(adapterPath, '--adapter'));
  const weights = new Map<string, Float32Array>();
  for (const name of folder.tensorNames) {
    const values = await folder.readTensorF32(name);
    const bad = firstNonFinite(values);
    if (bad) throw new FileError(modelPath, `tensor "${name}" holds ${bad}: refusing to merge into a non-finite model`);
    weights.set(name, values);
  }
  const merged = mergeAdapter(imported.layout, imported.params, (n) => weights.get(n)!);
  const tensors = new Map<string, { dtype: 'F32'; shape: number[]; data: Uint8Array }>();
  for (const name of folder.tensorNames) {
    const values = merged.get(name) ?? weights.get(name)!;
    const bad = firstNonFinite(values);
    if (bad) throw new FileError(out, `merged tensor "${name}" would hold ${bad}; nothing was written`);
    tensors.set(name, { dtype: 'F32', shape: folder.tensorInfo(name).shape, data: fromF32('F32', values) });
  }
  await ensureFolder(out);
  const release = lockFolder(out);
  try {
    await writeFileAtomic(join(out, 'model.safetensors'), serializeSafetensors(tensors, { format: 'pt' }), async (back) => void (await openSafetensors(back, 'model.safetensors')));
    await writeFileAtomic(join(out, 'config.json'), JSON.stringify({ ...folder.config, torch_dtype: 'float32' }, null, 2) + '\n');
    for (const f of ['generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) {
      const text = await m.files.text(f);
      if (text !== null) await writeFileAtomic(join(out, f), text);
    }
  } finally {
    release();
  }
  io.err.write(`wrote merged model (${merged.size} projections merged) to ${out}\n`);
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
