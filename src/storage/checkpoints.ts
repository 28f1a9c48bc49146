// Training checkpoints in IndexedDB: every N steps the engine's whole checkpoint (adapter, Adam
// state, step, data position) is stored so a reloaded tab can resume the run to the same result.
// A new checkpoint is written before the previous one is deleted, so a failed write (a full disk)
// never leaves the run without one.
import type { RunSettings } from '../settings/settings';
import type { DatasetSummary } from './adapters';
import { StorageQuotaError, isQuotaError, type KeyValue } from './kv';
import { CheckpointError, deserializeCheckpoint } from '../formats/checkpoint';

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
   * Stores the checkpoint of `step`: writes it under a new key, reads it back and verifies it (the
   * checkpoint format's checksum and field checks), then points the run at it, then deletes the
   * previous one. On a quota error, a bad read-back or any other failure nothing already stored
   * is touched: the previous checkpoint stays the run's.
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
    try {
      const back = await this.kv.get<Uint8Array>(key);
      if (!back) throw new CheckpointError(key, 'not found when read back after writing');
      deserializeCheckpoint(back instanceof Uint8Array ? back : new Uint8Array(back as ArrayBuffer), key);
    } catch (error) {
      await this.kv.del(key).catch(() => {});
      throw error;
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
