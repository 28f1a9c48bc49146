// The adapter library: finished adapters with their configuration, metrics and dataset summary.
// Metadata and file bytes live under separate keys so listing the library never loads weights.
import type { RunSettings } from '../settings/settings';
import type { KeyValue } from './kv';

export interface DatasetSummary {
  name: string;
  format: string;
  rows: number;
  trainRows: number;
  validationRows: number;
  tokens: number;
  kind: string;
}

export interface AdapterMetrics {
  steps: number;
  finalLoss: number | null;
  finalValidationLoss: number | null;
  /** Loss curve, thinned, for the library's sparkline. */
  lossCurve: [number, number][];
  trainSeconds: number | null;
  /** Validation loss by step, when the run logged it (imported Trainer runs). */
  validationCurve?: [number, number][];
  /** The last evaluation's metrics (eval_loss, eval_accuracy, eval_f1, eval_mse, …), when there was one. */
  finalEval?: Record<string, number>;
}

export interface AdapterMeta {
  id: string;
  name: string;
  createdAt: number;
  updatedAt: number;
  baseModel: string;
  settings: RunSettings;
  metrics: AdapterMetrics;
  dataset: DatasetSummary | null;
  /** Where it came from. */
  origin: 'trained' | 'imported';
  /** How an imported adapter was trained, in words (e.g. a PyTorch launch of the studio's export). */
  trainedWith?: string;
  bytes: number;
}

export interface AdapterFiles {
  /** adapter_model.safetensors */
  adapterModel: Uint8Array;
  /** adapter_config.json */
  adapterConfig: string;
  /** config.json beside an encoder's adapter: its labels (id2label, label2id, problem_type). */
  labelsConfig?: string;
}

export class AdapterNotFoundError extends Error {
  constructor(readonly id: string) {
    super(`AdapterNotFoundError: no adapter "${id}" in the library (it may have been deleted in another tab)`);
    this.name = 'AdapterNotFoundError';
  }
}

const META = 'adapter-meta:';
const FILES = 'adapter-files:';

export function newId(prefix: string): string {
  const rand = Math.floor(Math.random() * 0xffffffff).toString(36);
  return `${prefix}-${Date.now().toString(36)}-${rand}`;
}

export class AdapterLibrary {
  constructor(private readonly kv: KeyValue) {}

  /** All adapters, newest first. */
  async list(): Promise<AdapterMeta[]> {
    const ids = (await this.kv.keys()).filter((k) => k.startsWith(META));
    const metas = await Promise.all(ids.map((k) => this.kv.get<AdapterMeta>(k)));
    return metas.filter((m): m is AdapterMeta => !!m).sort((a, b) => b.createdAt - a.createdAt);
  }

  async meta(id: string): Promise<AdapterMeta> {
    const meta = await this.kv.get<AdapterMeta>(META + id);
    if (!meta) throw new AdapterNotFoundError(id);
    return meta;
  }

  async files(id: string): Promise<AdapterFiles> {
    const files = await this.kv.get<AdapterFiles>(FILES + id);
    if (!files) throw new AdapterNotFoundError(id);
    return files;
  }

  /** Stores an adapter: the files first, so a listed adapter always has its files. */
  async save(meta: Omit<AdapterMeta, 'id' | 'createdAt' | 'updatedAt' | 'bytes'> & { id?: string }, files: AdapterFiles): Promise<AdapterMeta> {
    const now = Date.now();
    const full: AdapterMeta = {
      ...meta,
      id: meta.id ?? newId('adapter'),
      createdAt: now,
      updatedAt: now,
      bytes: files.adapterModel.byteLength + files.adapterConfig.length,
    };
    await this.kv.set(FILES + full.id, files);
    try {
      await this.kv.set(META + full.id, full);
    } catch (error) {
      await this.kv.del(FILES + full.id);
      throw error;
    }
    return full;
  }

  async rename(id: string, name: string): Promise<AdapterMeta> {
    const clean = name.trim().slice(0, 120);
    if (!clean) throw new Error('An adapter needs a name');
    const meta = { ...(await this.meta(id)), name: clean, updatedAt: Date.now() };
    await this.kv.set(META + id, meta);
    return meta;
  }

  /** Removes the listing first, then the bytes (a half-deleted adapter is never listed). */
  async delete(id: string): Promise<void> {
    await this.kv.del(META + id);
    await this.kv.del(FILES + id);
  }
}
