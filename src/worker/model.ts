// The studio session's model inside the worker: the built-in demo (served next to the page), a hub
// repository (through src/hub: cached, gated repositories explained, per-file download progress),
// or a folder the user dropped. Weights go tensor by tensor to the GPU, with progress.
import { browserFiles, urlFiles, type ModelFiles } from '../formats/modelFolder';
import { eosTokenIds, padTokenId, type ModelSpec } from '../formats/hfConfig';
import type { EncoderConfig } from '../formats/encoderConfig';
import type { EncoderGpu } from '../engine/model/encoder';
import { encoderTargetNames } from '../engine/model/encoderSpec';
import { DEMO_MODEL_PATH } from '../formats/demoModel';
import { DEMO_ENCODER_PATH } from '../formats/demoEncoder';
import { loadTokenizer, type Tokenizer } from '../data/tokenize';
import type { Gpu } from '../engine/gpu/device';
import type { LlamaGpu } from '../engine/model/llama';
import { openModel as openEngineModel } from '../engine/model/load';
import type { WeightFormat } from '../engine/kernels/quant/layout';
import { hubFiles, type HubCache } from '../hub/hub';
import { BASE_WEIGHTS_LABEL, type ModelChoice } from '../settings/settings';
import type { ModelFolder } from '../formats/modelFolder';
import type { LoadProgress, ModelInfo } from './protocol';
import { throwIfAborted } from './cancel';

interface SessionBase {
  info: ModelInfo;
  /**
   * The text side — tokenizer, pad and EOS ids — loaded on first use, so that opening the studio
   * fetches no tokenizer code (transformers.js and the onnxruntime-web glue it bundles) until a
   * dataset is read, a run starts or the playground generates.
   */
  text(): Promise<TextSide>;
  /** Identifies the model in run checkpoints, so a resume refuses another model. */
  key: string;
  /** Where its files come from (an export carries the tokenizer, and the demo model, from here). */
  files: ModelFiles;
  /**
   * The same model opened again with its base stored in another precision, its weights streaming in
   * (the old one stays until the caller swaps them, once `loaded`).
   */
  reload(weights: WeightFormat, onProgress: (p: LoadProgress) => void, signal: AbortSignal): Promise<OpeningSession>;
}

export interface TextSide {
  tokenizer: Tokenizer;
  padId: number;
  /** End-of-sequence ids (a decoder's; an encoder has none). */
  eosIds: number[];
}

/** A Llama-family decoder: generation and causal-LM training. */
export interface DecoderSession extends SessionBase {
  family: 'llama';
  spec: ModelSpec;
  gpuModel: LlamaGpu;
}

/** A BERT-family encoder: classification with a trained head; `config` is its config.json (for the adapter's labels file). */
export interface EncoderSession extends SessionBase {
  family: 'encoder';
  spec: EncoderConfig;
  gpuModel: EncoderGpu;
  config: Record<string, unknown>;
}

export type SessionModel = DecoderSession | EncoderSession;

export class ModelLoadError extends Error {
  constructor(readonly model: string, detail: string) {
    super(`ModelLoadError: ${model}: ${detail}`);
    this.name = 'ModelLoadError';
  }
}

export interface OpenSessionModelArgs {
  gpu: Gpu;
  choice: ModelChoice;
  /** The page's URL: the demo model is served at `<page>/models/demo/`. */
  pageUrl: string;
  /** Files of a dropped folder (choice.kind === 'local'). */
  files?: File[];
  /** Hub access (choice.kind === 'hub'): another endpoint laid out like the hub, an access token, a cache. */
  hub?: HubAccess;
  onProgress: (p: LoadProgress) => void;
  signal: AbortSignal;
  /** The base precision, or a choice made from the opened folder (the planner's); default f32. */
  weights?: WeightFormat | ((folder: ModelFolder) => WeightFormat | undefined);
}

export interface HubAccess {
  /** Defaults to https://huggingface.co; a server with `<endpoint>/<owner>/<name>/resolve/main/<file>`. */
  endpoint?: string;
  /** For gated or private repositories. */
  token?: string;
  /** Defaults to the browser's Cache API (none in Node); null disables caching. */
  cache?: HubCache | null;
}

/**
 * A hub repository as ModelFiles, its per-file download progress mapped onto LoadProgress under the
 * phase `phase()` returns. Weight bytes are counted across files from the moment the weights phase
 * starts, against `weightsTotal()` (the tensors' bytes), so the bar matches the per-tensor reports.
 */
export function hubModelFiles(
  repo: string,
  access: HubAccess,
  signal: AbortSignal,
  onProgress: (p: LoadProgress) => void,
  phase: () => LoadProgress['phase'],
  weightsTotal: () => number,
): ModelFiles {
  const seen = new Map<string, number>();
  let weightBytes = 0;
  return hubFiles(repo, {
    endpoint: access.endpoint,
    token: access.token,
    cache: access.cache,
    signal,
    onProgress: (p) => {
      const delta = Math.max(0, p.loaded - (seen.get(p.file) ?? 0));
      seen.set(p.file, Math.max(p.loaded, seen.get(p.file) ?? 0));
      const now = phase();
      // While the weights stream in, a tokenizer read beside them (a compile's dataset) is not weights.
      if (now === 'weights' && !p.file.endsWith('.safetensors')) return;
      if (now === 'weights') {
        weightBytes += delta;
        const total = weightsTotal();
        onProgress({ phase: now, file: p.file, loaded: Math.min(weightBytes, total), total });
      } else {
        onProgress({ phase: now, file: p.file, loaded: p.loaded, total: p.total });
      }
    },
  });
}

/** A session model whose buffers exist and whose weights are still streaming in (see startSessionModel). */
export interface OpeningSession {
  model: SessionModel;
  /**
   * Resolves once every weight is on the GPU and the tokenizer's files are found (progress says
   * 'ready'); rejects with a ModelLoadError, the model destroyed. Until then a run or a compile may
   * plan and compile on `model` (the engine's `loading`), but nothing may run it.
   */
  loaded: Promise<void>;
}

/** Opens a model and waits for its weights (startSessionModel, then its `loaded`). */
export async function openSessionModel(args: OpenSessionModelArgs): Promise<SessionModel> {
  const opening = await startSessionModel(args);
  await opening.loaded;
  return opening.model;
}

/**
 * Opens a model through the engine's openModel: returns once its folder is read and its buffers are
 * allocated, the weights streaming in behind (`loaded`), so that a run can compile its pipelines
 * meanwhile. Progress phases as before: config, weights, tokenizer, ready.
 */
export async function startSessionModel(args: OpenSessionModelArgs): Promise<OpeningSession> {
  const { gpu, choice, pageUrl, files, hub, onProgress, signal } = args;
  let modelFiles: ModelFiles;
  let name: string;
  let phase: LoadProgress['phase'] = 'config';
  let total = 0;
  if (choice.kind === 'demo') {
    const base = new URL(choice.variant === 'bert' ? DEMO_ENCODER_PATH : DEMO_MODEL_PATH, pageUrl).href;
    modelFiles = urlFiles(base, { signal });
    name = choice.variant === 'bert' ? 'demo-bert' : 'demo';
  } else if (choice.kind === 'hub') {
    modelFiles = hubModelFiles(choice.id, hub ?? {}, signal, onProgress, () => phase, () => total);
    name = choice.id;
  } else {
    if (!files?.length) throw new ModelLoadError(choice.name, 'no files were given for the local folder');
    modelFiles = browserFiles(files, choice.name);
    name = choice.name;
  }
  onProgress({ phase: 'config', file: 'config.json', loaded: 0, total: 1 });
  const opened = await openEngineModel(gpu, modelFiles, {
    signal,
    weights: args.weights,
    onProgress: (done, all, tensor) => {
      phase = 'weights';
      total = all;
      onProgress({ phase: 'weights', file: tensor, loaded: done, total: all });
    },
  }).catch((error) => {
    throw new ModelLoadError(name, (error as Error).message);
  });
  total = opened.bytes;
  const parameters = opened.parameters;
  const loaded = (async () => {
    await opened.loaded.catch((error) => {
      throw new ModelLoadError(name, (error as Error).message);
    });
    try {
      throwIfAborted(signal, 'loading the model');
      // The tokenizer's files must be there (checked now); its code loads on first use.
      phase = 'tokenizer';
      onProgress({ phase: 'tokenizer', file: 'tokenizer.json', loaded: 0, total: 1 });
      if ((await modelFiles.text('tokenizer.json')) === null) throw new ModelLoadError(name, 'tokenizer.json not found next to config.json: the model cannot tokenize text without it');
    } catch (error) {
      opened.model.destroy();
      throw error;
    }
    phase = 'ready';
    onProgress({ phase: 'ready', file: '', loaded: total, total });
  })();
  // A caller that gives up on the model before it is loaded must not leave a rejection unheard.
  loaded.catch(() => {});
  const format: WeightFormat = opened.family === 'llama' ? opened.model.format : opened.model.f16 ? 'f16' : 'f32';
  const backend = `WebGPU (${gpu.adapter.name}, ${BASE_WEIGHTS_LABEL[format]} weights)`;
  const reload = (weights: WeightFormat, progress: (p: LoadProgress) => void, reloadSignal: AbortSignal) =>
    startSessionModel({ ...args, weights, onProgress: progress, signal: reloadSignal });
  const key = `${choice.kind}:${name}:${parameters}`;
  let textSide: Promise<TextSide> | null = null;
  const lazyText = (side: (tokenizer: Tokenizer) => TextSide) => () => {
    textSide ??= loadTokenizer(modelFiles).then(side, (error) => {
      textSide = null;
      throw new ModelLoadError(name, (error as Error).message);
    });
    return textSide;
  };
  if (opened.family === 'encoder') {
    const spec = opened.folder.spec;
    const info: ModelInfo = {
      name, source: choice.kind, architecture: spec.architecture, layers: spec.numLayers, hidden: spec.hiddenSize, heads: spec.numHeads, kvHeads: spec.numHeads,
      vocab: spec.vocabSize, parameters, bytes: total, backend, family: spec.family, weights: format,
      targetModules: encoderTargetNames(spec.family), labels: opened.model.task.labels,
    };
    return { model: { family: 'encoder', info, spec, gpuModel: opened.model, text: lazyText((tokenizer) => ({ tokenizer, padId: spec.padTokenId, eosIds: [] })), key, files: modelFiles, config: opened.folder.config, reload }, loaded };
  }
  const spec = opened.folder.spec;
  const text = lazyText((tokenizer) => ({ tokenizer, eosIds: eosTokenIds(spec, tokenizer.eos_token_id), padId: padTokenId(spec, tokenizer.pad_token_id) }));
  const info: ModelInfo = {
    name,
    source: choice.kind,
    architecture: spec.architecture,
    layers: spec.numLayers,
    hidden: spec.hiddenSize,
    heads: spec.numHeads,
    kvHeads: spec.numKvHeads,
    vocab: spec.vocabSize,
    parameters,
    bytes: total,
    backend,
    family: 'llama',
    weights: opened.model.format,
  };
  return { model: { family: 'llama', info, spec, gpuModel: opened.model, text, key, files: modelFiles, reload }, loaded };
}
