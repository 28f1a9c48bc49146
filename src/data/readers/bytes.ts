/**
 * Opening a source as a stream of bytes: transparent gzip (by magic bytes, whatever the extension) through
 * DecompressionStream with a running cap on inflated bytes, and a look at the first bytes to refuse binary files.
 */
import { DatasetError } from '../errors';
import type { DataSource } from '../source';

export interface ByteLimits {
  /** Hard cap on decompressed bytes of a gzip file. Default 16 GiB. */
  maxInflatedBytes?: number;
  /** Inflated/compressed ratio above which a gzip file is treated as a bomb, checked once past `ratioCheckAfter`. Default 200 (text gzips 3–20×). */
  maxInflateRatio?: number;
  /** Inflated bytes after which the ratio is checked. Default 64 MiB. */
  ratioCheckAfter?: number;
  /** Called with the number of source bytes read so far (compressed bytes for gzip), for progress against source.size. */
  onBytes?: (bytesRead: number) => void;
}

export const DEFAULT_BYTE_LIMITS: Required<Omit<ByteLimits, 'onBytes'>> = {
  maxInflatedBytes: 16 * 2 ** 30,
  maxInflateRatio: 200,
  ratioCheckAfter: 64 * 2 ** 20,
};

export function isGzip(b: Uint8Array): boolean {
  return b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;
}

/** Reads a whole stream chunk by chunk; releases it when the consumer stops early. */
export async function* iterateStream(stream: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader();
  let finished = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        finished = true;
        return;
      }
      if (value.length) yield value;
    }
  } finally {
    if (!finished) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}

/** The decompressed bytes of a source. `first` is the first non-empty chunk (undefined for an empty file). */
export async function openBytes(
  source: DataSource,
  limits: ByteLimits = {},
): Promise<{ gzip: boolean; first: Uint8Array | undefined; chunks: AsyncGenerator<Uint8Array> }> {
  const lim = { ...DEFAULT_BYTE_LIMITS, ...limits };
  const raw = counted(iterateStream(source.stream()), limits.onBytes);
  const head = await raw.next();
  if (head.done) return { gzip: false, first: undefined, chunks: empty() };
  const firstRaw = head.value;
  if (!isGzip(firstRaw)) {
    const chunks = prepend(firstRaw, raw);
    return { gzip: false, first: firstRaw, chunks };
  }
  const inflated = inflate(source.name, prepend(firstRaw, raw), lim);
  const h2 = await inflated.next();
  if (h2.done) return { gzip: true, first: undefined, chunks: empty() };
  return { gzip: true, first: h2.value, chunks: prepend(h2.value, inflated) };
}

async function* empty(): AsyncGenerator<Uint8Array> {}

async function* counted(chunks: AsyncGenerator<Uint8Array>, onBytes?: (n: number) => void): AsyncGenerator<Uint8Array> {
  if (!onBytes) return yield* chunks;
  let n = 0;
  try {
    for await (const c of chunks) {
      n += c.length;
      onBytes(n);
      yield c;
    }
  } finally {
    await chunks.return(undefined);
  }
}

async function* prepend(first: Uint8Array, rest: AsyncGenerator<Uint8Array>): AsyncGenerator<Uint8Array> {
  try {
    yield first;
    yield* rest;
  } finally {
    await rest.return(undefined);
  }
}

async function* inflate(file: string, compressed: AsyncGenerator<Uint8Array>, lim: Required<Omit<ByteLimits, 'onBytes'>>): AsyncGenerator<Uint8Array> {
  let compressedBytes = 0;
  let inflatedBytes = 0;
  const input = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const r = await compressed.next();
      if (r.done) controller.close();
      else {
        compressedBytes += r.value.length;
        controller.enqueue(r.value);
      }
    },
    async cancel() {
      await compressed.return(undefined);
    },
  });
  const out = input.pipeThrough(new DecompressionStream('gzip') as unknown as ReadableWritablePair<Uint8Array, Uint8Array>);
  const reader = out.getReader();
  let finished = false;
  try {
    for (;;) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await reader.read();
      } catch (e) {
        finished = true;
        throw new DatasetError('gzip-corrupt', `gzip data is corrupt or truncated after ${inflatedBytes} inflated bytes (${(e as Error).message})`, {
          file,
          byteOffset: inflatedBytes,
        });
      }
      if (r.done) {
        finished = true;
        return;
      }
      inflatedBytes += r.value.length;
      if (inflatedBytes > lim.maxInflatedBytes) {
        throw new DatasetError(
          'gzip-bomb',
          `gzip inflates past the limit of ${fmtBytes(lim.maxInflatedBytes)} (from ${fmtBytes(compressedBytes)} compressed); refusing a possible gzip bomb`,
          { file },
        );
      }
      if (inflatedBytes > lim.ratioCheckAfter && inflatedBytes > lim.maxInflateRatio * compressedBytes) {
        throw new DatasetError(
          'gzip-bomb',
          `gzip inflates ${Math.round(inflatedBytes / Math.max(1, compressedBytes))}× (${fmtBytes(inflatedBytes)} from ${fmtBytes(compressedBytes)}), ` +
            `above the limit of ${lim.maxInflateRatio}×; refusing a likely gzip bomb (raise maxInflateRatio if the file is genuine)`,
          { file },
        );
      }
      if (r.value.length) yield r.value;
    }
  } finally {
    if (!finished) await reader.cancel().catch(() => {});
  }
}

export function fmtBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(1)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

const MAGIC: [string, number[]][] = [
  ['a ZIP archive (or .xlsx/.docx)', [0x50, 0x4b, 0x03, 0x04]],
  ['a PDF document', [0x25, 0x50, 0x44, 0x46]],
  ['a PNG image', [0x89, 0x50, 0x4e, 0x47]],
  ['a JPEG image', [0xff, 0xd8, 0xff]],
  ['a Parquet file (rename it to .parquet)', [0x50, 0x41, 0x52, 0x31]],
  ['a bzip2 archive', [0x42, 0x5a, 0x68]],
  ['a zstd archive', [0x28, 0xb5, 0x2f, 0xfd]],
  ['an xz archive', [0xfd, 0x37, 0x7a, 0x58, 0x5a]],
];

/** Refuses files that are clearly not text: known magic numbers, NUL bytes in the first 8 KiB. */
export function checkText(file: string, first: Uint8Array): void {
  for (const [what, magic] of MAGIC) {
    if (first.length >= magic.length && magic.every((b, i) => first[i] === b)) {
      throw new DatasetError('binary', `this is ${what}, not a text dataset`, { file, byteOffset: 0 });
    }
  }
  const n = Math.min(first.length, 8192);
  for (let i = 0; i < n; i++) {
    if (first[i] === 0) {
      throw new DatasetError('binary', `binary file: NUL byte at byte offset ${i}; expected UTF-8 text (JSONL, JSON, CSV, TSV, text) or Parquet`, {
        file,
        byteOffset: i,
      });
    }
  }
}
