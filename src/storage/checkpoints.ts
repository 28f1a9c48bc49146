// Training checkpoints in IndexedDB: every N steps the engine's whole checkpoint (adapter, Adam
// state, step, RNG, data position) is stored so a reloaded tab can resume the run to the same result.
// A new checkpoint is written before the previous one is deleted, so a failed write (a full disk)
// never leaves the run without one.
import type { RunSettings } from '../settings/settings';
import type { DatasetSummary } from './adapters';
import { StorageQuotaError, isQuotaError, type KeyValue } from './kv';

export interface RunMeta {
  runId: string;
  baseModel: string;
  settings: RunSettings;
  dataset: DatasetSummary | null;
  startedAt: number;
  updatedAt: number;
  /** Step of the checkpoint the run can resume from (null before the first one). */
  checkpointStep: number | null;
  checkpointBytes: number;
  totalSteps: number;
  /** Loss curve so far, so the chart continues where it stopped. */
  train: { step: number; loss: number }[];
  validation: { step: number; loss: number }[];
}

export interface Deletable {
  kind: 'adapter' | 'run';
  id: string;
  name: string;
  bytes: number;
}

/** A checkpoint could not be stored; the previous one (if any) is intact. */
export class CheckpointQuotaError extends StorageQuotaError {
  constructor(
    key: string,
    bytes: number,
    readonly previousStep: number | null,
    readonly deletable: Deletable[],
  ) {
    super(key, bytes);
    this.name = 'CheckpointQuotaError';
    this.message =
      `CheckpointQuotaError: the browser's storage is full, so the checkpoint "${key}" was not saved; ` +
      (previousStep === null ? 'the run has no checkpoint yet. ' : `the checkpoint of step ${previousStep} is kept. `) +
      (deletable.length ? `Deleting ${deletable.map((d) => `${d.kind} “${d.name}”`).join(', ')} would free space.` : '');
  }
}

const RUN = 'run:';
const CKPT = 'ckpt:';

export class CheckpointStore {
  constructor(
    private readonly kv: KeyValue,
    /** Lists what the user could delete when storage is full. */
    private readonly listDeletable: () => Promise<Deletable[]> = async () => [],
  ) {}

  async begin(meta: Omit<RunMeta, 'checkpointStep' | 'checkpointBytes' | 'startedAt' | 'updatedAt'>): Promise<RunMeta> {
    const now = Date.now();
    const full: RunMeta = { ...meta, startedAt: now, updatedAt: now, checkpointStep: null, checkpointBytes: 0 };
    await this.kv.set(RUN + meta.runId, full);
    return full;
  }

  async run(runId: string): Promise<RunMeta | undefined> {
    return this.kv.get<RunMeta>(RUN + runId);
  }

  /** Runs that have not finished, newest first. */
  async runs(): Promise<RunMeta[]> {
    const ids = (await this.kv.keys()).filter((k) => k.startsWith(RUN));
    const runs = await Promise.all(ids.map((k) => this.kv.get<RunMeta>(k)));
    return runs.filter((r): r is RunMeta => !!r).sort((a, b) => b.updatedAt - a.updatedAt);
  }

  /**
   * Stores the checkpoint of `step`: writes it under a new key, then points the run at it, then
   * deletes the previous one. On a quota error nothing already stored is touched.
   */
  async save(runId: string, step: number, bytes: Uint8Array, progress: Pick<RunMeta, 'train' | 'validation' | 'totalSteps'>): Promise<RunMeta> {
    const meta = await this.run(runId);
    if (!meta) throw new Error(`CheckpointStore: no run "${runId}" (it was finished or deleted)`);
    const key = `${CKPT}${runId}:${step}`;
    try {
      await this.kv.set(key, bytes);
    } catch (error) {
      if (!isQuotaError(error)) throw error;
      await this.kv.del(key).catch(() => {});
      const deletable = (await this.listDeletable().catch(() => [])).filter((d) => d.id !== runId);
      throw new CheckpointQuotaError(key, bytes.byteLength, meta.checkpointStep, deletable);
    }
    const next: RunMeta = { ...meta, ...progress, checkpointStep: step, checkpointBytes: bytes.byteLength, updatedAt: Date.now() };
    try {
      await this.kv.set(RUN + runId, next);
    } catch (error) {
      // The pointer still names the previous checkpoint, which is intact; drop the orphan.
      await this.kv.del(key).catch(() => {});
      if (isQuotaError(error)) {
        const deletable = (await this.listDeletable().catch(() => [])).filter((d) => d.id !== runId);
        throw new CheckpointQuotaError(key, bytes.byteLength, meta.checkpointStep, deletable);
      }
      throw error;
    }
    if (meta.checkpointStep !== null && meta.checkpointStep !== step) await this.kv.del(`${CKPT}${runId}:${meta.checkpointStep}`);
    return next;
  }

  /** The latest checkpoint's bytes, or undefined when the run has none. */
  async latest(runId: string): Promise<{ meta: RunMeta; bytes: Uint8Array } | undefined> {
    const meta = await this.run(runId);
    if (!meta || meta.checkpointStep === null) return undefined;
    const bytes = await this.kv.get<Uint8Array>(`${CKPT}${runId}:${meta.checkpointStep}`);
    return bytes ? { meta, bytes } : undefined;
  }

  /** Forgets a run and every checkpoint it stored. */
  async delete(runId: string): Promise<void> {
    await this.kv.del(RUN + runId);
    const prefix = `${CKPT}${runId}:`;
    for (const k of await this.kv.keys()) if (k.startsWith(prefix)) await this.kv.del(k);
  }
}
