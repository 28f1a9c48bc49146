/**
 * Splitting a byte stream into lines without ever holding more than one line: LF or CRLF endings, a UTF-8 BOM
 * dropped, strict UTF-8 (an invalid sequence is an error naming its byte offset and line), and a cap on a line's
 * bytes so a line over the cap is reported (with its line number) and skipped without being buffered. Runs of blank
 * lines are passed over in one tight loop: a file (or a gzip bomb) of billions of newlines is not billions of yields.
 */
import { DatasetError } from '../errors';
import { fmtBytes } from './bytes';

export type LineItem =
  /** `blankRun`: in 'runs' mode, an empty line standing for this many consecutive blank lines. */
  | { ok: true; text: string; line: number; byteOffset: number; blankRun?: number }
  | { ok: false; error: DatasetError; line: number; byteOffset: number };

/** Default cap on one record (a line, a CSV record, a JSON array element, a text document): 8 MiB. */
export const DEFAULT_MAX_RECORD_BYTES = 8 * 2 ** 20;

export interface LineOptions {
  /** Longest line in bytes; longer ones are reported and skipped. */
  maxRecordBytes?: number;
  /** Blank lines (empty, or a lone CR): 'skip' (JSONL) yields none; 'runs' (CSV, text) yields one empty line per run, with its length. */
  blank?: 'skip' | 'runs';
}

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Index of the first byte that starts an invalid UTF-8 sequence, or -1. */
export function findInvalidUtf8(b: Uint8Array, from = 0): number {
  const n = b.length;
  let i = from;
  while (i < n) {
    const c = b[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    if (c >= 0xc2 && c <= 0xdf) {
      need = 1;
      min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      min = 0x10000;
    } else return i;
    if (i + need >= n) return i; // truncated at the end
    let cp = c & (0x3f >> need);
    for (let k = 1; k <= need; k++) {
      const d = b[i + k];
      if (d === undefined || (d & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return -1;
}

function concat(pieces: Uint8Array[], total: number): Uint8Array {
  if (pieces.length === 1) return pieces[0];
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of pieces) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function recordTooLarge(file: string, what: string, limit: number, where: { line?: number; row?: number; byteOffset?: number }): DatasetError {
  return new DatasetError(
    'record-too-large',
    `${what} is longer than the limit of ${fmtBytes(limit)} per record; it was skipped without being read`,
    { file, ...where },
    'one record per line is expected; split the record, or raise maxRecordBytes (CLI: --max-record-bytes) if it is genuine',
  );
}

export async function* readLines(chunks: AsyncIterable<Uint8Array>, file: string, opts: LineOptions = {}): AsyncGenerator<LineItem> {
  const maxLineBytes = opts.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  const blank = opts.blank;
  let pieces: Uint8Array[] = [];
  let pending = 0;
  let lineNo = 1;
  let lineStart = 0;
  let chunkOffset = 0;
  let skipping = false;

  const finish = (bytes: Uint8Array): LineItem | undefined => {
    let start = 0;
    if (lineNo === 1 && bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) start = 3;
    let end = bytes.length;
    if (end > start && bytes[end - 1] === 0x0d) end--;
    if (end === start && blank === 'skip') return undefined;
    const body = bytes.subarray(start, end);
    try {
      return { ok: true, text: decoder.decode(body), line: lineNo, byteOffset: lineStart };
    } catch {
      const bad = findInvalidUtf8(body);
      const at = lineStart + start + Math.max(0, bad);
      const error = new DatasetError(
        'invalid-utf8',
        `invalid UTF-8 at byte offset ${at} (line ${lineNo}, byte ${at - lineStart + 1} of the line)`,
        { file, line: lineNo, byteOffset: at },
        'save the file as UTF-8',
      );
      return { ok: false, error, line: lineNo, byteOffset: lineStart };
    }
  };
  const tooLong = (): LineItem => ({
    ok: false,
    error: recordTooLarge(file, 'line', maxLineBytes, { line: lineNo, byteOffset: lineStart }),
    line: lineNo,
    byteOffset: lineStart,
  });

  for await (const chunk of chunks) {
    let pos = 0;
    const n = chunk.length;
    for (;;) {
      if (blank && pending === 0 && !skipping) {
        // A run of blank lines (LF, CRLF) at the start of a line: count them without yielding each.
        let p = pos;
        let lines = 0;
        while (p < n) {
          const c = chunk[p];
          if (c === 10) {
            lines++;
            p++;
          } else if (c === 13 && p + 1 < n && chunk[p + 1] === 10) {
            lines++;
            p += 2;
          } else break;
        }
        if (lines > 0) {
          // NOTE: a run split across chunks is yielded as two runs; readers add them up.
          if (blank === 'runs') yield { ok: true, text: '', line: lineNo, byteOffset: chunkOffset + pos, blankRun: lines };
          lineNo += lines;
          lineStart = chunkOffset + p;
          pos = p;
        }
      }
      const nl = chunk.indexOf(10, pos);
      if (nl < 0) {
        const rest = n - pos;
        if (rest > 0 && !skipping) {
          if (pending + rest > maxLineBytes) {
            yield tooLong();
            skipping = true;
            pieces = [];
            pending = 0;
          } else {
            pieces.push(chunk.subarray(pos));
            pending += rest;
          }
        }
        break;
      }
      const seg = chunk.subarray(pos, nl);
      if (skipping) skipping = false;
      else if (pending + seg.length > maxLineBytes) yield tooLong();
      else {
        const item = pending ? (pieces.push(seg), finish(concat(pieces, pending + seg.length))) : finish(seg);
        if (item) yield item;
      }
      pieces = [];
      pending = 0;
      lineNo++;
      lineStart = chunkOffset + nl + 1;
      pos = nl + 1;
    }
    chunkOffset += n;
  }
  if (pending > 0 && !skipping) {
    const item = finish(concat(pieces, pending));
    if (item) yield item;
  }
}
