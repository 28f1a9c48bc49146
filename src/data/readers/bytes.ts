/**
 * Opening a source as a stream of UTF-8 bytes: transparent gzip (by magic bytes, whatever the extension), caps on
 * the bytes read (total, and the inflation ratio of a gzip) checked chunk by chunk as the data streams, UTF-16 with
 * a byte-order mark transcoded to UTF-8, and a look at the first bytes to refuse files that are not text.
 */
import { DatasetError } from '../errors';
import type { DataSource } from '../source';

export interface ByteLimits {
  /**
   * Most bytes of text read from one file, after decompression. Default 4 GiB (a tab cannot hold the tokens of
   * much more: ≈ 3 bytes a token).
   */
  maxTotalBytes?: number;
  /** Inflated/compressed ratio above which a gzip file is treated as a bomb, checked once past `ratioCheckAfter`. Default 200 (text gzips 3–20×; a bomb ~1000×). */
  maxInflateRatio?: number;
  /** Inflated bytes after which the ratio is checked. Default 16 MiB. */
  ratioCheckAfter?: number;
  /** Called with the number of source bytes read so far (compressed bytes for gzip), for progress against source.size. */
  onBytes?: (bytesRead: number) => void;
  /** Checked between chunks: reading stops with the signal's reason. */
  signal?: AbortSignal;
}

export const DEFAULT_BYTE_LIMITS: Required<Omit<ByteLimits, 'onBytes' | 'signal'>> = {
  maxTotalBytes: 4 * 2 ** 30,
  maxInflateRatio: 200,
  ratioCheckAfter: 16 * 2 ** 20,
};

/** Compressed bytes handed to the inflater at a time: the ratio is measured against what it has actually consumed. */
const INFLATE_PIECE = 64 * 1024;

export function isGzip(b: Uint8Array): boolean {
  return b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;
}

/** Reads a whole stream chunk by chunk; releases it when the consumer stops early. */
export async function* iterateStream(stream: ReadableStream<Uint8Array>, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader();
  let finished = false;
  try {
    for (;;) {
      signal?.throwIfAborted();
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

export interface OpenedBytes {
  gzip: boolean;
  /** The text encoding found from a byte-order mark ('utf-8' when none); UTF-16 is transcoded, so `chunks` are UTF-8. */
  encoding: 'utf-8' | 'utf-16le' | 'utf-16be';
  /** The first non-empty chunk (undefined for an empty file). */
  first: Uint8Array | undefined;
  chunks: AsyncGenerator<Uint8Array>;
}

/** The decompressed, UTF-8 bytes of a source, with the caps of `limits` enforced as they stream. */
export async function openBytes(source: DataSource, limits: ByteLimits = {}): Promise<OpenedBytes> {
  const lim = { ...DEFAULT_BYTE_LIMITS, ...definedOnly(limits) };
  const file = source.name;
  const raw = counted(iterateStream(source.stream(), limits.signal), limits.onBytes);
  const head = await raw.next();
  if (head.done) return { gzip: false, encoding: 'utf-8', first: undefined, chunks: empty() };
  const gzip = isGzip(head.value);
  let chunks: AsyncGenerator<Uint8Array> = gzip ? inflate(file, prepend(head.value, raw), lim) : capped(file, prepend(head.value, raw), lim.maxTotalBytes);
  let h = await chunks.next();
  if (h.done) return { gzip, encoding: 'utf-8', first: undefined, chunks: empty() };
  let first = h.value;
  // A BOM may straddle the first chunk boundary only in absurdly small chunks; join up to 4 bytes to look at it.
  while (first.length < 4) {
    const more = await chunks.next();
    if (more.done) break;
    first = join(first, more.value);
  }
  const encoding = byteOrderMark(file, first);
  let rest: AsyncGenerator<Uint8Array> = prepend(first, chunks);
  if (encoding !== 'utf-8') {
    rest = transcodeUtf16(file, rest, encoding);
    h = await rest.next();
    if (h.done) return { gzip, encoding, first: undefined, chunks: empty() };
    first = h.value;
    rest = prepend(first, rest);
  }
  return { gzip, encoding, first, chunks: rest };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

async function* empty(): AsyncGenerator<Uint8Array> {}

function join(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

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

function tooMuch(file: string, limit: number): DatasetError {
  return new DatasetError(
    'too-much-data',
    `the file holds more than ${fmtBytes(limit)} of text`,
    { file, byteOffset: limit },
    'split it into smaller files, or raise maxTotalBytes if this machine can hold its tokens (about 3 bytes a token)',
  );
}

async function* capped(file: string, chunks: AsyncGenerator<Uint8Array>, maxTotal: number): AsyncGenerator<Uint8Array> {
  let total = 0;
  try {
    for await (const c of chunks) {
      total += c.length;
      if (total > maxTotal) throw tooMuch(file, maxTotal);
      yield c;
    }
  } finally {
    await chunks.return(undefined);
  }
}

/**
 * Inflates through DecompressionStream, handing it INFLATE_PIECE compressed bytes at a time and waiting for each
 * write to be consumed, so `fed` is (within one piece) what the inflater has used: the ratio check means what it
 * says. (Piping the source in lets Node's implementation swallow the whole compressed file at once, and a 4 MB
 * bomb then passed the ratio check until 800 MB had come out.)
 */
async function* inflate(file: string, compressed: AsyncGenerator<Uint8Array>, lim: Required<Omit<ByteLimits, 'onBytes' | 'signal'>>): AsyncGenerator<Uint8Array> {
  const ds = new DecompressionStream('gzip') as unknown as ReadableWritablePair<Uint8Array, Uint8Array>;
  const writer = ds.writable.getWriter();
  const reader = ds.readable.getReader();
  let fed = 0;
  let inflated = 0;
  let stop = false;
  let feedError: unknown;
  const feeding = (async () => {
    try {
      for await (const chunk of compressed) {
        for (let p = 0; p < chunk.length && !stop; p += INFLATE_PIECE) {
          const piece = chunk.subarray(p, Math.min(chunk.length, p + INFLATE_PIECE));
          fed += piece.length;
          await writer.write(piece);
        }
        if (stop) return;
      }
      await writer.close();
    } catch (e) {
      feedError = e;
      await writer.abort(e).catch(() => {});
    }
  })();
  let finished = false;
  try {
    for (;;) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await reader.read();
      } catch (e) {
        finished = true;
        if (feedError) throw feedError; // the source failed (or was aborted), not the inflater
        throw new DatasetError(
          'gzip-corrupt',
          `gzip data is corrupt or truncated after ${inflated} inflated bytes (${(e as Error).message})`,
          { file, byteOffset: inflated },
          'the download or copy may be incomplete: get the file again, or decompress it with gunzip to see where it breaks',
        );
      }
      if (r.done) {
        finished = true;
        if (feedError) throw feedError;
        return;
      }
      inflated += r.value.length;
      if (inflated > lim.maxTotalBytes) throw tooMuch(file, lim.maxTotalBytes);
      if (inflated > lim.ratioCheckAfter && inflated > lim.maxInflateRatio * fed) {
        throw new DatasetError(
          'gzip-bomb',
          `gzip inflates ${Math.round(inflated / Math.max(1, fed))}× (${fmtBytes(inflated)} from the first ${fmtBytes(fed)}), above the limit of ${lim.maxInflateRatio}×; refusing a likely gzip bomb`,
          { file, byteOffset: inflated },
          'if the file is genuine, decompress it first or raise maxInflateRatio',
        );
      }
      if (r.value.length) yield r.value;
    }
  } finally {
    stop = true;
    if (!finished) await reader.cancel().catch(() => {});
    await feeding;
    await compressed.return(undefined);
  }
}

/** Which encoding a byte-order mark announces; UTF-32 and UTF-16 without a mark are refused with what to do. */
function byteOrderMark(file: string, b: Uint8Array): OpenedBytes['encoding'] {
  const saveAs = 'save the file as UTF-8 (in most editors: Save As → Encoding → UTF-8)';
  if ((b[0] === 0xff && b[1] === 0xfe && b[2] === 0 && b[3] === 0) || (b[0] === 0 && b[1] === 0 && b[2] === 0xfe && b[3] === 0xff)) {
    throw new DatasetError('encoding', 'the file is UTF-32 text (byte-order mark), which is not supported', { file, byteOffset: 0 }, saveAs);
  }
  if (b[0] === 0xff && b[1] === 0xfe) return 'utf-16le';
  if (b[0] === 0xfe && b[1] === 0xff) return 'utf-16be';
  // UTF-16 without a mark: ASCII text with a NUL in every other byte.
  const n = Math.min(b.length, 512) & ~1;
  if (n >= 8) {
    let evenNul = 0;
    let oddNul = 0;
    for (let i = 0; i < n; i += 2) {
      if (b[i] === 0) evenNul++;
      if (b[i + 1] === 0) oddNul++;
    }
    const half = n / 2;
    if ((oddNul > 0.6 * half && evenNul === 0) || (evenNul > 0.6 * half && oddNul === 0)) {
      throw new DatasetError(
        'encoding',
        `the file looks like UTF-16${oddNul > evenNul ? 'LE' : 'BE'} text without a byte-order mark, which cannot be read reliably`,
        { file, byteOffset: 0 },
        saveAs,
      );
    }
  }
  return 'utf-8';
}

/** UTF-16 (after its BOM) to UTF-8, chunk by chunk. Byte offsets of later errors count UTF-8 bytes. */
async function* transcodeUtf16(file: string, chunks: AsyncGenerator<Uint8Array>, encoding: 'utf-16le' | 'utf-16be'): AsyncGenerator<Uint8Array> {
  const decoder = new TextDecoder(encoding, { fatal: true, ignoreBOM: false });
  const encoder = new TextEncoder();
  let offset = 0;
  try {
    for await (const c of chunks) {
      let text: string;
      try {
        text = decoder.decode(c, { stream: true });
      } catch {
        throw new DatasetError('encoding', `invalid ${encoding.toUpperCase()} text (an unpaired surrogate) near byte offset ${offset} of the file`, { file, byteOffset: offset }, 'save the file as UTF-8');
      }
      offset += c.length;
      if (text) yield encoder.encode(text);
    }
    let tail: string;
    try {
      tail = decoder.decode();
    } catch {
      throw new DatasetError('encoding', `the ${encoding.toUpperCase()} file ends inside a character`, { file, byteOffset: offset }, 'the file may be truncated; save it again as UTF-8');
    }
    if (tail) yield encoder.encode(tail);
  } finally {
    await chunks.return(undefined);
  }
}

export function fmtBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(1)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

const MAGIC: [string, number[], string][] = [
  ['a ZIP archive (or .xlsx/.docx)', [0x50, 0x4b, 0x03, 0x04], 'unzip it, or export the sheet as CSV'],
  ['a PDF document', [0x25, 0x50, 0x44, 0x46], 'extract its text first (one document per paragraph in a .txt file)'],
  ['a PNG image', [0x89, 0x50, 0x4e, 0x47], 'image datasets are not supported'],
  ['a JPEG image', [0xff, 0xd8, 0xff], 'image datasets are not supported'],
  ['a Parquet file', [0x50, 0x41, 0x52, 0x31], 'rename it to .parquet'],
  ['a bzip2 archive', [0x42, 0x5a, 0x68], 'decompress it, or recompress it with gzip'],
  ['a zstd archive', [0x28, 0xb5, 0x2f, 0xfd], 'decompress it, or recompress it with gzip'],
  ['an xz archive', [0xfd, 0x37, 0x7a, 0x58, 0x5a], 'decompress it, or recompress it with gzip'],
];

/** Refuses files that are clearly not text: known magic numbers, NUL bytes in the first 8 KiB. */
export function checkText(file: string, first: Uint8Array): void {
  for (const [what, magic, hint] of MAGIC) {
    if (first.length >= magic.length && magic.every((b, i) => first[i] === b)) {
      throw new DatasetError('binary', `this is ${what}, not a text dataset`, { file, byteOffset: 0 }, hint);
    }
  }
  const n = Math.min(first.length, 8192);
  for (let i = 0; i < n; i++) {
    if (first[i] === 0) {
      throw new DatasetError(
        'binary',
        `binary file: NUL byte at byte offset ${i}`,
        { file, byteOffset: i },
        'expected UTF-8 text (JSONL, JSON, CSV, TSV, text) or Parquet',
      );
    }
  }
}
