// The API object the worker exposes. Kept out of workers/ so its type can be imported by the UI
// (`import type { WorkerApi }`) without pulling in the worker's code.
//
// Long calls take a cancel token (a string the UI made): `abort(token)` cancels them. Progress
// comes back through callbacks the UI passes wrapped in comlink.proxy. Nothing here touches the DOM.
import { requestGpu, type Gpu, type GpuFeatures, type GpuLimits, type AdapterDescription } from '../engine/gpu/device';
import { GpuUnavailableError } from '../engine/gpu/errors';
import { createBuffer, readF32, uploadBuffer } from '../engine/gpu/buffers';
import { Recorder } from '../engine/gpu/recorder';
import { matmul } from '../engine/kernels/matmul/matmul';
import { uploadAdapter, type GpuAdapter } from '../engine/model/model';
import type { AdapterLayout } from '../engine/model/lora';
import { exportAdapter, importAdapter, type AdapterModel } from '../engine/model/adapterFiles';
import type { PlanLimits, RunPlan } from '../engine/train/memory';
import { familyFromConfig, type PlanDevice, type WeightFormat } from '../engine/model/families';
import type { ModelFolder } from '../formats/modelFolder';
import { deserializeCheckpoint } from '../formats/checkpoint';
import { hubFiles } from '../hub/hub';
import type { TrainableModel } from '../engine/model/model';
import { encoderTaskFor, outputProbabilities, type EncoderTask } from '../engine/model/encoderSpec';
import { encodeClassification } from '../data/classify';
import { prepareTokenizer } from '../data/tokenize';
import { RunControl, compileRun, planTraining, runTraining, type RunData } from '../engine/train/run';
import type { ColumnMapping } from '../data/schema';
import { DEFAULT_SETTINGS, baseModelName, canonicalJson, trainingKey, type ModelChoice, type RunSettings } from '../settings/settings';
import { readPeftAdapter } from '../formats/peft';
import { readAdapterZip, validateAdapterFiles, type PeftConfigSummary, type ValidatedAdapter } from '../storage/adapterZip';
import { abortToken, CancelledError, releaseToken, signalFor } from './cancel';
import { startSessionModel, type DecoderSession, type SessionModel } from './model';
import { CompileSlot, type CompileProgress } from './compileSlot';
import { readDataset, type PreparedDataset } from './dataset';
import { decodeAnswer, generate, promptAndReference } from './generate';
import type { ExportProgress } from '../formats/export/types';
import type { ModelExportFormat, OnnxVariant } from '../formats/export/kinds';
import type { LoraAdapter } from '../formats/export/merge';
import type { OnnxAnswer } from './onnxPlayground';
import type { CompileResult, DatasetInfo, DatasetOptions, GenerateOptions, HubModelSummary, LoadProgress, ModelInfo, PlanInfo, TrainEvent, TrainRequest, TrainResult, ValidationExample, ClassifyResult } from './protocol';

export type GpuStatus =
  | { ok: true; adapter: AdapterDescription; features: GpuFeatures; limits: GpuLimits }
  | { ok: false; reason: string; hint: string };

export class WorkerStateError extends Error {
  constructor(message: string) {
    super(`WorkerStateError: ${message}`);
    this.name = 'WorkerStateError';
  }
}

let gpuPromise: Promise<Gpu> | null = null;

function getGpu(): Promise<Gpu> {
  gpuPromise ??= requestGpu((self.navigator as Navigator & { gpu?: GPU }).gpu).then((gpu) => {
    // A lost device cannot be used again: the next call asks for a new one (and the model reloads).
    gpu.onLost(() => {
      gpuPromise = null;
      session.model = null;
      session.tuned = null;
    });
    return gpu;
  });
  return gpuPromise;
}

interface Session {
  model: SessionModel | null;
  dataset: PreparedDataset | null;
  /** The last dropped file and how it was read (re-read when max length or the model changes). */
  datasetFile: { file: Blob; name: string; mapping: ColumnMapping | null; maxLength: number; seed: number; validationFraction: number; trainOn: string; options: DatasetOptions; modelKey: string | null } | null;
  run: RunControl | null;
  /** The adapter the playground's "tuned" side uses (an encoder's: with its head's task). */
  tuned: { adapter: GpuAdapter & { destroy(): void }; layout: AdapterLayout; params: Float32Array; label: string; id: number; task?: EncoderTask } | null;
  /** The settings the last `train` call received, as it received them (browser tests compare them with the fields). */
  lastTrainSettings: RunSettings | null;
  /** Counts the dataset sources dropped (a file, its mapping, how bad rows and validation are read): part of a compile's key. */
  datasetVersion: number;
}

const session: Session = { model: null, dataset: null, datasetFile: null, run: null, tuned: null, lastTrainSettings: null, datasetVersion: 0 };

/** Models whose weights are still streaming in for loadModel (a compile may run on one until it is swapped in or dropped). */
const openingModels = new Set<SessionModel>();

/** Whether `model` is still the session's, or one being loaded to become it. */
function alive(model: SessionModel): boolean {
  return session.model === model || openingModels.has(model);
}

/** The background compile (the engine's compileRun), one at a time; a run waits for it before it allocates its own workspace. */
const compiles = new CompileSlot<CompileResult>();

/** The background compiles started, newest last (a test hook reads it): who asked, on which base, and how each ended. */
const compileLog: { by: 'loadModel' | 'compile'; model: string; weights: string; whileLoading: boolean; outcome: string | null }[] = [];

const modelIds = new WeakMap<SessionModel, number>();
let modelCount = 0;

/** What a compile is for: this model object (a reload in another precision is another), the dataset source and the run's settings. */
function compileKey(model: SessionModel, settings: RunSettings): string {
  let id = modelIds.get(model);
  if (id === undefined) modelIds.set(model, (id = ++modelCount));
  return `${id}|${session.datasetVersion}|${trainingKey(settings)}`;
}

/** Why a background compile did not start: a run began (it compiles what it needs). */
class RunInProgressError extends WorkerStateError {
  constructor() {
    super('a training run is in progress; it compiles its own kernels');
  }
}

/** A background compile does not start beside a run. */
function refuseDuringRun(): void {
  if (session.run) throw new RunInProgressError();
}

function requireModel(): SessionModel {
  if (!session.model) throw new WorkerStateError('no model is loaded (load one on the Model screen)');
  return session.model;
}

let tunedIds = 0;

async function setTuned(gpu: Gpu, layout: AdapterLayout, params: Float32Array, label: string, task?: EncoderTask): Promise<void> {
  session.tuned?.adapter.destroy();
  session.tuned = { adapter: uploadAdapter(gpu, layout, params), layout, params, label, id: ++tunedIds, task };
}

/** What adapters of the session's model are read against (an encoder with its head's current task). */
/** The loaded model when it is a decoder (generation, its exports); an encoder is refused saying what `what` needs. */
function requireDecoderSession(what: string): DecoderSession {
  const model = requireModel();
  if (model.family !== 'llama') throw new WorkerStateError(`${what} needs a Llama-family decoder; ${model.info.name} is a ${model.spec.family} encoder (sequence classification)`);
  return model;
}

function adapterModel(model: SessionModel): AdapterModel {
  return model.family === 'llama' ? model.spec : { encoder: model.spec, task: model.gpuModel.task, config: model.config };
}

/** An encoder's head set for a task (a new head is drawn from the run's seed when the task changes). */
async function ensureTask(model: SessionModel, task: EncoderTask, seed: number): Promise<void> {
  if (model.family !== 'encoder') return;
  const now = model.gpuModel.task;
  if (now.problemType === task.problemType && now.labels.join('\n') === task.labels.join('\n') && headSeeds.get(model.gpuModel) === seed) return;
  await model.gpuModel.setTask(task, { seed });
  headSeeds.set(model.gpuModel, seed);
}
const headSeeds = new WeakMap<object, number>();

/**
 * What the run may use: WebGPU reports no memory size, so half the device memory the browser
 * reports (navigator.deviceMemory, capped at 8 GiB by browsers), within 4 of the largest buffers.
 */
function memoryLimits(gpu: Gpu): PlanLimits {
  const deviceMemoryGiB = (self.navigator as Navigator & { deviceMemory?: number }).deviceMemory;
  return { budgetBytes: Math.min(gpu.limits.maxBufferSize * 4, (deviceMemoryGiB ?? 8) * 2 ** 30 * 0.5), maxBufferSize: gpu.limits.maxBufferSize };
}

/** What the planner needs of this device. */
function planDevice(gpu: Gpu): PlanDevice {
  return { f16: gpu.features.f16, maxStorageBufferBindingSize: gpu.limits.maxStorageBufferBindingSize, maxBufferSize: gpu.limits.maxBufferSize };
}

/** The data layer's skip policy and validation split for a read (worker/dataset.ts passes them on to it). */
function datasetPolicy(settings: RunSettings, options: DatasetOptions) {
  return {
    trainOn: settings.data.trainOn,
    onBadRows: options.onBadRows ?? settings.data.onBadRows,
    validationFraction: options.validationFile ? 0 : settings.data.validationFraction,
    validationFile: options.validationFile ?? null,
  };
}

/**
 * The dataset as `model` reads it under these settings: the session's when it already is, else the
 * dropped file read again — kept as the session's when `model` is the session's model (a model still
 * loading, for a compile, gets its own copy).
 */
async function datasetFor(model: SessionModel, settings: RunSettings, signal: AbortSignal): Promise<PreparedDataset> {
  const f = session.datasetFile;
  if (!f) throw new WorkerStateError('no dataset is loaded (drop one on the Dataset screen)');
  const same = f.maxLength === settings.train.maxLength && f.seed === settings.train.seed && f.validationFraction === settings.data.validationFraction
    && f.trainOn === settings.data.trainOn && f.modelKey === model.key;
  if (session.dataset && same) return session.dataset;
  const dataset = await readDataset({ file: f.file, name: f.name, tokenizer: (await model.text()).tokenizer, mapping: f.mapping, maxLength: settings.train.maxLength, seed: settings.train.seed, vocabSize: model.spec.vocabSize, signal, ...datasetPolicy(settings, f.options), objective: model.family === 'encoder' ? 'classification' : 'causal-lm', task: settings.data.task });
  if (model === session.model && session.datasetFile === f) {
    session.dataset = dataset;
    session.datasetFile = { ...f, maxLength: settings.train.maxLength, seed: settings.train.seed, validationFraction: settings.data.validationFraction, trainOn: settings.data.trainOn, modelKey: model.key };
  }
  return dataset;
}

/**
 * Whether two blobs are the same file as far as can be told: each call brings a structured clone, so
 * not by identity but by size, type and, for a File, name and modification time.
 */
function sameBlob(a: Blob | undefined, b: Blob | undefined): boolean {
  if (!a || !b) return a === b;
  const [fa, fb] = [a as Partial<File>, b as Partial<File>];
  return a.size === b.size && a.type === b.type && fa.name === fb.name && fa.lastModified === fb.lastModified;
}

/** Whether a dataset read names the same source as the last (the same file, mapping and options): a compile's key keeps then. */
function sameSource(f: Session['datasetFile'], file: Blob, name: string, mapping: ColumnMapping | null, options: DatasetOptions): boolean {
  return !!f && sameBlob(f.file, file) && f.name === name && canonicalJson(f.mapping) === canonicalJson(mapping)
    && (f.options.onBadRows ?? 'stop') === (options.onBadRows ?? 'stop') && sameBlob(f.options.validationFile?.file, options.validationFile?.file);
}

/** A run's rows: an encoder's labelled texts or a decoder's token rows. */
function runData(data: PreparedDataset): RunData<unknown> {
  const longestRow = data.info.stats?.maxTokens ?? 0;
  const cls = data.classification;
  return cls ? { train: cls.train, validation: cls.validation, longestRow } : { train: data.train!, validation: data.validation, longestRow };
}

/** Refuses data the model cannot train on; sets an encoder's head for the data's task and its dropout (and returns the task). */
async function readyForRun(model: SessionModel, data: PreparedDataset, settings: RunSettings): Promise<EncoderTask | null> {
  const cls = data.classification;
  if (model.family === 'encoder' && !cls) throw new WorkerStateError('an encoder trains on labelled texts: the dataset has no classification rows (map a text and a label column)');
  if (model.family === 'llama' && !data.train) throw new WorkerStateError('the dataset has no training rows (fix its errors first)');
  if (model.family !== 'encoder') return null;
  const task = encoderTaskFor(cls!.labels, model.spec);
  await ensureTask(model, task, settings.train.seed);
  model.gpuModel.hiddenDropout = settings.train.encoderDropout;
  return task;
}

/**
 * A background compile: the kernels a run of `settings` on `model` and the session's dataset will
 * use, compiled by the engine's compileRun (the run's own plan and trainer, freed again) while
 * `loading` — the model's weights still streaming in — goes on. A run whose plan reloads the model
 * in another precision compiles other kernels: that compile is skipped.
 */
async function compileFor(by: 'loadModel' | 'compile', model: SessionModel, settings: RunSettings, loading: Promise<unknown> | undefined, onProgress: CompileProgress, signal = new AbortController().signal): Promise<CompileResult> {
  const entry = { by, model: model.info.name, weights: model.info.weights, whileLoading: loading !== undefined, outcome: null as string | null };
  compileLog.push(entry);
  if (compileLog.length > 20) compileLog.shift();
  try {
    const result = await compileSteps(model, settings, loading, onProgress, signal);
    entry.outcome = result.status === 'ready' ? `ready ${result.pipelines}` : `skipped: ${result.reason}`;
    return result;
  } catch (error) {
    entry.outcome = `failed: ${(error as Error).message}`;
    throw error;
  }
}

async function compileSteps(model: SessionModel, settings: RunSettings, loading: Promise<unknown> | undefined, onProgress: CompileProgress, signal: AbortSignal): Promise<CompileResult> {
  const gpu = await getGpu();
  const data = await datasetFor(model, settings, signal);
  await readyForRun(model, data, settings);
  const limits = memoryLimits(gpu);
  if (model.family === 'llama') {
    const plan = planTraining(model.gpuModel, settings, { longestRow: data.info.stats?.maxTokens ?? 0 }, limits);
    if (plan.fits && plan.weights !== model.gpuModel.format) return { status: 'skipped', reason: `the run reloads the model with ${plan.weights} weights first, and compiles their kernels then` };
  }
  const padId = (await model.text()).padId;
  // Nothing of the model is touched once compileRun has recorded its step (synchronously, here): a
  // model replaced or dropped before that gets no compile.
  if (!alive(model)) throw new CancelledError('compiling the kernels of a model that was replaced');
  signal.throwIfAborted();
  const { pipelines } = await compileRun<unknown, never>({ model: model.gpuModel as unknown as TrainableModel<unknown, never>, data: runData(data), settings, limits, padId, loading, signal }, onProgress);
  return { status: 'ready', pipelines };
}

export const workerApi = {
  /** Gets a WebGPU device inside the worker and describes it, or says why there is none. */
  async gpuStatus(): Promise<GpuStatus> {
    try {
      const gpu = await getGpu();
      return { ok: true, adapter: gpu.adapter, features: gpu.features, limits: gpu.limits };
    } catch (error) {
      gpuPromise = null;
      const hint = error instanceof GpuUnavailableError ? error.hint : '';
      return { ok: false, reason: (error as Error).message, hint };
    }
  },

  /** Runs one matmul C = op(A)·op(B) on the worker's GPU (a self-check of the whole path). */
  async matmul(a: Float32Array, b: Float32Array, M: number, N: number, K: number, transB = false): Promise<Float32Array> {
    const gpu = await getGpu();
    const ga = uploadBuffer(gpu, 'self-check A', a);
    const gb = uploadBuffer(gpu, 'self-check B', b);
    const gc = createBuffer(gpu, 'self-check C', M * N * 4);
    const rec = new Recorder(gpu, 'self-check');
    matmul(rec, { a: ga, b: gb, c: gc, M, N, K, transB });
    await rec.done();
    const out = await readF32(gpu, gc, M * N);
    ga.destroy();
    gb.destroy();
    gc.destroy();
    return out;
  },

  /** Cancels the long call that was given `token`. */
  abort(token: string): void {
    abortToken(token);
  },

  /**
   * Loads a base model onto the GPU, reporting download progress. The new model loads beside the
   * current one, which stays in use (planning, generation) until the new one is ready; only then
   * are they swapped, so a failed or cancelled load leaves the working model as it was.
   * `access.token` is a Hugging Face token for gated repositories (kept for this call only).
   * `settings` decide the base precision: theirs, or with auto the planner's choice for them (and the
   * loaded dataset's rows) on this device; a run whose plan differs reloads it (see train).
   * With a dataset dropped, the model's kernels for a run of `settings` start compiling (a background
   * compile, see `compile`) while its weights stream in.
   */
  async loadModel(choice: ModelChoice, pageUrl: string, files: File[] | undefined, onProgress: (p: LoadProgress) => void, token?: string, access?: { token?: string }, settings?: RunSettings): Promise<ModelInfo> {
    const signal = signalFor(token);
    try {
      if (session.run) throw new WorkerStateError('a training run is in progress; stop it before changing the model');
      const gpu = await getGpu();
      const longestRow = session.dataset?.info.stats?.maxTokens ?? 0;
      // An encoder's base is f32 or f16 (auto: f16 where the GPU has shader-f16); a decoder's is the plan's.
      const weights = (folder: ModelFolder): WeightFormat | undefined => {
        const setting = (settings ?? DEFAULT_SETTINGS).train.weights;
        if (folder.family === 'encoder') return setting === 'f32' || setting === 'f16' ? setting : undefined;
        return planTraining(familyFromConfig(folder.config).onDevice(planDevice(gpu)), settings ?? DEFAULT_SETTINGS, { longestRow }, memoryLimits(gpu)).weights;
      };
      const opening = await startSessionModel({ gpu, choice, pageUrl, files, onProgress, signal, weights, hub: access?.token ? { token: access.token } : undefined });
      const pending = opening.model;
      openingModels.add(pending);
      try {
        // Either family: an encoder's head tensors are read before open returns, so its head is set
        // for the data's task (readyForRun) while the rest of its weights stream in.
        if (settings && session.datasetFile && !session.run) {
          const compiling = compiles.run(compileKey(pending, settings), (report, s) => compileFor('loadModel', pending, settings, opening.loaded, report, s), { signal, mayStart: refuseDuringRun });
          compiling.catch(() => {}); // its outcome is the `compile` call's that joins it, or nobody's
        }
        await opening.loaded;
        if (session.run || signal.aborted) {
          pending.gpuModel.destroy();
          throw signal.aborted ? new WorkerStateError('loading the model was cancelled') : new WorkerStateError('a training run started while the model loaded; the run keeps the current model');
        }
        const model = pending;
        const sameModel = session.model?.key === model.key; // the same files in another precision
        session.model?.gpuModel.destroy();
        session.tuned?.adapter.destroy();
        session.tuned = null;
        session.model = model;
        if (!sameModel) session.dataset = null; // tokenized with the previous tokenizer
        return model.info;
      } finally {
        openingModels.delete(pending);
      }
    } finally {
      releaseToken(token);
    }
  },

  /**
   * Reads a dataset file: preview, schema, errors with line numbers and (with a model) token statistics.
   * `options`: what to do with bad rows ('skip' continues with the good ones, listed in the report)
   * and a separate validation file; with the settings' validation fraction they are handed to the
   * data layer's preparation (onBadRows, validationFraction, validationFile).
   */
  async readDataset(file: Blob, name: string, mapping: ColumnMapping | null, settings: RunSettings, token?: string, options: DatasetOptions = {}): Promise<DatasetInfo> {
    const signal = signalFor(token);
    try {
      const model = session.model;
      const args = { file, name, tokenizer: model ? (await model.text()).tokenizer : null, mapping, maxLength: settings.train.maxLength, seed: settings.train.seed, vocabSize: model?.spec.vocabSize, signal, objective: model?.family === 'encoder' ? ('classification' as const) : ('causal-lm' as const), task: settings.data.task };
      const prepared = await readDataset({ ...args, ...datasetPolicy(settings, options) });
      session.dataset = prepared.train || prepared.classification ? prepared : null;
      if (!sameSource(session.datasetFile, file, name, mapping ?? prepared.info.mapping, options)) session.datasetVersion++;
      session.datasetFile = { file, name, mapping: mapping ?? prepared.info.mapping, maxLength: settings.train.maxLength, seed: settings.train.seed, validationFraction: settings.data.validationFraction, trainOn: settings.data.trainOn, options, modelKey: model?.key ?? null };
      return prepared.info;
    } finally {
      releaseToken(token);
    }
  },

  /** The run's plan on this device (micro-batch, checkpointing, memory) and whether it fits, with the fix when it does not. */
  async plan(settings: RunSettings): Promise<PlanInfo | null> {
    const model = session.model;
    if (!model) return null;
    const gpu = await getGpu();
    const limits = memoryLimits(gpu);
    const longestRow = session.dataset?.info.stats?.maxTokens ?? 0;
    const cls = session.dataset?.classification;
    if (model.family === 'encoder' && cls) await ensureTask(model, encoderTaskFor(cls.labels, model.spec), settings.train.seed);
    const plan = planTraining(model.gpuModel as unknown as TrainableModel<unknown, never>, settings, { longestRow }, limits);
    return { ...plan, budget: limits.budgetBytes, maxBufferSize: limits.maxBufferSize, longestRow };
  },

  /**
   * Compiles the kernels of a run of these settings on the loaded model and dataset ahead of Start
   * (the engine's compileRun), with progress; a later `train` of the same settings then finds them
   * compiled. One compile at a time: a call for other settings waits for the one in flight (and hears
   * its progress), a call for the same joins it. `abort(token)` lets the call go at once, but the
   * compile in flight runs on to its end (the engine cannot stop it midway) and whatever comes next
   * waits for it. Refused while a run is in progress (the run compiles what it needs); throws the
   * plan's or the data's error where a run would.
   */
  async compile(settings: RunSettings, onProgress: CompileProgress, token?: string): Promise<CompileResult> {
    const signal = signalFor(token);
    try {
      const model = requireModel();
      if (!session.datasetFile) throw new WorkerStateError('no dataset is loaded (drop one on the Dataset screen)');
      return await compiles.run(compileKey(model, settings), (report, s) => compileFor('compile', model, settings, undefined, report, s), {
        onProgress,
        signal,
        mayStart: () => {
          refuseDuringRun();
          if (session.model !== model) throw new WorkerStateError('the model changed before its kernels could compile');
        },
      });
    } catch (error) {
      if (error instanceof RunInProgressError) return { status: 'skipped', reason: error.message.replace(/^WorkerStateError: /, '') };
      throw error;
    } finally {
      releaseToken(token);
    }
  },

  /**
   * What a hub model named by a share link would be, without downloading it: config.json (a few KB)
   * and the weights' size (the shard index, or one ranged read of the safetensors header), with the
   * memory plan of these settings. Nothing else is fetched until the user presses Load.
   */
  async describeHubModel(id: string, settings: RunSettings, access?: { token?: string }): Promise<HubModelSummary> {
    const files = hubFiles(id, { token: access?.token });
    const configText = await files.text('config.json');
    if (configText === null) throw new WorkerStateError(`${id} has no config.json: it is not a model repository the studio can load`);
    const family = familyFromConfig(configText, `${id}/config.json`);
    let bytes: number | null = null;
    const index = await files.text('model.safetensors.index.json');
    if (index !== null) {
      const total = (JSON.parse(index) as { metadata?: { total_size?: unknown } }).metadata?.total_size;
      bytes = typeof total === 'number' ? total : null;
    } else {
      bytes = (await files.source('model.safetensors'))?.size ?? null;
    }
    const gpu = await getGpu();
    const limits = memoryLimits(gpu);
    const plan = planTraining(family.onDevice(planDevice(gpu)), settings, { longestRow: 0 }, limits);
    return {
      id, architecture: family.architecture, layers: family.layers, parameters: family.parameters, bytes,
      plan: { ...plan, budget: limits.budgetBytes, maxBufferSize: limits.maxBufferSize, longestRow: 0 },
    };
  },

  /**
   * Trains an adapter through the engine's run driver; events stream through `onEvent`; `control()`
   * pauses, resumes or stops it; `abort(token)` cancels it. A background compile in flight is waited
   * for first (its progress reported as the run's 'compile' events): its kernels are mostly this
   * run's, and it holds a workspace of its own until it ends.
   */
  async train(request: TrainRequest, onEvent: (event: TrainEvent) => void | Promise<void>, token?: string): Promise<TrainResult> {
    const signal = signalFor(token);
    if (session.run) throw new WorkerStateError('a training run is already in progress');
    session.lastTrainSettings = structuredClone(request.settings);
    const control = new RunControl();
    session.run = control;
    let lost: Error | null = null;
    let unsubscribe = () => {};
    // A reload in the plan's precision streams its weights while the run compiles; a run that fails meanwhile stops it.
    const reload = new AbortController();
    const stopReload = () => reload.abort(signal.reason);
    signal.addEventListener('abort', stopReload);
    let loading: Promise<void> | undefined;
    try {
      const gpu = await getGpu();
      unsubscribe = gpu.onLost((error) => (lost = error));
      await compiles.settle((done, total) => void onEvent({ type: 'compile', done, total }), signal);
      let model = requireModel();
      const data = await datasetFor(model, request.settings, signal);
      const task = await readyForRun(model, data, request.settings);
      if (model.family === 'llama') {
        // The base precision of this run: its checkpoint's when resuming, else the plan's; reload the model when it differs.
        const weights = request.resumeFrom
          ? ((deserializeCheckpoint(request.resumeFrom).run as { plan?: Partial<RunPlan> }).plan?.weights ?? model.gpuModel.format)
          : planTraining(model.gpuModel, request.settings, { longestRow: data.info.stats?.maxTokens ?? 0 }, memoryLimits(gpu)).weights;
        if (weights !== model.gpuModel.format) {
          const previous = model;
          const opening = await model.reload(weights, (p) => {
            if (p.phase === 'weights') void onEvent({ type: 'weights', loaded: p.loaded, total: p.total });
          }, reload.signal);
          const reloaded = opening.model;
          // The previous model stays the session's until the new one is in (a failed load leaves it in use).
          loading = opening.loaded.then(() => {
            if (session.model !== previous) {
              reloaded.gpuModel.destroy();
              throw new WorkerStateError('the model was replaced while the run reloaded it');
            }
            previous.gpuModel.destroy();
            session.tuned?.adapter.destroy();
            session.tuned = null;
            session.model = reloaded;
            void onEvent({ type: 'model', info: reloaded.info });
          });
          loading.catch(() => {}); // the run reports it
          model = reloaded;
        }
      }
      let initParams: Float32Array | undefined;
      if (request.initialAdapter && !request.resumeFrom) {
        const init = await importAdapter(adapterModel(model), {
          'adapter_model.safetensors': request.initialAdapter.adapterModel, 'adapter_config.json': request.initialAdapter.adapterConfig, 'config.json': request.initialAdapter.labelsConfig,
        });
        const { r, alpha, dropout, targets, useRslora } = request.settings.lora;
        if (canonicalJson({ r, alpha, dropout, targets, useRslora }) !== canonicalJson({ r: init.settings.r, alpha: init.settings.alpha, dropout: init.settings.dropout, targets: init.settings.targets, useRslora: init.settings.useRslora })) {
          throw new WorkerStateError(`the adapter to continue has r ${init.settings.r}, alpha ${init.settings.alpha}, dropout ${init.settings.dropout} on ${init.settings.targets.join(', ')}: its settings win; set them on the Hyperparameters screen (continuing sets them for you)`);
        }
        initParams = init.params;
      }
      const outcome = await runTraining<unknown, never>({
        model: model.gpuModel as unknown as TrainableModel<unknown, never>,
        data: runData(data),
        settings: request.settings,
        identity: { model: model.key, data: data.key },
        limits: memoryLimits(gpu),
        padId: (await model.text()).padId,
        loading,
        resume: request.resumeFrom,
        initParams,
        control,
        signal,
        // Checkpoints are awaited: the run goes on once the page has stored them.
        onEvent: (event) => {
          const delivered = onEvent(event);
          return event.type === 'checkpoint' ? delivered : undefined;
        },
      });
      if (lost) throw lost;
      const files = exportAdapter(adapterModel(model), outcome.layout, outcome.params, baseModelName(request.settings.model));
      await setTuned(gpu, outcome.layout, outcome.params, 'the adapter just trained', task ?? undefined);
      return {
        status: outcome.status,
        steps: outcome.steps,
        finalLoss: outcome.finalLoss,
        finalValidationLoss: outcome.finalEval?.loss ?? null,
        finalMetrics: outcome.finalEval?.metrics ?? null,
        adapterModel: files['adapter_model.safetensors'],
        adapterConfig: files['adapter_config.json'],
        ...(files['config.json'] ? { labelsConfig: files['config.json'] } : {}),
      };
    } catch (error) {
      reload.abort();
      await loading?.catch(() => {});
      // On a lost device the step in flight fails with whatever the driver says (often before the
      // device's lost promise settles): give the loss a moment to be reported, then report it.
      const gpu = gpuPromise ? await gpuPromise.catch(() => null) : null;
      if (!lost && gpu) await Promise.race([gpu.device.lost, new Promise((resolve) => setTimeout(resolve, 1000))]);
      if (lost) throw lost;
      throw error;
    } finally {
      signal.removeEventListener('abort', stopReload);
      unsubscribe();
      session.run = null;
      releaseToken(token);
    }
  },

  /**
   * "Run on GPUs": the current run — model, dataset as this worker renders it, settings, optionally a
   * library adapter to continue — as a zipped PyTorch project (Transformers + PEFT, accelerate).
   */
  async exportPytorch(request: { settings: RunSettings; title: string; initialAdapter?: { name: string; steps: number; adapterModel: Uint8Array; adapterConfig: string; labelsConfig?: string } }, token?: string): Promise<Uint8Array> {
    const signal = signalFor(token);
    try {
      const model = requireModel();
      const data = await datasetFor(model, request.settings, signal);
      const f = session.datasetFile!;
      // An encoder's run: its head set for the data's task (the plan and the adapter to continue are read against it).
      const cls = data.classification;
      if (model.family === 'encoder' && !cls) throw new WorkerStateError('an encoder trains on labelled texts: the dataset has no classification rows (map a text and a label column)');
      if (model.family === 'encoder') await ensureTask(model, encoderTaskFor(cls!.labels, model.spec), request.settings.train.seed);
      if (request.initialAdapter) {
        const init = await importAdapter(adapterModel(model), {
          'adapter_model.safetensors': request.initialAdapter.adapterModel, 'adapter_config.json': request.initialAdapter.adapterConfig, 'config.json': request.initialAdapter.labelsConfig,
        });
        if (model.family === 'encoder' && init.task && init.task.labels.length !== model.gpuModel.task.labels.length) {
          throw new WorkerStateError(`the adapter to continue has a head of ${init.task.labels.length} outputs but the data has ${model.gpuModel.task.labels.length} labels`);
        }
        const { r, alpha, dropout, targets, useRslora } = request.settings.lora;
        if (canonicalJson({ r, alpha, dropout, targets, useRslora }) !== canonicalJson({ r: init.settings.r, alpha: init.settings.alpha, dropout: init.settings.dropout, targets: init.settings.targets, useRslora: init.settings.useRslora })) {
          throw new WorkerStateError(`the adapter to continue has r ${init.settings.r}, alpha ${init.settings.alpha}, dropout ${init.settings.dropout} on ${init.settings.targets.join(', ')}: its settings win`);
        }
      }
      let studioPlan = null;
      try {
        const p = planTraining(model.gpuModel as unknown as TrainableModel<unknown, never>, request.settings, { longestRow: data.info.stats?.maxTokens ?? 0 }, memoryLimits(await getGpu()));
        studioPlan = { microBatch: p.microBatch, gradAccum: p.gradAccum, seqLen: p.seqLen };
      } catch {
        // no plan on this device: the export does not need one
      }
      const { exportPytorchZip } = await import('./exportPytorch');
      return await exportPytorchZip({ model, dataset: data, datasetFile: f, settings: request.settings, title: request.title, initialAdapter: request.initialAdapter ?? null, studioPlan, signal });
    } finally {
      releaseToken(token);
    }
  },

  /**
   * "Export for…": the loaded base model with an adapter merged in (onnx, gguf, hf) or the adapter as
   * a GGUF LoRA beside the base as GGUF (gguf-adapter), as a zip under `name/` or as files. An
   * encoder's SEQ_CLS adapter (with its labels' config.json) exports as a classifier: onnx
   * (text-classification) and hf; GGUF is refused. The exporters load on first use, in their own chunk.
   */
  async exportModel(
    request: { format: ModelExportFormat; quant?: string | null; name: string; adapter: { adapterModel: Uint8Array; adapterConfig: string; labelsConfig?: string }; as: 'zip' | 'files' },
    onProgress: (p: ExportProgress) => void,
    token?: string,
  ): Promise<{ zip: Blob } | { files: [string, Blob][] }> {
    const signal = signalFor(token);
    try {
      if (session.run) throw new WorkerStateError('a training run is in progress; export when it is done');
      const model = requireModel();
      const ex = await import('../formats/export/index');
      const adapter = await ex.readExportAdapter(model.family === 'llama' ? { family: 'llama', spec: model.spec } : { family: 'encoder', spec: model.spec }, {
        'adapter_model.safetensors': request.adapter.adapterModel, 'adapter_config.json': request.adapter.adapterConfig, 'config.json': request.adapter.labelsConfig ?? null,
      });
      const source = await ex.openExportSource(model.files, adapter);
      let last = 0;
      const files = await ex.exportModel(request.format, source, adapter, {
        quant: request.quant, name: request.name, includeBase: true,
        onProgress: (p) => {
          if (signal.aborted) throw new WorkerStateError('the export was cancelled');
          const now = Date.now();
          if (now - last > 100 || p.done + 1 === p.total) {
            last = now;
            onProgress(p);
          }
        },
      });
      if (signal.aborted) throw new WorkerStateError('the export was cancelled');
      if (request.as === 'zip') return { zip: (await import('../formats/export/zip')).zipExport(files, request.name) };
      return { files: [...files].map(([path, parts]) => [path, new Blob(parts as BlobPart[])]) };
    } finally {
      releaseToken(token);
    }
  },

  /** Pauses, resumes or stops (keeping the adapter so far) the current run. */
  control(action: 'pause' | 'resume' | 'stop'): boolean {
    const run = session.run;
    if (!run) return false;
    if (action === 'pause') run.pause();
    else if (action === 'resume') run.resume();
    else run.stop();
    return true;
  },

  /** Makes a stored adapter the playground's tuned side. */
  async useAdapter(files: { adapterModel: Uint8Array; adapterConfig: string; labelsConfig?: string }, label: string): Promise<void> {
    const gpu = await getGpu();
    const model = requireModel();
    const { layout, params, task } = await importAdapter(adapterModel(model), { 'adapter_model.safetensors': files.adapterModel, 'adapter_config.json': files.adapterConfig, 'config.json': files.labelsConfig });
    // The base side compares against a head for the same labels.
    if (task) await ensureTask(model, task, headSeeds.get(model.gpuModel) ?? 42);
    await setTuned(gpu, layout, params, label, task);
  },

  /**
   * Classifies a text (or a pair) with the base head and, when there is one, the tuned adapter:
   * class probabilities (softmax), label probabilities (sigmoid) or regression outputs.
   */
  async classify(text: string, textPair: string | null, token?: string): Promise<ClassifyResult> {
    const signal = signalFor(token);
    try {
      const model = requireModel();
      if (model.family !== 'encoder') throw new WorkerStateError('this model generates text; classification needs an encoder (BERT, RoBERTa, DistilBERT)');
      const enc = encodeClassification(prepareTokenizer((await model.text()).tokenizer), text, textPair ?? undefined, model.gpuModel.description.maxPositions);
      const row = { ids: enc.ids, types: enc.tokenTypeIds };
      const task = model.gpuModel.task;
      const L = task.labels.length;
      const base = outputProbabilities(task.problemType, await model.gpuModel.predict([row], null), L)[0];
      signal.throwIfAborted();
      const tuned = session.tuned ? outputProbabilities(task.problemType, await model.gpuModel.predict([row], session.tuned.adapter), L)[0] : null;
      return { problemType: task.problemType, labels: task.labels, base, tuned, tokens: enc.ids.length, truncated: enc.truncated };
    } finally {
      releaseToken(token);
    }
  },

  /** Test hook: the settings the last `train` call received. */
  lastTrainSettings(): RunSettings | null {
    return session.lastTrainSettings;
  },

  /** Test hook: the background compiles started, newest last (at most 20), and how each ended. */
  compileLog(): typeof compileLog {
    return compileLog;
  },

  /** Which adapter the playground's tuned side holds, if any. */
  tunedLabel(): string | null {
    return session.tuned?.label ?? null;
  },

  /** Generates an answer with the base model or with the tuned adapter. */
  async generate(prompt: string, side: 'base' | 'tuned', opts: GenerateOptions, onText?: (text: string) => void, token?: string): Promise<string> {
    const signal = signalFor(token);
    try {
      const gpu = await getGpu();
      const model = requireModel();
      if (side === 'tuned' && !session.tuned) throw new WorkerStateError('no tuned adapter yet: train one, or pick one in the Library');
      return await generate(gpu, model, side === 'tuned' ? session.tuned!.adapter : null, prompt, opts, signal, onText);
    } finally {
      releaseToken(token);
    }
  },

  /**
   * The answer a web page would give: the base or tuned model exported as ONNX and run by
   * transformers.js on onnxruntime-web in this worker (worker/onnxPlayground.ts).
   */
  async onnxGenerate(prompt: string, side: 'base' | 'tuned', variant: OnnxVariant, opts: GenerateOptions, onStage?: (stage: string) => void, token?: string): Promise<OnnxAnswer> {
    const signal = signalFor(token);
    try {
      const model = requireDecoderSession('the web-page answer (a text-generation export)');
      if (side === 'tuned' && !session.tuned) throw new WorkerStateError('no tuned adapter yet: train one, or pick one in the Library');
      const tuned = side === 'tuned' ? session.tuned! : null;
      let adapter: LoraAdapter | null = null;
      if (tuned) {
        const files = exportAdapter(model.spec, tuned.layout, tuned.params, 'session');
        adapter = await readPeftAdapter(files, model.spec);
      }
      const { onnxGenerate } = await import('./onnxPlayground');
      return await onnxGenerate({ model, adapter, adapterKey: tuned ? `tuned ${tuned.id}` : 'base', variant, prompt, opts, signal, onStage });
    } finally {
      releaseToken(token);
    }
  },

  /**
   * The first `count` validation examples, split where training starts: the prompt the model sees
   * (everything before the first trained token) and the answer the data teaches (that run of
   * trained tokens). Null without a dataset with a validation split.
   */
  async validationExamples(count: number): Promise<ValidationExample[] | null> {
    const model = requireModel();
    const val = session.dataset?.validation;
    if (!val || val.length === 0) return null;
    const text = await model.text();
    const out: ValidationExample[] = [];
    for (let i = 0; i < Math.min(count, val.length); i++) {
      const split = promptAndReference(val.get(i));
      if (!split) continue;
      out.push({ index: i, row: val.rowOf(i), prompt: decodeAnswer(text, split.prompt), reference: decodeAnswer(text, split.reference) });
    }
    return out;
  },

  /** Answers validation example `index` (its prompt tokens as they are) with the base model or the tuned adapter. */
  async answerValidation(index: number, side: 'base' | 'tuned', opts: GenerateOptions, token?: string): Promise<string> {
    const signal = signalFor(token);
    try {
      const gpu = await getGpu();
      const model = requireModel();
      const val = session.dataset?.validation;
      if (!val || index < 0 || index >= val.length) throw new WorkerStateError(`no validation example ${index}: drop a dataset with a validation split`);
      if (side === 'tuned' && !session.tuned) throw new WorkerStateError('no tuned adapter yet: train one, or pick one in the Library');
      const split = promptAndReference(val.get(index));
      if (!split) throw new WorkerStateError(`validation example ${index} has no trained tokens after a prompt`);
      return await generate(gpu, model, side === 'tuned' ? session.tuned!.adapter : null, split.prompt, opts, signal);
    } finally {
      releaseToken(token);
    }
  },

  /** Validates an adapter zip or folder for import; when a model is loaded, also against that model. */
  async validateImport(input: { zip: Uint8Array; name: string } | { files: [string, Uint8Array][] }): Promise<{ adapterModel: Uint8Array; adapterConfig: string; labelsConfig?: string; config: PeftConfigSummary; parameters: number; folder: string; training: ValidatedAdapter['training']; run: ValidatedAdapter['run'] }> {
    const v = 'zip' in input ? await readAdapterZip(input.zip, input.name) : await validateAdapterFiles(new Map(input.files));
    if (session.model) await importAdapter(adapterModel(session.model), { 'adapter_model.safetensors': v.files.adapterModel, 'adapter_config.json': v.files.adapterConfig, 'config.json': v.files.labelsConfig });
    return { ...v.files, config: v.config, parameters: v.parameters, folder: v.folder, training: v.training, run: v.run };
  },

  /** Test hook: loses the GPU device as a driver crash would (the run stops with GpuDeviceLostError). */
  async simulateDeviceLoss(): Promise<void> {
    const gpu = await getGpu();
    gpu.device.destroy();
  },
};

export type WorkerApi = typeof workerApi;
