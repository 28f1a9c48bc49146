// The studio's controller: the only place that talks to the worker and to IndexedDB, and folds
// the answers into the store. Screens call these actions; they never call the worker directly.
import { proxy, type Remote } from 'comlink';
import type { WorkerApi } from '../worker/api';
import type { CompileResult, DatasetOptions, TrainEvent, TrainResult } from '../worker/protocol';
import type { ColumnMapping } from '../data/schema';
import { AdapterLibrary, newId, type AdapterMeta, type DatasetSummary } from '../storage/adapters';
import { CheckpointQuotaError, CheckpointStore, type Deletable, type RunMeta } from '../storage/checkpoints';
import { idbKeyValue, isQuotaError, type KeyValue } from '../storage/kv';
import { formatBytes } from '../units';
import { requestPersistence, storageEstimate } from '../storage/persist';
import { adapterZip, ADAPTER_CONFIG, ADAPTER_MODEL, IMPORT_FILE, LABELS_CONFIG, MODEL_CARD, modelCard, safeFileName } from '../storage/adapterZip';
import { createStudioStore, currentPlan, kernelsKey, planKey, type KernelsState, type StudioState, type StudioStore } from './store/store';
import { decodeSettings, encodeSettings } from '../settings/shareLink';
import { baseModelName, canonicalJson, cloneSettings, DEFAULT_SETTINGS, DEMO_ENCODER_MODEL_NAME, DEMO_MODEL_NAME, isHubId, modelLabel, settingsForModel, validateSettings, type ModelChoice, type RunSettings } from '../settings/settings';
import { downloadBlob, downloadBytes, pickFolder, writeIntoFolder } from './download';
import { adapterKind, type ExportTarget } from './exportTargets';
import type { OnnxVariant } from '../formats/export/kinds';
import type { OnnxAnswer } from '../worker/onnxPlayground';
import { explainModelError } from './modelErrors';
import { createClassEvalStore, type ClassEvalStore } from './classify/evalStore';
import { promptFromData, type SampleDatasetInfo } from './demo';

const DATASET_KEY = 'run-dataset:';
/** How long the settings rest before their kernels compile in the background (a slider being dragged compiles nothing). */
export const COMPILE_DELAY_MS = 400;
/** localStorage key of the Hugging Face token, written only when the user ticks "remember on this device". */
export const HUB_TOKEN_KEY = 'adapter-studio:hf-token';

/** A stored setting of this device (localStorage), or null where there is none or no storage. */
function deviceGet(key: string): string | null {
  try {
    return globalThis.localStorage?.getItem(key) ?? null;
  } catch {
    return null;
  }
}

function deviceSet(key: string, value: string | null): void {
  try {
    if (value === null) globalThis.localStorage?.removeItem(key);
    else globalThis.localStorage?.setItem(key, value);
  } catch {
    // Storage blocked (private mode, a policy): the token stays for this session only.
  }
}

/** What an imported adapter's base_model_name_or_path names, as a model choice. */
function choiceOfBase(base: string): ModelChoice {
  if (base === DEMO_MODEL_NAME) return { kind: 'demo' };
  if (base === DEMO_ENCODER_MODEL_NAME) return { kind: 'demo', variant: 'bert' };
  if (isHubId(base)) return { kind: 'hub', id: base };
  return { kind: 'local', name: base || 'unknown' };
}

function errorText(error: unknown): string {
  const e = error as Error;
  return e?.message ?? String(error);
}

function isDeviceLost(error: unknown): boolean {
  return /GPU device lost/i.test(errorText(error));
}

function isCancel(error: unknown): boolean {
  return (error as Error)?.name === 'AbortError' || /was cancelled/.test(errorText(error));
}

export class StudioController {
  readonly store: StudioStore;
  /** A classifier run's metrics, confusion matrix and per-class figures (classify/evalStore.ts). */
  readonly classEval: ClassEvalStore = createClassEvalStore();
  readonly library: AdapterLibrary;
  readonly checkpoints: CheckpointStore;
  private datasetFile: { file: Blob; name: string } | null = null;
  private mapping: ColumnMapping | null = null;
  /** How the dataset is read: the bad-rows policy and a separate validation file. */
  private datasetOptions: DatasetOptions = {};
  private tokens = 0;
  private exportToken: string | null = null;
  private runToken: string | null = null;
  /** The run the screen shows; events and results of any other (a cancelled one) are ignored. */
  private activeRunId: string | null = null;
  /** Runs cancelled from the page: their late answers change nothing. */
  private readonly cancelledRuns = new Set<string>();
  /** Runs whose record is being written (a cancel waits for it before deciding what to keep). */
  private readonly runRecords = new Map<string, Promise<void>>();
  /** The worker's train call in flight (a cancelled run may still be winding down). */
  private workerRun: Promise<unknown> | null = null;
  private modelToken: string | null = null;
  private localModelFiles: File[] | undefined;
  private memoryTimer: ReturnType<typeof setTimeout> | null = null;
  private datasetTimer: ReturnType<typeof setTimeout> | null = null;
  private datasetToken: string | null = null;
  private compileTimer: ReturnType<typeof setTimeout> | null = null;
  /** The worker's compile call for the kernels state's key, while it is in flight. */
  private compileToken: string | null = null;
  private runStartedAt = 0;

  constructor(
    readonly engine: Remote<WorkerApi>,
    private readonly kv: KeyValue = idbKeyValue(),
    private readonly location: { href: string; search: string } = window.location,
  ) {
    const decoded = decodeSettings(location.search);
    // A link's settings are kept as they are (even where all its parameters were refused); a plain
    // visit, with no query at all, gets what the studio proposes for its model.
    const plainVisit = !new URLSearchParams(location.search).toString();
    this.store = createStudioStore({ settings: plainVisit ? settingsForModel(decoded.settings, decoded.settings.model) : decoded.settings });
    for (const n of decoded.notices) this.store.getState().notify('warning', n);
    if (decoded.applied) this.store.getState().notify('info', 'Settings were loaded from the link.');
    const remembered = deviceGet(HUB_TOKEN_KEY);
    if (remembered) this.store.getState().setHubToken({ token: remembered, remember: true });
    this.library = new AdapterLibrary(kv);
    this.checkpoints = new CheckpointStore(kv, () => this.deletable());
    this.watchKernels();
  }

  private get s() {
    return this.store.getState();
  }

  private token(): string {
    return `t${++this.tokens}-${Math.random().toString(36).slice(2)}`;
  }

  /** First steps after the page opens. */
  async start(): Promise<void> {
    // Keep the URL in step with the settings (the share link is the address bar).
    this.store.subscribe((state, prev) => {
      if (state.settings !== prev.settings) {
        const q = encodeSettings(state.settings);
        history.replaceState(history.state, '', `${window.location.pathname}${q ? `?${q}` : ''}${window.location.hash}`);
        this.schedulePlan();
        // The split, the cut rows and the statistics depend on these: read the dataset again (once the knob rests).
        const a = state.settings;
        const b = prev.settings;
        if (a.data.validationFraction !== b.data.validationFraction || a.train.maxLength !== b.train.maxLength || a.train.seed !== b.train.seed || a.data.trainOn !== b.data.trainOn) this.scheduleDatasetRead();
      }
    });
    // The settings proposed on a plain visit (the demo preset) show in the address bar too.
    const proposed = encodeSettings(this.s.settings);
    if (proposed && !window.location.search) history.replaceState(history.state, '', `${window.location.pathname}?${proposed}${window.location.hash}`);
    const gpu = await this.engine.gpuStatus();
    this.s.setGpu(gpu);
    // An unfinished run (a reloaded or closed tab) opens the Training screen with its Resume button.
    void this.refreshLibrary().then(() => {
      if (this.s.interrupted.length && this.s.training.status === 'idle' && this.s.screen === 'model') this.s.setScreen('training');
    });
    void requestPersistence().then((persisted) => this.s.setStorage({ persisted }));
    void this.refreshStorage();
    const model = this.s.settings.model;
    // A link never starts a download on its own: a hub model it names is described (config.json,
    // the weights' size, the memory plan) and loads when the user presses Load.
    if (gpu.ok && model.kind === 'hub') {
      this.s.setLinkModel({ id: model.id, summary: null, error: null });
      await this.describeLinkModel();
    } else if (gpu.ok && model.kind !== 'local') await this.loadModel(model);
  }

  /** Describes the link's hub model for the current settings (a few KB: config.json and the size of the weights). */
  async describeLinkModel(): Promise<void> {
    const link = this.s.linkModel;
    if (!link) return;
    try {
      const summary = await this.engine.describeHubModel(link.id, this.s.settings, { token: this.s.hubToken.token || undefined });
      if (this.s.linkModel?.id === link.id) this.s.setLinkModel({ id: link.id, summary, error: null });
    } catch (error) {
      if (this.s.linkModel?.id === link.id) this.s.setLinkModel({ id: link.id, summary: null, error: errorText(error) });
    }
  }

  /** Loads the model the link named (the user pressed Load), or the demo instead. */
  async acceptLinkModel(load: boolean): Promise<void> {
    const link = this.s.linkModel;
    this.s.setLinkModel(null);
    await this.loadModel(load && link ? { kind: 'hub', id: link.id } : { kind: 'demo' });
  }

  /** The Hugging Face token: memory only, or also this device's storage when `remember` is ticked. */
  setHubToken(token: string, remember: boolean): void {
    this.s.setHubToken({ token, remember });
    deviceSet(HUB_TOKEN_KEY, remember && token ? token : null);
  }

  async refreshStorage(): Promise<void> {
    this.s.setStorage(await storageEstimate());
  }

  async refreshLibrary(): Promise<void> {
    this.s.setLibrary(await this.library.list());
    this.s.setInterrupted(await this.checkpoints.runs());
  }

  private async deletable(): Promise<Deletable[]> {
    const adapters = (await this.library.list()).map((a) => ({ kind: 'adapter' as const, id: a.id, name: a.name, bytes: a.bytes }));
    const runs = (await this.checkpoints.runs()).map((r) => ({ kind: 'run' as const, id: r.runId, name: `unfinished run of ${new Date(r.startedAt).toLocaleString()}`, bytes: r.checkpointBytes }));
    return [...adapters, ...runs].sort((a, b) => b.bytes - a.bytes);
  }

  // ------------------------------------------------------------------ model

  /**
   * Loads a base model. With a working model, the new one loads in a pending slot and the working
   * one stays selected and usable until the new one is ready; a failure leaves it as it was and
   * says why (naming the host or the repository and what to do).
   */
  async loadModel(choice: ModelChoice, files?: File[]): Promise<boolean> {
    if (this.modelToken) void this.engine.abort(this.modelToken);
    const token = (this.modelToken = this.token());
    if (files) this.localModelFiles = files;
    const working = this.s.model.status === 'ready';
    if (working) this.s.setPendingModel({ status: 'loading', choice, progress: null });
    else {
      this.s.setPendingModel(null);
      this.chooseModel(choice);
      this.s.setModel({ status: 'loading', progress: null });
    }
    const hubToken = choice.kind === 'hub' ? this.s.hubToken.token.trim() : '';
    // Progress comes through its own message port, so a report can arrive after the answer: it changes nothing then.
    let answered = false;
    try {
      const info = await this.engine.loadModel(
        choice,
        window.location.href,
        choice.kind === 'local' ? (files ?? this.localModelFiles) : undefined,
        proxy((p) => {
          if (this.modelToken !== token || answered) return;
          if (working) this.s.setPendingModel({ status: 'loading', choice, progress: p });
          else this.s.setModel({ status: 'loading', progress: p });
          if (this.s.training.status === 'starting' && p.phase === 'weights') this.s.setStartup({ kind: 'model', loaded: p.loaded, total: p.total });
        }),
        token,
        hubToken ? { token: hubToken } : undefined,
        // The settings the model will have: its precision is planned for them, and with a dataset its kernels compile for them.
        this.settingsFor(choice),
      ).finally(() => (answered = true));
      if (this.modelToken !== token) return false;
      this.chooseModel(choice);
      this.s.setModel({ status: 'ready', info });
      this.s.setPendingModel(null);
      this.schedulePlan();
      if (this.datasetFile) await this.readDataset(this.datasetFile.file, this.datasetFile.name, this.mapping);
      return true;
    } catch (error) {
      if (this.modelToken === token) {
        const message = isCancel(error) || /was cancelled/.test(errorText(error)) ? `Loading ${modelLabel(choice)} was cancelled.` : explainModelError(choice, errorText(error), { tokenGiven: !!hubToken });
        if (working && this.s.model.status === 'ready') this.s.setPendingModel({ status: 'error', choice, message });
        else this.s.setModel({ status: 'error', message });
      }
      return false;
    } finally {
      if (this.modelToken === token) this.modelToken = null;
    }
  }

  /** The settings once `choice` is the model (what chooseModel makes of them). */
  private settingsFor(choice: ModelChoice): RunSettings {
    return canonicalJson(choice) !== canonicalJson(this.s.settings.model) ? settingsForModel(this.s.settings, choice) : { ...this.s.settings, model: choice };
  }

  /** Another model gets the settings the studio proposes for it (the demo its preset); the same model keeps them. */
  private chooseModel(choice: ModelChoice): void {
    if (canonicalJson(choice) !== canonicalJson(this.s.settings.model)) this.s.replaceSettings(settingsForModel(this.s.settings, choice));
    else this.s.setModelChoice(choice);
  }

  cancelModelLoad(): void {
    if (this.modelToken) void this.engine.abort(this.modelToken);
  }

  dismissPendingModel(): void {
    if (this.s.pendingModel?.status === 'error') this.s.setPendingModel(null);
  }

  // ------------------------------------------------------------------ dataset

  /**
   * Reads a dataset. A new file starts with bad rows stopping the read (they are listed by line);
   * `options` keeps or changes how it is read: skip bad rows, a separate validation file.
   */
  async readDataset(file: Blob, name: string, mapping: ColumnMapping | null = null, options?: DatasetOptions): Promise<void> {
    const sameFile = this.datasetFile?.file === file;
    this.datasetFile = { file, name };
    this.mapping = mapping;
    if (options) this.datasetOptions = options;
    else if (!sameFile) this.datasetOptions = { validationFile: this.datasetOptions.validationFile };
    this.s.setDataset({ status: 'reading', name });
    if (this.datasetToken) void this.engine.abort(this.datasetToken);
    const token = (this.datasetToken = this.token());
    try {
      const info = await this.engine.readDataset(file, name, mapping, this.s.settings, token, this.datasetOptions);
      if (this.datasetToken !== token) return;
      this.mapping = info.mapping;
      if (info.errors.length) this.s.setDataset({ status: 'error', info, message: `${name} has ${info.errors.length} problem${info.errors.length === 1 ? '' : 's'}` });
      else this.s.setDataset({ status: 'ready', info });
    } catch (error) {
      if (this.datasetToken !== token) return;
      this.s.setDataset({ status: 'error', info: null, message: errorText(error) });
    } finally {
      if (this.datasetToken === token) this.datasetToken = null;
    }
    this.schedulePlan();
  }

  private scheduleDatasetRead(): void {
    if (this.datasetTimer) clearTimeout(this.datasetTimer);
    this.datasetTimer = setTimeout(() => {
      this.datasetTimer = null;
      const t = this.s.training.status;
      if (!this.datasetFile || t === 'starting' || t === 'running' || t === 'paused' || t === 'stopping') return;
      void this.readDataset(this.datasetFile.file, this.datasetFile.name, this.mapping, this.datasetOptions);
    }, 500);
  }

  /** Reads the dataset again training on its good rows only (the bad ones stay listed). */
  async skipBadRows(): Promise<void> {
    if (this.datasetFile) await this.readDataset(this.datasetFile.file, this.datasetFile.name, this.mapping, { ...this.datasetOptions, onBadRows: 'skip' });
  }

  /** A separate validation file (null: hold out the validation split of the training file instead). */
  async setValidationFile(file: Blob | null, name = ''): Promise<void> {
    const options: DatasetOptions = { ...this.datasetOptions, validationFile: file ? { file, name } : undefined };
    this.datasetOptions = options;
    this.s.setValidationFile(file ? name : null);
    if (this.datasetFile) await this.readDataset(this.datasetFile.file, this.datasetFile.name, this.mapping, options);
  }

  async setMapping(mapping: ColumnMapping): Promise<void> {
    if (this.datasetFile) await this.readDataset(this.datasetFile.file, this.datasetFile.name, mapping);
  }

  datasetSummary(): DatasetSummary | null {
    const d = this.s.dataset;
    if (d.status !== 'ready' || !d.info.stats) return null;
    const st = d.info.stats;
    return { name: d.info.name, format: d.info.format, rows: st.rows, trainRows: st.trainRows, validationRows: st.validationRows, tokens: st.tokens, kind: d.info.kind ?? 'unknown' };
  }

  // ------------------------------------------------------------------ memory

  /** Asks the worker's planner for the current settings (debounced while a slider moves). */
  schedulePlan(): void {
    if (this.s.linkModel) void this.describeLinkModel();
    if (this.memoryTimer) clearTimeout(this.memoryTimer);
    this.memoryTimer = setTimeout(async () => {
      if (validateSettings(this.s.settings).length) return;
      const key = planKey(this.s);
      try {
        const plan = await this.engine.plan(this.s.settings);
        if (planKey(this.s) === key) this.s.setPlan(plan, key);
      } catch (error) {
        this.s.setPlan(null);
        this.s.notify('warning', `Memory plan failed: ${errorText(error)}`);
      }
    }, 150);
  }

  // ------------------------------------------------------------------ kernels

  /**
   * Compiles the next run's GPU kernels in the background (the worker's `compile`) whenever what they
   * depend on changes — once the plan for the new state is in and the settings rest — so that Start
   * goes straight to the first step. Recompiling for every change (not only the first) keeps
   * "GPU kernels ready" true of the settings on screen; kernels already compiled cost nothing again.
   */
  private watchKernels(): void {
    this.store.subscribe((state, prev) => {
      const active = (t: StudioState['training']['status']) => t === 'starting' || t === 'running' || t === 'paused' || t === 'stopping';
      // Another model (or the same one after a lost device) has none of the old one's kernels; a run
      // that ended has compiled what a compile refused beside it could not.
      const ended = active(prev.training.status) && !active(state.training.status);
      if ((state.model !== prev.model || (ended && state.kernels.status !== 'ready')) && state.kernels.status !== 'idle') this.s.setKernels({ status: 'idle' });
      if (state.plan !== prev.plan || state.model !== prev.model || state.dataset !== prev.dataset || state.settings !== prev.settings || state.pendingModel !== prev.pendingModel || state.fieldErrors !== prev.fieldErrors || state.training.status !== prev.training.status) {
        this.scheduleCompile();
      }
    });
  }

  private scheduleCompile(): void {
    if (this.compileTimer) clearTimeout(this.compileTimer);
    this.compileTimer = setTimeout(() => {
      this.compileTimer = null;
      void this.compileKernels();
    }, COMPILE_DELAY_MS);
  }

  /** Whether the kernels of the current state can compile now: a model and a dataset ready, valid settings whose plan is in and fits. */
  private compilable(s: StudioState): boolean {
    const plan = currentPlan(s);
    return s.model.status === 'ready' && s.pendingModel?.status !== 'loading' && s.dataset.status === 'ready' && !this.datasetTimer && !this.datasetToken
      && plan !== null && plan.fits && Object.keys(s.fieldErrors).length === 0 && validateSettings(s.settings).length === 0;
  }

  /** Compiles the current state's kernels unless they are compiled or compiling already (see watchKernels). */
  async compileKernels(): Promise<void> {
    const s = this.s;
    const t = s.training.status;
    // A run compiles what it needs (and waits for a compile in flight, which therefore goes on).
    if (t === 'starting' || t === 'running' || t === 'paused' || t === 'stopping') return;
    const key = kernelsKey(s);
    if (s.kernels.status !== 'idle' && s.kernels.key === key) return;
    if (this.compileToken) void this.engine.abort(this.compileToken);
    this.compileToken = null;
    if (!this.compilable(s)) return;
    const token = (this.compileToken = this.token());
    s.setKernels({ status: 'compiling', key, done: 0, total: 0 });
    const mine = () => this.compileToken === token;
    try {
      const result: CompileResult = await this.engine.compile(cloneSettings(s.settings), proxy((done: number, total: number) => {
        if (mine()) this.s.setKernels({ status: 'compiling', key, done, total });
      }), token);
      if (mine()) this.s.setKernels(result.status === 'ready' ? { status: 'ready', key, pipelines: result.pipelines } : { status: 'skipped', key, reason: result.reason });
    } catch (error) {
      // Cancelled: another state's compile took over (or the worker let go of a replaced model's).
      if (mine()) this.s.setKernels(isCancel(error) ? { status: 'idle' } : { status: 'failed', key, message: errorText(error) } satisfies KernelsState);
    } finally {
      if (mine()) this.compileToken = null;
    }
  }

  // ------------------------------------------------------------------ training

  /** Starts a new run (optionally continuing a library adapter). */
  async train(initialAdapterId?: string): Promise<void> {
    const settings = cloneSettings(this.s.settings);
    const runId = newId('run');
    const dataset = this.datasetSummary();
    // The run shows at once (before anything is awaited), so the screen never shows the last run's state.
    this.activeRunId = runId;
    this.s.startTraining(runId);
    this.s.setStartup({ kind: 'dataset' });
    this.s.setScreen('training');
    let initialAdapter: { adapterModel: Uint8Array; adapterConfig: string; labelsConfig?: string } | undefined;
    if (initialAdapterId) initialAdapter = await this.library.files(initialAdapterId);
    // The run's record (for Resume after a reload); a cancel waits for it, so it never outlives the cancel.
    const record = (async () => {
      try {
        await this.checkpoints.begin({ runId, baseModel: this.baseModelName(), settings, dataset, totalSteps: 0, train: [], validation: [] });
        if (this.datasetFile) await this.kv.set(DATASET_KEY + runId, { file: this.datasetFile.file, name: this.datasetFile.name, mapping: this.mapping, options: this.datasetOptions });
      } catch (error) {
        if (!isQuotaError(error)) throw error;
        this.s.notify('warning', `Storage is full, so this run cannot be resumed after a reload: ${errorText(error)}`);
      }
    })();
    this.runRecords.set(runId, record);
    try {
      await record;
    } finally {
      this.runRecords.delete(runId);
    }
    if (this.cancelledRuns.has(runId)) return;
    await this.runWorker(runId, settings, dataset, { initialAdapter });
  }

  /** Resumes an unfinished run from its last checkpoint (after a reload or a lost device). */
  async resumeRun(runId: string): Promise<void> {
    this.activeRunId = runId;
    this.cancelledRuns.delete(runId);
    this.s.patchTraining({ status: 'starting', runId, error: null, deviceLost: false, startup: null });
    this.s.setScreen('training');
    const run = await this.checkpoints.run(runId);
    if (!run) {
      this.s.patchTraining({ status: 'failed', error: 'That run is no longer stored.' });
      return;
    }
    if (validateSettings(run.settings).length) {
      this.s.patchTraining({ status: 'failed', error: 'That run was stored by an older version of the studio and cannot be resumed; discard it and start again.' });
      return;
    }
    this.s.replaceSettings(run.settings);
    const latest = await this.checkpoints.latest(runId);
    const upTo = latest?.meta.checkpointStep ?? 0;
    this.s.startTraining(runId, { step: upTo, train: run.train.filter((p) => p.step <= upTo), validation: run.validation.filter((p) => p.step <= upTo) });
    this.s.patchTraining({ totalSteps: run.totalSteps });
    const stored = await this.kv.get<{ file: Blob; name: string; mapping: ColumnMapping | null; options?: DatasetOptions }>(DATASET_KEY + runId);
    const modelOk = this.s.model.status === 'ready' && this.s.model.info.source === run.settings.model.kind && (run.settings.model.kind !== 'hub' || this.s.model.info.name === run.settings.model.id);
    if (!modelOk || this.s.gpu?.ok === false) {
      this.s.setStartup({ kind: 'model', loaded: 0, total: 0 });
      const gpu = await this.engine.gpuStatus();
      this.s.setGpu(gpu);
      if (!(await this.loadModel(run.settings.model))) {
        if (this.activeRunId === runId && !this.cancelledRuns.has(runId)) this.s.patchTraining({ status: 'failed', startup: null, error: 'The run’s model could not be loaded (see the Model screen).' });
        return;
      }
    }
    if (this.cancelledRuns.has(runId)) return;
    this.s.setStartup({ kind: 'dataset' });
    if (stored) await this.readDataset(stored.file, stored.name, stored.mapping, stored.options ?? {});
    else if (!this.datasetFile) {
      this.s.patchTraining({ status: 'failed', startup: null, error: 'The dataset of this run was not stored; drop the same file on the Dataset screen, then resume.' });
      return;
    }
    if (this.cancelledRuns.has(runId)) return;
    await this.runWorker(runId, run.settings, run.dataset, { resumeFrom: latest?.bytes });
  }

  async discardRun(runId: string): Promise<void> {
    await this.checkpoints.delete(runId);
    await this.kv.del(DATASET_KEY + runId);
    await this.refreshLibrary();
  }

  private baseModelName(): string {
    return baseModelName(this.s.settings.model);
  }

  /** Whether events and answers of `runId` still belong on the screen. */
  private current(runId: string): boolean {
    return this.activeRunId === runId && !this.cancelledRuns.has(runId);
  }

  private async runWorker(runId: string, settings: RunSettings, dataset: DatasetSummary | null, from: { resumeFrom?: Uint8Array; initialAdapter?: { adapterModel: Uint8Array; adapterConfig: string; labelsConfig?: string } }): Promise<void> {
    // A cancelled run may still be winding down in the worker (it stops between steps): wait for it.
    if (this.workerRun) {
      this.s.setStartup({ kind: 'previous' });
      await this.workerRun.catch(() => {});
    }
    if (!this.current(runId)) return;
    const token = (this.runToken = this.token());
    this.runStartedAt = performance.now();
    if (!from.resumeFrom) this.classEval.getState().reset();
    const onEvent = proxy(async (event: TrainEvent) => {
      if (!this.current(runId)) return;
      this.s.applyTrainEvent(event);
      this.classEval.getState().apply(event);
      // The worker waits for this: the run goes on once the checkpoint is stored (or known lost).
      if (event.type === 'checkpoint') await this.saveCheckpoint(runId, event.step, event.bytes);
    });
    let result: TrainResult;
    const call = this.engine.train({ settings, ...from }, onEvent, token);
    this.workerRun = call;
    try {
      result = await call;
    } catch (error) {
      if (!this.current(runId)) return;
      const lost = isDeviceLost(error);
      const cancelled = isCancel(error);
      this.s.patchTraining({
        status: cancelled ? 'cancelled' : 'failed',
        startup: null,
        deviceLost: lost,
        error: cancelled ? null : lost ? `The GPU device was lost mid-run (${errorText(error)}). The run can resume from its last checkpoint.` : errorText(error),
      });
      if (lost) this.s.setModel({ status: 'idle' });
      await this.refreshLibrary();
      return;
    } finally {
      if (this.workerRun === call) this.workerRun = null;
      if (this.runToken === token) this.runToken = null;
    }
    if (!this.current(runId)) return;
    const t = this.s.training;
    const meta = await this.library.save(
      {
        name: `${modelLabel(settings.model)} · ${dataset?.name ?? 'dataset'} · ${new Date().toLocaleString()}`,
        baseModel: baseModelName(settings.model),
        settings,
        metrics: {
          steps: result.steps,
          finalLoss: result.finalLoss,
          finalValidationLoss: result.finalValidationLoss,
          lossCurve: t.train.filter((_, i, a) => a.length <= 200 || i % Math.ceil(a.length / 200) === 0).map((p) => [p.step, p.loss]),
          trainSeconds: (performance.now() - this.runStartedAt) / 1000,
          ...(result.finalMetrics ? { finalEval: result.finalMetrics } : {}),
        },
        dataset,
        origin: 'trained',
      },
      { adapterModel: result.adapterModel, adapterConfig: result.adapterConfig, ...(result.labelsConfig ? { labelsConfig: result.labelsConfig } : {}) },
    ).catch((error) => {
      this.s.notify('error', `The adapter could not be saved in the browser (${errorText(error)}); download it from the Training screen.`);
      return null;
    });
    this.lastResult = { result, meta };
    this.s.patchTraining({ status: result.status === 'done' ? 'done' : 'stopped', startup: null, adapterId: meta?.id ?? null });
    if (meta) await this.discardRun(runId);
    await this.refreshStorage();
  }

  /** The last finished run's files (downloadable even when the library write failed). */
  lastResult: { result: TrainResult; meta: AdapterMeta | null } | null = null;

  private async saveCheckpoint(runId: string, step: number, bytes: Uint8Array): Promise<void> {
    const t = this.s.training;
    try {
      await this.checkpoints.save(runId, step, bytes, { train: t.train, validation: t.validation, totalSteps: t.totalSteps });
    } catch (error) {
      if (!this.current(runId)) return; // cancelled meanwhile: its record is gone on purpose
      if (error instanceof CheckpointQuotaError) {
        const what = error.deletable.slice(0, 3).map((d) => `${d.kind} “${d.name}” (${formatBytes(d.bytes)})`).join(', ');
        this.s.notify('error', `${error.previousStep === null ? 'No checkpoint could be saved' : `Checkpoint of step ${step} not saved; step ${error.previousStep}'s is kept`}: the browser's storage is full.${what ? ` Deleting ${what} in the Library would make room.` : ''}`);
      } else {
        this.s.notify('error', `Checkpoint of step ${step} not saved: ${errorText(error)}`);
      }
    }
  }

  pause(): void {
    void this.engine.control('pause');
  }

  resume(): void {
    void this.engine.control('resume');
  }

  stop(): void {
    this.s.patchTraining({ status: 'stopping' });
    void this.engine.control('stop');
  }

  /**
   * Cancels the run without saving an adapter. The screen lets go at once, even while the worker is
   * still compiling (it stops at its next step boundary); the run stays listed as unfinished only
   * when it has a checkpoint worth resuming.
   */
  async cancel(): Promise<void> {
    const runId = this.activeRunId;
    if (!runId) return;
    this.cancelledRuns.add(runId);
    if (this.runToken) void this.engine.abort(this.runToken);
    if (this.modelToken && this.s.training.startup?.kind === 'model') this.cancelModelLoad();
    this.s.patchTraining({ status: 'cancelled', startup: null, error: null });
    await this.runRecords.get(runId)?.catch(() => {});
    const run = await this.checkpoints.run(runId);
    if (run && run.checkpointStep === null) await this.discardRun(runId);
    else await this.refreshLibrary();
  }

  // ------------------------------------------------------------------ library

  async rename(id: string, name: string): Promise<void> {
    try {
      await this.library.rename(id, name);
    } catch (error) {
      this.s.notify('error', errorText(error));
    }
    await this.refreshLibrary();
  }

  async remove(id: string): Promise<void> {
    await this.library.delete(id);
    await this.refreshLibrary();
    await this.refreshStorage();
  }

  async download(id: string, what: 'zip' | 'model' | 'config' = 'zip'): Promise<void> {
    const meta = await this.library.meta(id);
    const files = await this.library.files(id);
    const base = safeFileName(meta.name);
    if (what === 'zip') downloadBytes(adapterZip(meta, files), `${base}.zip`, 'application/zip');
    else if (what === 'model') downloadBytes(files.adapterModel, ADAPTER_MODEL);
    else downloadBytes(files.adapterConfig, ADAPTER_CONFIG, 'application/json');
  }

  /**
   * "Export for…": a library adapter for where the user runs models — its PEFT files, or merged into
   * the loaded base model as ONNX (transformers.js), GGUF (llama.cpp, Ollama, LM Studio) or a
   * Hugging Face folder, or as a GGUF LoRA beside the base — downloaded as a zip or written into a
   * folder the user picks. The worker does the export; the page shows its progress.
   */
  async exportFor(id: string, target: ExportTarget, quant: string | null, destination: 'zip' | 'folder'): Promise<boolean> {
    if (this.s.exporting) {
      this.s.notify('info', 'An export is already running; wait for it or cancel it.');
      return false;
    }
    const meta = await this.library.meta(id);
    const files = await this.library.files(id);
    const name = safeFileName(meta.name);
    const dir = destination === 'folder' ? await pickFolder().catch((error) => (this.s.notify('error', errorText(error)), null)) : null;
    if (destination === 'folder' && !dir) return false;
    try {
      if (target === 'peft') {
        if (dir) {
          const entries: [string, Blob][] = [[ADAPTER_MODEL, new Blob([files.adapterModel as BlobPart])], [ADAPTER_CONFIG, new Blob([files.adapterConfig])], [MODEL_CARD, new Blob([modelCard(meta)])]];
          // An encoder's labels travel beside its adapter, as in the zip.
          if (files.labelsConfig) entries.push([LABELS_CONFIG, new Blob([files.labelsConfig])]);
          await writeIntoFolder(dir, name, entries);
        } else downloadBytes(adapterZip(meta, files), `${name}.zip`, 'application/zip');
        this.s.notify('info', `Exported “${meta.name}” for Python PEFT${dir ? ` into ${dir.name}/${name}` : ''}.`);
        return true;
      }
      const model = this.s.model;
      if (model.status !== 'ready') {
        this.s.notify('info', `Load the base model “${meta.baseModel}” first: the export merges the adapter into it.`);
        this.s.setScreen('model');
        return false;
      }
      const loaded = model.info.source === 'demo' ? (model.info.family === 'llama' ? DEMO_MODEL_NAME : DEMO_ENCODER_MODEL_NAME) : model.info.name;
      if (meta.baseModel && meta.baseModel !== 'not recorded' && meta.baseModel !== loaded) {
        this.s.notify('error', `“${meta.name}” was trained on ${meta.baseModel}, but ${loaded} is loaded: load ${meta.baseModel} on the Model screen, then export.`);
        return false;
      }
      this.s.setExporting({ adapterId: id, target, stage: 'starting', done: 0, total: 1 });
      const token = (this.exportToken = this.token());
      const out = await this.engine.exportModel(
        { format: target, quant, name, adapter: files, as: dir ? 'files' : 'zip' },
        proxy((p) => this.s.setExporting({ adapterId: id, target, ...p })),
        token,
      );
      if ('zip' in out) downloadBlob(out.zip, `${name}-${target}.zip`);
      else await writeIntoFolder(dir!, `${name}-${target}`, out.files);
      this.s.notify('info', `Exported “${meta.name}” (${target})${dir ? ` into ${dir.name}/${name}-${target}` : ''}; docs/deploy.md says how to load it.`);
      return true;
    } catch (error) {
      this.s.notify('error', `The export of “${meta.name}” failed: ${errorText(error)}`);
      return false;
    } finally {
      this.exportToken = null;
      this.s.setExporting(null);
    }
  }

  /** Whether a library adapter is a decoder's (CAUSAL_LM) or an encoder classifier's (SEQ_CLS): the exports it can go to differ. */
  async adapterKind(id: string): Promise<'decoder' | 'encoder'> {
    return adapterKind((await this.library.files(id)).adapterConfig);
  }

  /** Cancels the export in progress. */
  cancelExport(): void {
    if (this.exportToken) void this.engine.abort(this.exportToken);
  }

  /**
   * "Run on GPUs": downloads the current run as a PyTorch project (Transformers + PEFT, accelerate
   * configs, the rows as this studio renders them). With a library adapter, the project continues it.
   */
  async exportPytorch(adapterId?: string): Promise<boolean> {
    let settings = this.s.settings;
    let initialAdapter: { name: string; steps: number; adapterModel: Uint8Array; adapterConfig: string; labelsConfig?: string } | undefined;
    if (adapterId) {
      const meta = await this.library.meta(adapterId);
      settings = { ...settings, lora: { ...meta.settings.lora } };
      this.s.replaceSettings(settings);
      initialAdapter = { name: meta.name, steps: meta.metrics.steps, ...(await this.library.files(adapterId)) };
    }
    if (this.s.dataset.status !== 'ready' || this.s.model.status !== 'ready') {
      this.s.notify('info', 'Load a model and drop a dataset, then press “Run on GPUs” again.');
      this.s.setScreen(this.s.model.status !== 'ready' ? 'model' : 'dataset');
      return false;
    }
    const issues = validateSettings(settings);
    if (issues.length) {
      this.s.notify('error', issues[0].message);
      return false;
    }
    const dataset = this.datasetSummary();
    const title = `${initialAdapter ? initialAdapter.name : modelLabel(settings.model)} · ${dataset?.name ?? 'dataset'}`;
    try {
      const zip = await this.engine.exportPytorch({ settings, title, initialAdapter }, this.token());
      downloadBytes(zip, `${safeFileName(title)}-pytorch.zip`, 'application/zip');
      this.s.notify('info', 'Downloaded the PyTorch project: unzip it, then pip install -r requirements.txt and accelerate launch train.py (its README says more). Import its output folder here when it is done.');
      return true;
    } catch (error) {
      this.s.notify('error', `The PyTorch export failed: ${errorText(error)}`);
      return false;
    }
  }

  /** Continue training a library adapter with its own LoRA settings. */
  async continueTraining(id: string): Promise<void> {
    const meta = await this.library.meta(id);
    // The adapter's LoRA settings win: training it further keeps its shape.
    this.s.replaceSettings({ ...this.s.settings, lora: { ...meta.settings.lora } });
    if (this.s.dataset.status !== 'ready') {
      this.s.notify('info', `Drop a dataset, then press “Continue training” again to train “${meta.name}” further.`);
      this.s.setScreen('dataset');
      return;
    }
    await this.train(id);
  }

  async tryInPlayground(id: string): Promise<void> {
    const meta = await this.library.meta(id);
    try {
      await this.engine.useAdapter(await this.library.files(id), meta.name);
      this.s.setScreen('playground');
    } catch (error) {
      this.s.notify('error', `“${meta.name}” does not fit the loaded model: ${errorText(error)}`);
    }
  }

  /**
   * Imports a PEFT adapter from a zip or from the files of a folder — also a Trainer's output folder
   * (the PyTorch export's train.py writes one), with its training log and the run it continues.
   */
  async importAdapter(files: File[]): Promise<AdapterMeta | null> {
    try {
      let v;
      const zip = files.find((f) => f.name.toLowerCase().endsWith('.zip'));
      if (zip) v = await this.engine.validateImport({ zip: new Uint8Array(await zip.arrayBuffer()), name: zip.name });
      else {
        const entries: [string, Uint8Array][] = [];
        for (const f of files) {
          const path = (f as File & { webkitRelativePath?: string }).webkitRelativePath || f.name;
          if (IMPORT_FILE.test(path)) entries.push([path, new Uint8Array(await f.arrayBuffer())]);
        }
        v = await this.engine.validateImport({ files: entries });
      }
      const lora: RunSettings['lora'] = { r: v.config.r, alpha: v.config.alpha, dropout: v.config.dropout, targets: v.config.targets as RunSettings['lora']['targets'], useRslora: v.config.useRslora, layers: null };
      // The run's own settings when it came from the studio's PyTorch export (train.py's run record), with the
      // adapter's LoRA shape; otherwise what adapter_config.json records, nothing of this page's settings.
      const settings: RunSettings = v.run?.settings
        ? { ...v.run.settings, lora: { ...lora, layers: v.run.settings.lora.layers ?? null } }
        : { ...cloneSettings(DEFAULT_SETTINGS), model: choiceOfBase(v.config.baseModel), lora };
      const t = v.training;
      const thin = (curve: [number, number][]) => curve.filter((_, i, a) => a.length <= 200 || i % Math.ceil(a.length / 200) === 0 || i === a.length - 1);
      const top = files[0]?.webkitRelativePath?.split('/')[0];
      const name = (zip?.name.replace(/\.zip$/i, '') ?? (top ? `${top}${v.folder && v.folder !== top ? ` (${v.folder.split('/').pop()})` : ''}` : undefined)) || v.config.baseModel || 'imported adapter';
      const meta = await this.library.save(
        {
          name,
          baseModel: v.run?.baseModel || v.config.baseModel || 'not recorded',
          settings,
          metrics: t
            ? { steps: t.steps, finalLoss: t.finalLoss, finalValidationLoss: t.finalValidationLoss, lossCurve: thin(t.lossCurve), validationCurve: thin(t.validationCurve), trainSeconds: t.trainSeconds, ...(t.finalEval ? { finalEval: t.finalEval } : {}) }
            : { steps: 0, finalLoss: null, finalValidationLoss: null, lossCurve: [], trainSeconds: null },
          dataset: v.run?.dataset ?? null,
          origin: 'imported',
          ...(v.run?.trainedWith ? { trainedWith: v.run.trainedWith } : t ? { trainedWith: `Hugging Face Trainer (${t.file})` } : {}),
        },
        // An encoder's labels (its config.json) stay with the adapter: its exports and downloads carry them.
        { adapterModel: v.adapterModel, adapterConfig: v.adapterConfig, ...(v.labelsConfig ? { labelsConfig: v.labelsConfig } : {}) },
      );
      this.s.notify('info', `Imported “${meta.name}” (${v.parameters.toLocaleString()} parameters${t ? `, ${t.steps} steps with their log` : ''}).`);
      await this.refreshLibrary();
      return meta;
    } catch (error) {
      this.s.notify('error', `Import failed: ${errorText(error)}`);
      return null;
    }
  }

  // ------------------------------------------------------------------ the demo

  /** Reads a sample dataset served beside the page (public/samples/), as if it had been dropped. */
  async useSampleDataset(sample: SampleDatasetInfo): Promise<void> {
    const url = new URL(sample.path, document.baseURI);
    try {
      const response = await fetch(url);
      if (!response.ok) throw new Error(`${url.pathname}: HTTP ${response.status}`);
      await this.readDataset(await response.blob(), sample.name);
    } catch (error) {
      this.s.notify('error', `The sample dataset could not be read: ${errorText(error)}`);
    }
  }

  /** The playground's first prompt: one from the loaded dataset, so the adapter's effect shows at once. */
  playgroundPrompt(): string {
    const d = this.s.dataset;
    return promptFromData(d.status === 'ready' ? d.info : null) ?? '';
  }

  // ------------------------------------------------------------------ playground

  /** The same prompt through the ONNX export in transformers.js (what a web page using the export answers). */
  async onnxGenerate(prompt: string, side: 'base' | 'tuned', variant: OnnxVariant, onStage: (stage: string) => void, opts = { maxNewTokens: 48, temperature: 0, seed: 1 }): Promise<OnnxAnswer> {
    return this.engine.onnxGenerate(prompt, side, variant, opts, proxy(onStage), this.token());
  }

  async generate(prompt: string, side: 'base' | 'tuned', onText: (text: string) => void, opts = { maxNewTokens: 48, temperature: 0, seed: 1 }): Promise<string> {
    return this.engine.generate(prompt, side, opts, proxy(onText), this.token());
  }
}

export type { RunMeta };
