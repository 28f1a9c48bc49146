/**
 * Hugging Face hub access: files resolved as {endpoint}/{repo}/resolve/{revision}/{file}, weights
 * read by HTTP Range (the safetensors header first, then only the tensors asked for), progress
 * reported per file, and every byte fetched kept in a cache (the browser's Cache API by default)
 * so a reload reads nothing from the network again.
 */
import { type ByteSource, fromArrayBuffer, fromUrl, HttpError } from '../formats/byteSource';
import type { ModelFiles } from '../formats/modelFolder';

export const HF_ENDPOINT = 'https://huggingface.co';

export class HubError extends Error {
  constructor(
    readonly repo: string,
    readonly file: string,
    readonly status: number | null,
    detail: string,
  ) {
    super(`HubError: ${repo}/${file}: ${detail}`);
    this.name = 'HubError';
  }
}

/** Bytes kept between page loads. Keys are URLs (with the byte range as a query parameter). */
export interface HubCache {
  get(key: string): Promise<Uint8Array | null>;
  put(key: string, bytes: Uint8Array): Promise<void>;
}

/** A cache held in memory (Node, tests, or where the Cache API is missing). */
export function memoryCache(): HubCache & { entries: Map<string, Uint8Array> } {
  const entries = new Map<string, Uint8Array>();
  return {
    entries,
    async get(key) {
      return entries.get(key) ?? null;
    },
    async put(key, bytes) {
      entries.set(key, bytes.slice());
    },
  };
}

/** The browser's Cache API (persists across reloads); null where `caches` does not exist. */
export function cacheApiStore(name = 'adapter-studio-hub'): HubCache | null {
  const storage = (globalThis as { caches?: CacheStorage }).caches;
  if (!storage) return null;
  const open = storage.open(name);
  return {
    async get(key) {
      const hit = await (await open).match(key);
      return hit ? new Uint8Array(await hit.arrayBuffer()) : null;
    },
    async put(key, bytes) {
      const body = bytes.slice().buffer as ArrayBuffer;
      await (await open).put(key, new Response(body, { headers: { 'content-type': 'application/octet-stream' } }));
    },
  };
}

export interface HubProgress {
  file: string;
  /** Bytes of this file delivered so far (from the network or the cache). */
  loaded: number;
  /** The file's size. */
  total: number;
  fromCache: boolean;
}

export interface HubOptions {
  endpoint?: string;
  revision?: string;
  /** A Hugging Face access token, for gated or private repositories. */
  token?: string;
  fetch?: typeof fetch;
  onProgress?: (p: HubProgress) => void;
  /** Defaults to the Cache API in browsers; pass null to disable caching. */
  cache?: HubCache | null;
  signal?: AbortSignal;
}

/** https://huggingface.co/{repo}/resolve/{revision}/{file} */
export function resolveUrl(repo: string, file: string, revision = 'main', endpoint = HF_ENDPOINT): string {
  if (!/^[\w.-]+(\/[\w.-]+)?$/.test(repo) || repo.includes('..')) throw new HubError(repo, file, null, 'not a valid repository id (expected "owner/name")');
  const path = file.split('/').map(encodeURIComponent).join('/');
  return `${endpoint.replace(/\/+$/, '')}/${repo}/resolve/${encodeURIComponent(revision)}/${path}`;
}

function cacheKey(url: string, part: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}studio-part=${part}`;
}

function explain(repo: string, file: string, status: number): HubError {
  if (status === 401 || status === 403) {
    return new HubError(
      repo,
      file,
      status,
      `HTTP ${status}: the repository is gated or private (or does not exist). A Hugging Face access token is needed: ` +
        'accept the model\'s license on huggingface.co, create a token with read access, and pass it to the studio.',
    );
  }
  if (status === 404) return new HubError(repo, file, status, `HTTP 404: no file "${file}" in ${repo} at this revision`);
  return new HubError(repo, file, status, `HTTP ${status}`);
}

/** A checkpoint folder on the hub (or any server laid out like it), as ModelFiles for openModelFolder. */
export function hubFiles(repo: string, options: HubOptions = {}): ModelFiles {
  const revision = options.revision ?? 'main';
  const endpoint = options.endpoint ?? HF_ENDPOINT;
  const cache = options.cache === undefined ? cacheApiStore() : options.cache;
  const doFetch = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));
  const headers: Record<string, string> = options.token ? { Authorization: `Bearer ${options.token}` } : {};
  const report = (file: string, loaded: number, total: number, fromCache: boolean) => options.onProgress?.({ file, loaded, total, fromCache });

  const host = (() => {
    try {
      return new URL(endpoint).host;
    } catch {
      return endpoint;
    }
  })();
  /** A request that never got an answer (offline, DNS, TLS, CORS): say which host and what to do. */
  const unreachable = (file: string, e: unknown): never => {
    if ((e as Error)?.name === 'AbortError' || options.signal?.aborted) throw e;
    const why = (e as Error)?.message ?? String(e);
    throw new HubError(repo, file, null, `cannot reach ${host} (${why}): check the network connection, or load the model from a local folder`);
  };
  const wrapHttp = (file: string, e: unknown): never => {
    if (e instanceof HttpError) throw explain(repo, file, e.status);
    if (e instanceof HubError || e instanceof RangeError) throw e;
    return unreachable(file, e);
  };
  const get = (file: string, url: string) => doFetch(url, { headers, signal: options.signal }).catch((e) => unreachable(file, e));

  return {
    name: `${repo}@${revision}`,

    async text(file) {
      const url = resolveUrl(repo, file, revision, endpoint);
      const key = cacheKey(url, 'whole');
      const cached = await cache?.get(key);
      if (cached) {
        report(file, cached.byteLength, cached.byteLength, true);
        return new TextDecoder().decode(cached);
      }
      const missingKey = cacheKey(url, 'missing');
      if (await cache?.get(missingKey)) return null;
      const res = await get(file, url);
      if (res.status === 404) {
        // Remember absent files too (e.g. no model.safetensors.index.json), so a reload asks nothing.
        await cache?.put(missingKey, new Uint8Array([1]));
        return null;
      }
      if (!res.ok) throw explain(repo, file, res.status);
      const bytes = new Uint8Array(await res.arrayBuffer());
      report(file, bytes.byteLength, bytes.byteLength, false);
      await cache?.put(key, bytes);
      return new TextDecoder().decode(bytes);
    },

    async source(file): Promise<ByteSource | null> {
      const url = resolveUrl(repo, file, revision, endpoint);
      const wholeKey = cacheKey(url, 'whole');
      const sizeKey = cacheKey(url, 'size');
      const missingKey = cacheKey(url, 'missing');
      if (await cache?.get(missingKey)) return null;
      const whole = await cache?.get(wholeKey);
      if (whole) {
        report(file, whole.byteLength, whole.byteLength, true);
        return fromArrayBuffer(whole, file);
      }
      let loaded = 0;
      const sizeBytes = await cache?.get(sizeKey);
      let size = sizeBytes ? Number(new TextDecoder().decode(sizeBytes)) : NaN;
      let inner: ByteSource | null = null;
      const network = async (): Promise<ByteSource | null> => {
        if (inner) return inner;
        try {
          const src = await fromUrl(url, { fetch: doFetch, headers, signal: options.signal });
          if (!src.ranged) {
            // The server ignored Range: the whole body is here; keep it whole.
            await cache?.put(wholeKey, src.whole ?? new Uint8Array(0));
          } else if (!sizeBytes) {
            await cache?.put(sizeKey, new TextEncoder().encode(String(src.size)));
          }
          inner = src;
          return src;
        } catch (e) {
          if (e instanceof HttpError && e.status === 404) {
            await cache?.put(missingKey, new Uint8Array([1]));
            return null;
          }
          return wrapHttp(file, e);
        }
      };
      if (!Number.isFinite(size)) {
        const src = await network();
        if (!src) return null;
        size = src.size;
        if (!(src as { ranged?: boolean }).ranged) {
          report(file, size, size, false);
          return fromArrayBuffer(await src.read(0, size), file);
        }
      }
      const source: ByteSource = {
        name: file,
        size,
        async read(offset, length) {
          if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
            throw new RangeError(`${file}: read of ${length} bytes at offset ${offset} is outside the ${size}-byte file`);
          }
          const key = cacheKey(url, `${offset}-${length}`);
          const hit = await cache?.get(key);
          if (hit && hit.byteLength === length) {
            loaded += length;
            report(file, Math.min(loaded, size), size, true);
            return hit;
          }
          const src = await network();
          if (!src) throw explain(repo, file, 404);
          let bytes: Uint8Array;
          try {
            bytes = await src.read(offset, length);
          } catch (e) {
            return wrapHttp(file, e);
          }
          await cache?.put(key, bytes);
          loaded += length;
          report(file, Math.min(loaded, size), size, false);
          return bytes;
        },
      };
      return source;
    },
  };
}
