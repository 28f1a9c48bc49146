/** The CLI's commands over the engine (loaded lazily so `--help` and usage errors start fast). */
import { existsSync, statSync } from 'node:fs';
import { appendFile, mkdtemp, readFile, writeFile, mkdir, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, basename } from 'node:path';
import { UsageError, type Options } from './args';
import type { CliIo } from './main';
import { Progress } from './progress';
import { nodeFiles, fromNodeFile } from '../formats/nodeSource';
import { openCheckpoint, type Checkpoint, type ModelFiles } from '../formats/checkpoint';
import { hubFiles } from '../hub/hub';
import { openSafetensors } from '../formats/safetensors';
import { parseAdapterConfig, ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE } from '../formats/peft';
import { serializeSafetensors } from '../formats/safetensors';
import { fromF32 } from '../formats/dtype';
import { loadTokenizer } from '../data/tokenize';
import { loadDataset } from '../data/dataset';
import { fromPath } from '../data/nodeSource';
import { createNodeGpu } from '../engine/gpu/node';
import type { Gpu } from '../engine/gpu/device';
import { LlamaGpu, createGpuAdapter } from '../engine/model/llama';
import { exportAdapter, importAdapter, mergeAdapter } from '../engine/model/adapterFiles';
import type { LoraModule, LoraSettings } from '../engine/model/lora';
import { generateTokens } from '../engine/model/generate';
import { DEFAULT_TRAIN_CONFIG, Trainer, evaluate, type TrainConfig } from '../engine/train/trainer';
import { checkMemory, formatBytes, logitsChunkTokens } from '../engine/train/memory';
import { deserializeCheckpoint, serializeCheckpoint } from '../engine/train/checkpoint';
import type { ScheduleKind } from '../engine/train/schedule';

export const CHECKPOINT_FILE = 'checkpoint.ascp';
export const METRICS_FILE = 'metrics.jsonl';

interface LoadedModel {
  files: ModelFiles;
  ckpt: Checkpoint;
  /** A local folder holding tokenizer.json and tokenizer_config.json. */
  tokenizerDir: string;
  name: string;
}

async function openModel(where: string): Promise<LoadedModel> {
  if (existsSync(where)) {
    if (!statSync(where).isDirectory()) throw new UsageError(`--model ${where} is a file; give the model's folder (config.json, model.safetensors, tokenizer.json)`);
    const files = nodeFiles(where);
    return { files, ckpt: await openCheckpoint(files), tokenizerDir: where, name: basename(where.replace(/\/+$/, '')) };
  }
  if (!/^[\w.-]+\/[\w.-]+$/.test(where)) throw new UsageError(`--model ${where}: no such folder (and not a hub id like "HuggingFaceTB/SmolLM2-135M")`);
  const files = hubFiles(where, { cache: null, token: process.env.HF_TOKEN });
  const ckpt = await openCheckpoint(files);
  const dir = await mkdtemp(join(tmpdir(), 'adapter-studio-tokenizer-'));
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) {
    const text = await files.text(f);
    if (text !== null) await writeFile(join(dir, f), text);
  }
  return { files, ckpt, tokenizerDir: dir, name: where };
}

async function gpuAndModel(m: LoadedModel, opts: Options, io: CliIo): Promise<{ gpu: Gpu; model: LlamaGpu }> {
  const gpu = await createNodeGpu();
  io.err.write(`GPU: ${gpu.adapter.name}${gpu.features.f16 ? ' (shader-f16)' : ''}\n`);
  const f16 = gpu.features.f16 && !opts.bool('f32-weights', false);
  const model = await LlamaGpu.load(gpu, m.ckpt.spec, (n) => m.ckpt.readTensorF32(n), { f16 });
  return { gpu, model };
}

async function readAdapterFolder(dir: string): Promise<{ 'adapter_model.safetensors': Uint8Array; 'adapter_config.json': string }> {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`adapter folder ${dir} does not exist`);
  const weights = join(dir, ADAPTER_WEIGHTS_FILE);
  const config = join(dir, ADAPTER_CONFIG_FILE);
  if (!existsSync(weights) || !existsSync(config)) throw new UsageError(`${dir} is not a PEFT adapter folder (needs ${ADAPTER_WEIGHTS_FILE} and ${ADAPTER_CONFIG_FILE})`);
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

async function train(opts: Options, io: CliIo): Promise<void> {
  const modelPath = opts.required('train', 'model');
  const dataPath = opts.required('train', 'data');
  const out = opts.required('train', 'out');
  if (!existsSync(dataPath)) throw new UsageError(`train --data ${dataPath}: no such file`);
  const m = await openModel(modelPath);
  const spec = m.ckpt.spec;
  const resumeState = opts.string('resume') ? deserializeCheckpoint(new Uint8Array(await readFile(opts.string('resume')!)), opts.string('resume')) : undefined;

  let lora: LoraSettings = {
    r: opts.number('rank', 8),
    alpha: opts.number('alpha', 16),
    dropout: opts.number('dropout', 0.05),
    targets: opts.list('targets', ['q_proj', 'v_proj']) as LoraModule[],
    layers: parseLayers(opts.string('layers'), spec.numLayers),
    useRslora: opts.bool('rslora', false),
  };
  let initParams: Float32Array | undefined;
  if (opts.string('init-adapter')) {
    const imported = await importAdapter(spec, await readAdapterFolder(opts.string('init-adapter')!));
    lora = imported.settings;
    initParams = imported.params;
    io.err.write(`starting from adapter ${opts.string('init-adapter')} (r ${lora.r}, alpha ${lora.alpha}, ${lora.targets.join(', ')})\n`);
  }
  const tok = await loadTokenizer(m.files);
  const seqLen = opts.number('max-length', 512);
  const seed = opts.number('seed', 42);
  const valFile = opts.string('validation');
  const data = await loadDataset(await fromPath(dataPath), tok, {
    maxLength: seqLen,
    seed,
    vocabSize: spec.vocabSize,
    validation: valFile ? { source: await fromPath(valFile) } : opts.has('val-fraction') ? { fraction: opts.number('val-fraction', 0) } : undefined,
  });
  io.err.write(`data: ${data.train.length} training examples, ${data.train.tokens} tokens${data.validation ? `, ${data.validation.length} validation examples` : ''}\n`);
  const padId = spec.padTokenId ?? spec.eosTokenIds[0] ?? 0;
  const config: TrainConfig = {
    ...DEFAULT_TRAIN_CONFIG,
    lora,
    lr: opts.number('lr', 1e-4),
    epochs: opts.number('epochs', 3),
    maxSteps: opts.number('steps') ?? null,
    batchSize: opts.number('batch', 16),
    gradAccum: opts.number('grad-accum', 1),
    seqLen,
    schedule: (opts.string('schedule') ?? 'linear') as ScheduleKind,
    warmupSteps: opts.number('warmup') ?? null,
    warmupRatio: opts.number('warmup-ratio', 0),
    weightDecay: opts.number('weight-decay', 0.01),
    maxGradNorm: opts.number('max-grad-norm', 1),
    seed,
    shuffle: opts.bool('shuffle', true),
    packing: opts.bool('packing', false),
    gradientCheckpointing: opts.bool('gradient-checkpointing', false),
    padId,
  };
  const gpu = await createNodeGpu();
  io.err.write(`GPU: ${gpu.adapter.name}${gpu.features.f16 ? ' (shader-f16)' : ''}\n`);
  const f16 = gpu.features.f16 && !opts.bool('f32-weights', false);
  const budget = opts.number('gpu-memory', 4) * 2 ** 30;
  const plan = checkMemory(spec, lora, {
    batchSize: config.batchSize, seqLen, gradientCheckpointing: config.gradientCheckpointing, weightsF16: f16, logitsChunkTokens: logitsChunkTokens(spec.vocabSize, config.batchSize * seqLen, gpu.limits.maxStorageBufferBindingSize), kvCacheTokens: 0,
  }, { budgetBytes: budget, maxBufferSize: gpu.limits.maxBufferSize });
  io.err.write(`memory plan: ${formatBytes(plan.total)} (weights ${formatBytes(plan.weights)}, adapter + Adam ${formatBytes(plan.adapter)}, activations ${formatBytes(plan.activations)})\n`);
  const model = await LlamaGpu.load(gpu, spec, (n) => m.ckpt.readTensorF32(n), { f16 });
  const trainer = new Trainer(gpu, model, data.train, config, { initParams, resume: resumeState });
  await mkdir(out, { recursive: true });
  const metricsPath = join(out, METRICS_FILE);
  if (!resumeState) await writeFile(metricsPath, '');
  const progress = new Progress(io.out, opts.number('log-every', 10));
  const saveEvery = opts.number('save-every', 50);
  const evalEvery = opts.number('eval-every');
  const saveCheckpoint = () => writeFile(join(out, CHECKPOINT_FILE), serializeCheckpoint(trainer.state({ model: m.name })));
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once('SIGINT', onSigint);
  try {
    for (let r = await trainer.trainStep(controller.signal); r; r = await trainer.trainStep(controller.signal)) {
      let valLoss: number | undefined;
      if (data.validation && ((evalEvery && r.step % evalEvery === 0) || r.step === r.totalSteps)) {
        valLoss = (await evaluate(gpu, model, data.validation, { batchSize: config.batchSize, seqLen, padId, adapter: trainer.adapter })).loss;
      }
      progress.update({ ...r, valLoss });
      const line = { step: r.step, epoch: r.epoch, loss: r.loss, lr: r.lr, grad_norm: r.gradNorm, tokens_per_second: r.tokensPerSecond, skipped: r.skipped, ...(valLoss !== undefined ? { val_loss: valLoss } : {}) };
      await appendFile(metricsPath, JSON.stringify(line) + '\n');
      if (r.step % saveEvery === 0) await saveCheckpoint();
    }
  } finally {
    process.off('SIGINT', onSigint);
    progress.done();
    await saveCheckpoint();
  }
  const files = exportAdapter(spec, trainer.layout, trainer.parameters(), modelPath);
  await writeFile(join(out, ADAPTER_WEIGHTS_FILE), files['adapter_model.safetensors']);
  await writeFile(join(out, ADAPTER_CONFIG_FILE), files['adapter_config.json']);
  io.err.write(`wrote ${join(out, ADAPTER_WEIGHTS_FILE)}, ${join(out, ADAPTER_CONFIG_FILE)}, ${metricsPath} and ${join(out, CHECKPOINT_FILE)}\n`);
  trainer.destroy();
  model.destroy();
}

async function evalCommand(opts: Options, io: CliIo): Promise<void> {
  const m = await openModel(opts.required('eval', 'model'));
  const dataPath = opts.required('eval', 'data');
  if (!existsSync(dataPath)) throw new UsageError(`eval --data ${dataPath}: no such file`);
  const adapterFiles = opts.string('adapter') ? await readAdapterFolder(opts.string('adapter')!) : null;
  const spec = m.ckpt.spec;
  const imported = adapterFiles ? await importAdapter(spec, adapterFiles) : null;
  const tok = await loadTokenizer(m.files);
  const seqLen = opts.number('max-length', 512);
  const data = await loadDataset(await fromPath(dataPath), tok, { maxLength: seqLen, vocabSize: spec.vocabSize });
  const { gpu, model } = await gpuAndModel(m, opts, io);
  const adapter = imported ? createGpuAdapter(gpu, imported.layout, imported.params) : null;
  const r = await evaluate(gpu, model, data.train, { batchSize: opts.number('batch', 8), seqLen, padId: spec.padTokenId ?? 0, adapter });
  io.out.write(JSON.stringify({ loss: r.loss, perplexity: r.perplexity, target_tokens: r.targetTokens, adapter: opts.string('adapter') ?? null }) + '\n');
  model.destroy();
}

async function generateCommand(opts: Options, io: CliIo): Promise<void> {
  const m = await openModel(opts.required('generate', 'model'));
  const prompt = opts.required('generate', 'prompt');
  const spec = m.ckpt.spec;
  const adapterFiles = opts.string('adapter') ? await readAdapterFolder(opts.string('adapter')!) : null;
  const imported = adapterFiles ? await importAdapter(spec, adapterFiles) : null;
  const tok = await loadTokenizer(m.files);
  let ids: number[];
  if (opts.bool('chat', false)) {
    ids = Array.from(tok.apply_chat_template([{ role: 'user', content: prompt }], { add_generation_prompt: true, tokenize: true, return_tensor: false }) as unknown as number[]);
  } else {
    ids = Array.from(tok.encode(prompt));
  }
  const { gpu, model } = await gpuAndModel(m, opts, io);
  const adapter = imported ? createGpuAdapter(gpu, imported.layout, imported.params) : null;
  const tokens = await generateTokens(model, adapter, ids, {
    maxNewTokens: opts.number('max-new-tokens', 128),
    temperature: opts.number('temperature', 0.7),
    topK: opts.number('top-k', 50),
    topP: opts.number('top-p', 0.95),
    seed: opts.number('seed', 0),
    eosTokenIds: spec.eosTokenIds,
  });
  io.out.write((tokens.length ? tok.decode(tokens, { skip_special_tokens: true }) : '') + '\n');
  io.err.write(`${tokens.length} new tokens${tokens.length < opts.number('max-new-tokens', 128) ? ' (stopped at EOS)' : ''}\n`);
  model.destroy();
}

async function inspect(path: string, opts: Options, io: CliIo): Promise<void> {
  if (!existsSync(path)) throw new UsageError(`inspect: ${path} does not exist`);
  const lines: string[] = [];
  if (!statSync(path).isDirectory()) {
    const st = await openSafetensors(await fromNodeFile(path));
    let params = 0;
    const dtypes = new Map<string, number>();
    for (const t of st.header.tensors) {
      const n = t.shape.reduce((a, b) => a * b, 1);
      params += n;
      dtypes.set(t.dtype, (dtypes.get(t.dtype) ?? 0) + 1);
    }
    lines.push(`${path}: safetensors, ${st.header.tensors.length} tensors, ${params.toLocaleString('en-US')} values`);
    lines.push(`dtypes: ${[...dtypes].map(([d, n]) => `${d} × ${n}`).join(', ')}`);
    if (st.metadata) lines.push(`metadata: ${JSON.stringify(st.metadata)}`);
    for (const t of st.header.tensors.slice(0, 12)) lines.push(`  ${t.name}  ${t.dtype} ${JSON.stringify(t.shape)}`);
    if (st.header.tensors.length > 12) lines.push(`  … ${st.header.tensors.length - 12} more`);
    lines.push('valid: yes');
  } else if (existsSync(join(path, ADAPTER_CONFIG_FILE))) {
    const files = await readAdapterFolder(path);
    const config = JSON.parse(files['adapter_config.json']) as Record<string, unknown>;
    const st = await openSafetensors(files['adapter_model.safetensors'], ADAPTER_WEIGHTS_FILE);
    lines.push(`${path}: PEFT LoRA adapter, r ${config.r}, alpha ${config.lora_alpha}, dropout ${config.lora_dropout}, targets ${JSON.stringify(config.target_modules)}, ${st.names.length} tensors`);
    lines.push(`base model: ${config.base_model_name_or_path ?? '(not recorded)'}`);
    const base = opts.string('model') ?? (typeof config.base_model_name_or_path === 'string' && existsSync(config.base_model_name_or_path) ? config.base_model_name_or_path : undefined);
    if (base) {
      const m = await openModel(base);
      parseAdapterConfig(files['adapter_config.json'], m.ckpt.spec);
      const imported = await importAdapter(m.ckpt.spec, files);
      let norm = 0;
      for (const x of imported.params) norm += x * x;
      lines.push(`valid against ${base}: yes (${imported.layout.slots.length} adapted projections, ${imported.layout.size.toLocaleString('en-US')} values, weight norm ${Math.sqrt(norm).toFixed(4)})`);
    } else {
      lines.push('valid: file structure only (pass --model to check key names and shapes against the base model)');
    }
  } else if (existsSync(join(path, 'config.json'))) {
    const m = await openModel(path);
    const s = m.ckpt.spec;
    lines.push(`${path}: ${s.architecture} model, hidden ${s.hiddenSize}, ${s.numLayers} layers, heads ${s.numHeads}/${s.numKvHeads}, head dim ${s.headDim}, intermediate ${s.intermediateSize}, vocab ${s.vocabSize}${s.tieWordEmbeddings ? ', tied embeddings' : ''}`);
    lines.push(`${m.ckpt.tensorNames.length} tensors; weights valid: yes`);
    const entries = await readdir(path);
    lines.push(`tokenizer: ${entries.includes('tokenizer.json') ? 'tokenizer.json present' : 'MISSING tokenizer.json'}`);
  } else {
    throw new UsageError(`inspect: ${path} is a folder with neither config.json (a model) nor ${ADAPTER_CONFIG_FILE} (an adapter)`);
  }
  io.out.write(lines.join('\n') + '\n');
}

async function merge(opts: Options, io: CliIo): Promise<void> {
  const modelPath = opts.required('merge', 'model');
  const m = await openModel(modelPath);
  const out = opts.required('merge', 'out');
  const imported = await importAdapter(m.ckpt.spec, await readAdapterFolder(opts.required('merge', 'adapter')));
  const weights = new Map<string, Float32Array>();
  for (const name of m.ckpt.tensorNames) weights.set(name, await m.ckpt.readTensorF32(name));
  const merged = mergeAdapter(imported.layout, imported.params, (n) => weights.get(n)!);
  const tensors = new Map<string, { dtype: 'F32'; shape: number[]; data: Uint8Array }>();
  for (const name of m.ckpt.tensorNames) {
    const values = merged.get(name) ?? weights.get(name)!;
    tensors.set(name, { dtype: 'F32', shape: m.ckpt.tensorInfo(name).shape, data: fromF32('F32', values) });
  }
  await mkdir(out, { recursive: true });
  await writeFile(join(out, 'model.safetensors'), serializeSafetensors(tensors, { format: 'pt' }));
  const config = { ...m.ckpt.config, torch_dtype: 'float32' };
  await writeFile(join(out, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  for (const f of ['generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) {
    const text = await m.files.text(f);
    if (text !== null) await writeFile(join(out, f), text);
  }
  io.err.write(`wrote merged model (${merged.size} projections merged) to ${out}\n`);
}

export async function runCommand(name: string, opts: Options, positionals: string[], io: CliIo): Promise<void> {
  switch (name) {
    case 'train': return train(opts, io);
    case 'eval': return evalCommand(opts, io);
    case 'generate': return generateCommand(opts, io);
    case 'inspect': return inspect(positionals[0], opts, io);
    case 'merge': return merge(opts, io);
    default: throw new UsageError(`unknown command "${name}"`);
  }
}
