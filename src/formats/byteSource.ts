/**
 * Random-access byte sources: an in-memory buffer, a Blob/File (read by slices, never whole),
 * and an HTTP URL (read by Range requests). The Node file source lives in nodeSource.ts so the
 * browser bundle never imports node:fs.
 */

export interface ByteSource {
  /** A name for error messages (file name or URL). */
  name: string;
  /** Total size in bytes. */
  size: number;
  /** Exactly `length` bytes starting at `offset`; throws RangeError when that runs past the end. */
  read(offset: number, length: number): Promise<Uint8Array>;
}

export function checkRange(source: { name: string; size: number }, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > source.size) {
    throw new RangeError(`${source.name}: read of ${length} bytes at offset ${offset} is outside the ${source.size}-byte file`);
  }
}

export function fromArrayBuffer(data: ArrayBuffer | Uint8Array, name = 'buffer'): ByteSource {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  const source: ByteSource = {
    name,
    size: bytes.byteLength,
    async read(offset, length) {
      checkRange(source, offset, length);
      return bytes.subarray(offset, offset + length);
    },
  };
  return source;
}

/** A Blob or File: each read takes only the requested slice, so a 1 GB file never sits in memory. */
export function fromBlob(blob: Blob, name = (blob as File).name ?? 'blob'): ByteSource {
  const source: ByteSource = {
    name,
    size: blob.size,
    async read(offset, length) {
      checkRange(source, offset, length);
      return new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
    },
  };
  return source;
}

/** An HTTP failure, with the status so callers (the hub) can explain 401/403/404. */
export class HttpError extends Error {
  constructor(
    readonly url: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export interface UrlSourceOptions {
  fetch?: typeof fetch;
  headers?: Record<string, string>;
  /** Called after every completed read with the bytes fetched so far (and the file size). */
  onBytes?: (bytesFetched: number, size: number) => void;
  signal?: AbortSignal;
}

function explainStatus(url: string, status: number, statusText: string): HttpError {
  if (status === 401 || status === 403) {
    return new HttpError(url, status, `${url}: HTTP ${status} ${statusText}: access denied (gated or private file: a token is needed)`);
  }
  if (status === 404) return new HttpError(url, status, `${url}: HTTP 404: file not found`);
  return new HttpError(url, status, `${url}: HTTP ${status} ${statusText}`);
}

/** A URL source; `ranged` is false when the server ignored Range and the whole body (`whole`) was read. */
export interface UrlByteSource extends ByteSource {
  ranged: boolean;
  whole?: Uint8Array;
}

/**
 * A URL read by Range requests. The first request asks for byte 0 to learn the size from
 * Content-Range; a server that ignores Range answers 200 with the whole body, which is then
 * kept and served from memory (still correct, just not lazy).
 */
export async function fromUrl(url: string, options: UrlSourceOptions = {}): Promise<UrlByteSource> {
  const doFetch = options.fetch ?? fetch;
  let fetched = 0;
  const get = async (range: string | null): Promise<Response> => {
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    if (range) headers.Range = range;
    const res = await doFetch(url, { headers, signal: options.signal });
    if (!res.ok) throw explainStatus(url, res.status, res.statusText);
    return res;
  };

  const firstHeaders: Record<string, string> = { ...(options.headers ?? {}), Range: 'bytes=0-0' };
  const first = await doFetch(url, { headers: firstHeaders, signal: options.signal });
  if (first.status === 416) {
    // Range not satisfiable: an empty file ("bytes */0").
    const size = /\*\/(\d+)/.exec(first.headers.get('Content-Range') ?? '');
    await first.arrayBuffer();
    if (size && Number(size[1]) === 0) return { ...fromArrayBuffer(new Uint8Array(0), url), ranged: false };
    throw explainStatus(url, 416, first.statusText);
  }
  if (!first.ok) throw explainStatus(url, first.status, first.statusText);
  if (first.status !== 206) {
    const whole = new Uint8Array(await first.arrayBuffer());
    options.onBytes?.(whole.byteLength, whole.byteLength);
    return { ...fromArrayBuffer(whole, url), ranged: false, whole };
  }
  const total = /\/(\d+)\s*$/.exec(first.headers.get('Content-Range') ?? '');
  await first.arrayBuffer();
  if (!total) throw new HttpError(url, 206, `${url}: the server answered a Range request without a usable Content-Range header`);
  const size = Number(total[1]);

  const source: UrlByteSource = {
    name: url,
    size,
    ranged: true,
    async read(offset, length) {
      checkRange(source, offset, length);
      if (length === 0) return new Uint8Array(0);
      const res = await get(`bytes=${offset}-${offset + length - 1}`);
      let body = new Uint8Array(await res.arrayBuffer());
      if (res.status === 200) body = body.subarray(offset, offset + length); // Range ignored this time
      if (body.byteLength !== length) {
        throw new HttpError(url, res.status, `${url}: asked for ${length} bytes at ${offset}, got ${body.byteLength}`);
      }
      fetched += length;
      options.onBytes?.(fetched, size);
      return body;
    },
  };
  return source;
}

/** Reads a whole source (small files only: configs, tokenizers). */
export async function readAll(source: ByteSource): Promise<Uint8Array> {
  return source.read(0, source.size);
}
