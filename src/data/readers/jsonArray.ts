/**
 * A JSON array of objects, streamed: the text is scanned once, element by element, so a minified array of any
 * size on a single line never sits in memory whole; each element is parsed on its own and a bad element is a row
 * error, not the end of the file. Only a broken array structure (a missing bracket) stops reading.
 */
import { DatasetError } from '../errors';
import { parseRecord } from './jsonl';
import { DEFAULT_MAX_RECORD_BYTES, findInvalidUtf8, recordTooLarge } from './lines';
import { DEFAULT_MAX_DEPTH, type RowItem } from './types';

/** Strict UTF-8 decoding of a byte stream into text chunks; an invalid sequence throws with its byte offset and line. */
export async function* decodeText(chunks: AsyncIterable<Uint8Array>, file: string): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let offset = 0;
  let lines = 1;
  let carry: Uint8Array = new Uint8Array(0); // bytes of a sequence split across chunks, for locating errors only
  for await (const chunk of chunks) {
    let text: string;
    try {
      text = decoder.decode(chunk, { stream: true });
    } catch {
      throw invalid(file, carry, chunk, offset, lines);
    }
    carry = trailingPartial(chunk);
    let p = -1;
    while ((p = chunk.indexOf(10, p + 1)) >= 0) lines++;
    offset += chunk.length;
    if (text) yield text;
  }
  try {
    const tail = decoder.decode();
    if (tail) yield tail;
  } catch {
    throw new DatasetError(
      'invalid-utf8',
      `invalid UTF-8: the file ends inside a multi-byte character at byte offset ${offset - carry.length}`,
      { file, line: lines, byteOffset: offset - carry.length },
      'the file may be truncated; save it again as UTF-8',
    );
  }
}

function trailingPartial(b: Uint8Array): Uint8Array {
  for (let k = 1; k <= 3 && k <= b.length; k++) {
    const c = b[b.length - k];
    if ((c & 0xc0) === 0xc0) return b.subarray(b.length - k);
    if ((c & 0x80) === 0) break;
  }
  return new Uint8Array(0);
}

function invalid(file: string, carry: Uint8Array, chunk: Uint8Array, offset: number, lines: number): DatasetError {
  const joined = new Uint8Array(carry.length + chunk.length);
  joined.set(carry);
  joined.set(chunk, carry.length);
  const idx = Math.max(0, findInvalidUtf8(joined));
  const at = offset - carry.length + idx;
  let line = lines;
  for (let i = carry.length; i < idx; i++) if (joined[i] === 10) line++;
  return new DatasetError('invalid-utf8', `invalid UTF-8 at byte offset ${at} (line ${line})`, { file, line, byteOffset: at }, 'save the file as UTF-8');
}

const S = { Start: 0, BeforeElem: 1, InElem: 2, AfterElem: 3, End: 4 } as const;
type State = (typeof S)[keyof typeof S];

export async function* readJsonArray(
  chunks: AsyncIterable<Uint8Array>,
  file: string,
  maxRecordBytes = DEFAULT_MAX_RECORD_BYTES,
  maxDepth = DEFAULT_MAX_DEPTH,
): AsyncGenerator<RowItem> {
  let state: State = S.Start as State;
  let line = 1;
  let row = 0;
  let parts: string[] = [];
  let partLen = 0;
  let tooBig = false;
  let elemLine = 0;
  let depth = 0;
  let inString = false;
  let escape = false;
  let scalar = false; // a top-level element that is not an object or array
  let first = true;

  const structure = (what: string): DatasetError =>
    new DatasetError('invalid-json', `JSON array is malformed: ${what}`, { file, line }, 'check the file with a JSON validator (jq . file.json)');

  const finishElem = (): RowItem => {
    row++;
    const text = parts.join('');
    const big = tooBig;
    parts = [];
    partLen = 0;
    tooBig = false;
    if (big) {
      return { ok: false, error: recordTooLarge(file, `array element ${row}`, maxRecordBytes, { line: elemLine, row }) };
    }
    return parseRecord(text, file, elemLine, row, maxDepth);
  };

  for await (let chunk of decodeText(chunks, file)) {
    if (first) {
      if (chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
      first = false;
    }
    let i = 0;
    let elemStart = state === S.InElem ? 0 : -1;
    const n = chunk.length;
    while (i < n) {
      const c = chunk.charCodeAt(i);
      if (state === S.InElem) {
        if (inString) {
          if (escape) escape = false;
          else if (c === 92) escape = true;
          else if (c === 34) {
            inString = false;
            if (scalar && depth === 0) {
              i++;
              pushPart(chunk, elemStart, i);
              yield finishElem();
              state = S.AfterElem;
              continue;
            }
          } else if (c === 10) line++;
          i++;
          continue;
        }
        if (c === 34) inString = true;
        else if (c === 123 || c === 91) depth++;
        else if (c === 125 || c === 93) {
          if (scalar && depth === 0) {
            pushPart(chunk, elemStart, i);
            yield finishElem();
            state = S.AfterElem;
            continue; // re-read ']' as AfterElem
          }
          depth--;
          if (depth === 0) {
            i++;
            pushPart(chunk, elemStart, i);
            yield finishElem();
            state = S.AfterElem;
            continue;
          }
        } else if (scalar && depth === 0 && (c === 44 || c === 32 || c === 9 || c === 10 || c === 13)) {
          pushPart(chunk, elemStart, i);
          yield finishElem();
          state = S.AfterElem;
          continue;
        } else if (c === 10) line++;
        i++;
        continue;
      }
      // Outside an element: whitespace and structure only.
      if (c === 10) {
        line++;
        i++;
        continue;
      }
      if (c === 32 || c === 9 || c === 13) {
        i++;
        continue;
      }
      if (state === S.Start) {
        if (c !== 91) throw structure(`expected "[" at the start, found ${JSON.stringify(chunk[i])} (one object per line is JSONL: name the file .jsonl)`);
        state = S.BeforeElem;
        i++;
        continue;
      }
      if (state === S.BeforeElem || state === S.AfterElem) {
        if (c === 93) {
          if (state === S.BeforeElem && row > 0) throw structure('a comma before "]"');
          state = S.End;
          i++;
          continue;
        }
        if (state === S.AfterElem) {
          if (c !== 44) throw structure(`expected "," or "]" after element ${row}, found ${JSON.stringify(chunk[i])}`);
          state = S.BeforeElem;
          i++;
          continue;
        }
        // Element starts.
        state = S.InElem;
        elemStart = i;
        elemLine = line;
        depth = 0;
        inString = false;
        escape = false;
        scalar = !(c === 123 || c === 91);
        if (c === 34) {
          inString = true;
          i++;
          continue;
        }
        continue; // re-read the first char inside the element
      }
      if (state === S.End) throw structure(`text after the closing "]": ${JSON.stringify(chunk.slice(i, i + 20))}`);
    }
    if (state === S.InElem) pushPart(chunk, elemStart, n);
  }
  if (state === S.InElem && scalar && !inString) {
    yield finishElem();
    state = S.AfterElem;
  }
  if (state === S.Start) throw new DatasetError('no-rows', 'file has no JSON content', { file }, 'a .json dataset is an array of objects, [{...}, {...}]');
  if ((state as State) !== S.End) throw structure('the file ends before the closing "]" (truncated?)');

  function pushPart(s: string, a: number, b: number): void {
    if (tooBig || b <= a) return;
    partLen += b - a;
    if (partLen > maxRecordBytes) {
      tooBig = true;
      parts = [];
      return;
    }
    parts.push(s.slice(a, b));
  }
}
