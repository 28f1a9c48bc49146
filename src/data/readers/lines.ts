/**
 * Splitting a byte stream into lines without ever holding more than one line: LF or CRLF endings, a UTF-8 BOM
 * dropped, strict UTF-8 (an invalid sequence is an error naming its byte offset and line), and a cap on line
 * length so a single multi-gigabyte line is reported and skipped rather than buffered.
 */
import { DatasetError } from '../errors';
import { fmtBytes } from './bytes';

export type LineItem =
  | { ok: true; text: string; line: number; byteOffset: number }
  | { ok: false; error: DatasetError; line: number; byteOffset: number };

export const DEFAULT_MAX_LINE_BYTES = 64 * 2 ** 20;

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

export async function* readLines(chunks: AsyncIterable<Uint8Array>, file: string, maxLineBytes = DEFAULT_MAX_LINE_BYTES): AsyncGenerator<LineItem> {
  let pieces: Uint8Array[] = [];
  let pending = 0;
  let lineNo = 1;
  let lineStart = 0;
  let chunkOffset = 0;
  let skipping = false;

  const finish = (bytes: Uint8Array): LineItem => {
    let start = 0;
    if (lineNo === 1 && bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) start = 3;
    let end = bytes.length;
    if (end > start && bytes[end - 1] === 0x0d) end--;
    const body = bytes.subarray(start, end);
    try {
      return { ok: true, text: decoder.decode(body), line: lineNo, byteOffset: lineStart };
    } catch {
      const bad = findInvalidUtf8(body);
      const at = lineStart + start + Math.max(0, bad);
      const error = new DatasetError(
        'invalid-utf8',
        `invalid UTF-8 at byte offset ${at} (line ${lineNo}, byte ${at - lineStart + 1} of the line); save the file as UTF-8`,
        { file, line: lineNo, byteOffset: at },
      );
      return { ok: false, error, line: lineNo, byteOffset: lineStart };
    }
  };
  const tooLong = (): LineItem => ({
    ok: false,
    error: new DatasetError(
      'line-too-long',
      `line is longer than the limit of ${fmtBytes(maxLineBytes)}; the rest of it is skipped (one record per line is expected; raise maxLineBytes if it is genuine)`,
      { file, line: lineNo, byteOffset: lineStart },
    ),
    line: lineNo,
    byteOffset: lineStart,
  });

  for await (const chunk of chunks) {
    let pos = 0;
    for (;;) {
      const nl = chunk.indexOf(10, pos);
      if (nl < 0) {
        const rest = chunk.length - pos;
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
        if (pending) {
          pieces.push(seg);
          yield finish(concat(pieces, pending + seg.length));
        } else yield finish(seg);
      }
      pieces = [];
      pending = 0;
      lineNo++;
      lineStart = chunkOffset + nl + 1;
      pos = nl + 1;
    }
    chunkOffset += chunk.length;
  }
  if (pending > 0 && !skipping) yield finish(concat(pieces, pending));
}
