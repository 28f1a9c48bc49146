// A small key-value interface over IndexedDB (idb-keyval), so the adapter library and the
// checkpoint store can be tested in Node with an in-memory map and run on IndexedDB in the browser.
import { createStore, del, get, keys, set, type UseStore } from 'idb-keyval';
import { formatBytes } from '../units';

export interface KeyValue {
  get<T>(key: string): Promise<T | undefined>;
  set(key: string, value: unknown): Promise<void>;
  del(key: string): Promise<void>;
  keys(): Promise<string[]>;
}

/** Raised when the browser refuses a write because the origin's storage is full. */
export class StorageQuotaError extends Error {
  constructor(
    readonly key: string,
    readonly bytes: number,
    override readonly cause?: unknown,
  ) {
    super(`StorageQuotaError: the browser refused to store "${key}" (${formatBytes(bytes)}): its storage for this site is full`);
    this.name = 'StorageQuotaError';
  }
}

export function isQuotaError(error: unknown): boolean {
  if (error instanceof StorageQuotaError) return true;
  const name = (error as { name?: string } | null)?.name;
  return name === 'QuotaExceededError' || name === 'NS_ERROR_DOM_QUOTA_REACHED';
}

/** Approximate stored size of a value (typed arrays and strings dominate). */
export function approxBytes(value: unknown): number {
  if (value == null) return 0;
  if (typeof value === 'string') return value.length * 2;
  if (typeof value === 'number' || typeof value === 'boolean') return 8;
  if (ArrayBuffer.isView(value)) return value.byteLength;
  if (value instanceof ArrayBuffer) return value.byteLength;
  if (Array.isArray(value)) return value.reduce((n: number, v) => n + approxBytes(v), 0);
  if (typeof value === 'object') return Object.entries(value).reduce((n, [k, v]) => n + k.length * 2 + approxBytes(v), 0);
  return 0;
}

/** IndexedDB through idb-keyval; quota errors come back as StorageQuotaError. */
export function idbKeyValue(dbName = 'adapter-studio', storeName = 'kv'): KeyValue {
  let store: UseStore | null = null;
  const s = () => (store ??= createStore(dbName, storeName));
  return {
    get: (key) => get(key, s()),
    async set(key, value) {
      try {
        await set(key, value, s());
      } catch (error) {
        if (isQuotaError(error)) throw new StorageQuotaError(key, approxBytes(value), error);
        throw error;
      }
    },
    del: (key) => del(key, s()),
    keys: async () => (await keys(s())).map(String),
  };
}

/** An in-memory store with an optional byte quota (tests, and browsers without IndexedDB). */
export function memoryKeyValue(quotaBytes = Infinity): KeyValue & { usedBytes(): number } {
  const map = new Map<string, unknown>();
  const used = () => [...map.values()].reduce((n: number, v) => n + approxBytes(v), 0);
  return {
    async get<T>(key: string) {
      return structuredClone(map.get(key)) as T | undefined;
    },
    async set(key, value) {
      const after = used() - approxBytes(map.get(key)) + approxBytes(value);
      if (after > quotaBytes) throw new StorageQuotaError(key, approxBytes(value));
      map.set(key, structuredClone(value));
    },
    async del(key) {
      map.delete(key);
    },
    async keys() {
      return [...map.keys()];
    },
    usedBytes: used,
  };
}
