// The studio's controller: the only place that talks to the worker and to IndexedDB, and folds
// the answers into the store. Screens call these actions; they never call the worker directly.
import { proxy, type Remote } from 'comlink';
import type { WorkerApi } from '../worker/api';
import type { TrainEvent, TrainResult } from '../worker/protocol';
import type { ColumnMapping } from '../data/schema';
import { AdapterLibrary, newId, type AdapterMeta, type DatasetSummary } from '../storage/adapters';
import { CheckpointQuotaError, CheckpointStore, type Deletable, type RunMeta } from '../storage/checkpoints';
import { idbKeyValue, isQuotaError, formatBytes, type KeyValue } from '../storage/kv';
import { requestPersistence, storageEstimate } from '../storage/persist';
import { adapterZip, ADAPTER_CONFIG, ADAPTER_MODEL, safeFileName } from '../storage/adapterZip';
import { createStudioStore, type StudioStore } from './store/store';
import { decodeSettings, encodeSettings } from '../settings/shareLink';
import { baseModelName, canonicalJson, modelLabel, settingsForModel, validateSettings, type ModelChoice, type RunSettings } from '../settings/settings';
import { downloadBytes } from './download';
import { promptFromData, SAMPLE_DATASET } from './demo';

const DATASET_KEY = 'run-dataset:';

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
  readonly library: AdapterLibrary;
  readonly checkpoints: CheckpointStore;
  private datasetFile: { file: Blob; name: string } | null = null;
  private mapping: ColumnMapping | null = null;
  private tokens = 0;
  private runToken: string | null = null;
  private modelToken: string | null = null;
  private localModelFiles: File[] | undefined;
  private memoryTimer: ReturnType<typeof setTimeout> | null = null;
  private runStartedAt = 0;

  constructor(
    readonly engine: Remote<WorkerApi>,
    private readonly kv: KeyValue = idbKeyValue(),
    private readonly location: { href: string; search: string } = window.location,
  ) {
    const decoded = decodeSettings(location.search);
    // A link's settings are kept as they are; a plain visit gets what the studio proposes for its model.
    this.store = createStudioStore({ settings: decoded.applied ? decoded.settings : settingsForModel(decoded.settings, decoded.settings.model) });
    for (const n of decoded.notices) this.store.getState().notify('warning', n);
    if (decoded.applied) this.store.getState().notify('info', 'Settings were loaded from the link.');
    this.library = new AdapterLibrary(kv);
    this.checkpoints = new CheckpointStore(kv, () => this.deletable());
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
      }
    });
    // The settings proposed on a plain visit (the demo preset) show in the address bar too.
    const proposed = encodeSettings(this.s.settings);
    if (proposed && !window.location.search) history.replaceState(history.state, '', `${window.location.pathname}?${proposed}${window.location.hash}`);
    const gpu = await this.engine.gpuStatus();
    this.s.setGpu(gpu);
    void this.refreshLibrary();
    void requestPersistence().then((persisted) => this.s.setStorage({ persisted }));
    void this.refreshStorage();
    if (gpu.ok && this.s.settings.model.kind !== 'local') await this.loadModel(this.s.settings.model);
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

  async loadModel(choice: ModelChoice, files?: File[]): Promise<boolean> {
    if (this.modelToken) void this.engine.abort(this.modelToken);
    const token = (this.modelToken = this.token());
    if (files) this.localModelFiles = files;
    // Another model gets the settings the studio proposes for it (the demo its preset); a reload of the same keeps them.
    if (canonicalJson(choice) !== canonicalJson(this.s.settings.model)) this.s.replaceSettings(settingsForModel(this.s.settings, choice));
    else this.s.setModelChoice(choice);
    this.s.setModel({ status: 'loading', progress: null });
    try {
      const info = await this.engine.loadModel(choice, window.location.href, choice.kind === 'local' ? (files ?? this.localModelFiles) : undefined, proxy((p) => {
        if (this.modelToken === token) this.s.setModel({ status: 'loading', progress: p });
      }), token);
      if (this.modelToken !== token) return false;
      this.s.setModel({ status: 'ready', info });
      this.schedulePlan();
      if (this.datasetFile) await this.readDataset(this.datasetFile.file, this.datasetFile.name, this.mapping);
      return true;
    } catch (error) {
      if (this.modelToken === token) this.s.setModel({ status: 'error', message: errorText(error) });
      return false;
    } finally {
      if (this.modelToken === token) this.modelToken = null;
    }
  }

  cancelModelLoad(): void {
    if (this.modelToken) void this.engine.abort(this.modelToken);
  }

  // ------------------------------------------------------------------ dataset

  async readDataset(file: Blob, name: string, mapping: ColumnMapping | null = null): Promise<void> {
    this.datasetFile = { file, name };
    this.mapping = mapping;
    this.s.setDataset({ status: 'reading', name });
    try {
      const info = await this.engine.readDataset(file, name, mapping, this.s.settings, this.token());
      this.mapping = info.mapping;
      if (info.errors.length) this.s.setDataset({ status: 'error', info, message: `${name} has ${info.errors.length} problem${info.errors.length === 1 ? '' : 's'}` });
      else this.s.setDataset({ status: 'ready', info });
    } catch (error) {
      this.s.setDataset({ status: 'error', info: null, message: errorText(error) });
    }
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
    if (this.memoryTimer) clearTimeout(this.memoryTimer);
    this.memoryTimer = setTimeout(async () => {
      if (validateSettings(this.s.settings).length) return;
      try {
        this.s.setPlan(await this.engine.plan(this.s.settings));
      } catch (error) {
        this.s.setPlan(null);
        this.s.notify('warning', `Memory plan failed: ${errorText(error)}`);
      }
    }, 150);
  }

  // ------------------------------------------------------------------ training

  /** Starts a new run (optionally continuing a library adapter). */
  async train(initialAdapterId?: string): Promise<void> {
    const settings = this.s.settings;
    const runId = newId('run');
    const dataset = this.datasetSummary();
    // The run shows at once (before anything is awaited), so the screen never shows the last run's state.
    this.s.startTraining(runId);
    this.s.setScreen('training');
    let initialAdapter: { adapterModel: Uint8Array; adapterConfig: string } | undefined;
    if (initialAdapterId) initialAdapter = await this.library.files(initialAdapterId);
    try {
      await this.checkpoints.begin({ runId, baseModel: this.baseModelName(), settings, dataset, totalSteps: 0, train: [], validation: [] });
      if (this.datasetFile) await this.kv.set(DATASET_KEY + runId, { file: this.datasetFile.file, name: this.datasetFile.name, mapping: this.mapping });
    } catch (error) {
      if (!isQuotaError(error)) throw error;
      this.s.notify('warning', `Storage is full, so this run cannot be resumed after a reload: ${errorText(error)}`);
    }
    await this.runWorker(runId, settings, dataset, { initialAdapter });
  }

  /** Resumes an unfinished run from its last checkpoint (after a reload or a lost device). */
  async resumeRun(runId: string): Promise<void> {
    this.s.patchTraining({ status: 'starting', error: null, deviceLost: false });
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
    this.s.setScreen('training');
    const stored = await this.kv.get<{ file: Blob; name: string; mapping: ColumnMapping | null }>(DATASET_KEY + runId);
    const modelOk = this.s.model.status === 'ready' && this.s.model.info.source === run.settings.model.kind && (run.settings.model.kind !== 'hub' || this.s.model.info.name === run.settings.model.id);
    if (!modelOk || this.s.gpu?.ok === false) {
      const gpu = await this.engine.gpuStatus();
      this.s.setGpu(gpu);
      if (!(await this.loadModel(run.settings.model))) {
        this.s.patchTraining({ status: 'failed', error: 'The run’s model could not be loaded (see the Model screen).' });
        return;
      }
    }
    if (stored) await this.readDataset(stored.file, stored.name, stored.mapping);
    else if (!this.datasetFile) {
      this.s.patchTraining({ status: 'failed', error: 'The dataset of this run was not stored; drop the same file on the Dataset screen, then resume.' });
      return;
    }
    const latest = await this.checkpoints.latest(runId);
    this.s.startTraining(runId, { step: latest?.meta.checkpointStep ?? 0, train: run.train.filter((p) => p.step <= (latest?.meta.checkpointStep ?? 0)), validation: run.validation.filter((p) => p.step <= (latest?.meta.checkpointStep ?? 0)) });
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

  private async runWorker(runId: string, settings: RunSettings, dataset: DatasetSummary | null, from: { resumeFrom?: Uint8Array; initialAdapter?: { adapterModel: Uint8Array; adapterConfig: string } }): Promise<void> {
    const token = (this.runToken = this.token());
    this.runStartedAt = performance.now();
    const onEvent = proxy(async (event: TrainEvent) => {
      this.s.applyTrainEvent(event);
      // The worker waits for this: the run goes on once the checkpoint is stored (or known lost).
      if (event.type === 'checkpoint') await this.saveCheckpoint(runId, event.step, event.bytes);
    });
    let result: TrainResult;
    try {
      result = await this.engine.train({ settings, ...from }, onEvent, token);
    } catch (error) {
      const lost = isDeviceLost(error);
      const cancelled = isCancel(error);
      this.s.patchTraining({
        status: cancelled ? 'stopped' : 'failed',
        deviceLost: lost,
        error: cancelled ? null : lost ? `The GPU device was lost mid-run (${errorText(error)}). The run can resume from its last checkpoint.` : errorText(error),
      });
      if (lost) this.s.setModel({ status: 'idle' });
      await this.refreshLibrary();
      return;
    } finally {
      if (this.runToken === token) this.runToken = null;
    }
    const t = this.s.training;
    const meta = await this.library.save(
      {
        name: `${modelLabel(settings.model)} · ${dataset?.name ?? 'dataset'} · ${new Date().toLocaleString()}`,
        baseModel: this.baseModelName(),
        settings,
        metrics: {
          steps: result.steps,
          finalLoss: result.finalLoss,
          finalValidationLoss: result.finalValidationLoss,
          lossCurve: t.train.filter((_, i, a) => a.length <= 200 || i % Math.ceil(a.length / 200) === 0).map((p) => [p.step, p.loss]),
          trainSeconds: (performance.now() - this.runStartedAt) / 1000,
        },
        dataset,
        origin: 'trained',
      },
      { adapterModel: result.adapterModel, adapterConfig: result.adapterConfig },
    ).catch((error) => {
      this.s.notify('error', `The adapter could not be saved in the browser (${errorText(error)}); download it from the Training screen.`);
      return null;
    });
    this.lastResult = { result, meta };
    this.s.patchTraining({ status: result.status === 'done' ? 'done' : 'stopped', adapterId: meta?.id ?? null });
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

  /** Cancels the run without saving an adapter (its last checkpoint stays resumable). */
  cancel(): void {
    if (this.runToken) void this.engine.abort(this.runToken);
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

  /** Imports a PEFT adapter from a zip or from the files of a folder. */
  async importAdapter(files: File[]): Promise<AdapterMeta | null> {
    try {
      let v;
      const zip = files.find((f) => f.name.toLowerCase().endsWith('.zip'));
      if (zip) v = await this.engine.validateImport({ zip: new Uint8Array(await zip.arrayBuffer()), name: zip.name });
      else {
        const entries: [string, Uint8Array][] = [];
        for (const f of files) if (/adapter_(model\.safetensors|config\.json)$/.test(f.name)) entries.push([(f as File & { webkitRelativePath?: string }).webkitRelativePath || f.name, new Uint8Array(await f.arrayBuffer())]);
        v = await this.engine.validateImport({ files: entries });
      }
      const settings: RunSettings = {
        ...this.s.settings,
        lora: { r: v.config.r, alpha: v.config.alpha, dropout: v.config.dropout, targets: v.config.targets as RunSettings['lora']['targets'], useRslora: v.config.useRslora, layers: null },
      };
      const name = (zip?.name.replace(/\.zip$/i, '') ?? files[0]?.webkitRelativePath?.split('/')[0]) || v.config.baseModel || 'imported adapter';
      const meta = await this.library.save(
        { name, baseModel: v.config.baseModel || 'unknown', settings, metrics: { steps: 0, finalLoss: null, finalValidationLoss: null, lossCurve: [], trainSeconds: null }, dataset: null, origin: 'imported' },
        { adapterModel: v.adapterModel, adapterConfig: v.adapterConfig },
      );
      this.s.notify('info', `Imported “${meta.name}” (${v.parameters.toLocaleString()} parameters).`);
      await this.refreshLibrary();
      return meta;
    } catch (error) {
      this.s.notify('error', `Import failed: ${errorText(error)}`);
      return null;
    }
  }

  // ------------------------------------------------------------------ the demo

  /** Reads the sample dataset served beside the page (public/samples/), as if it had been dropped. */
  async useSampleDataset(): Promise<void> {
    const url = new URL(SAMPLE_DATASET.path, window.location.href);
    try {
      const response = await fetch(url);
      if (!response.ok) throw new Error(`${url.pathname}: HTTP ${response.status}`);
      await this.readDataset(new File([await response.blob()], SAMPLE_DATASET.name, { type: 'application/x-ndjson' }), SAMPLE_DATASET.name);
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

  async generate(prompt: string, side: 'base' | 'tuned', onText: (text: string) => void, opts = { maxNewTokens: 48, temperature: 0, seed: 1 }): Promise<string> {
    return this.engine.generate(prompt, side, opts, proxy(onText), this.token());
  }
}

export type { RunMeta };
