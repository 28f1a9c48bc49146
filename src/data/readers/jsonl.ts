/** JSON Lines: one JSON object per line; blank lines are ignored. */
import { DatasetError } from '../errors';
import { readLines } from './lines';
import { DEFAULT_MAX_DEPTH, describeJson, jsonDepth, type RowItem } from './types';

export async function* readJsonl(chunks: AsyncIterable<Uint8Array>, file: string, maxRecordBytes?: number, maxDepth = DEFAULT_MAX_DEPTH): AsyncGenerator<RowItem> {
  let row = 0;
  for await (const item of readLines(chunks, file, { maxRecordBytes, blank: 'skip' })) {
    if (!item.ok) {
      row++;
      yield { ok: false, error: item.error.at({ row }) };
      continue;
    }
    const text = item.text;
    if (isBlank(text)) continue;
    row++;
    yield parseRecord(text, file, item.line, row, maxDepth);
  }
}

export function parseRecord(text: string, file: string, line: number | undefined, row: number, maxDepth: number): RowItem {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    const hint = text.length > 60 ? `${text.slice(0, 60)}…` : text;
    return {
      ok: false,
      error: new DatasetError('invalid-json', `invalid JSON: ${(e as Error).message} in ${JSON.stringify(hint)}`, { file, line, row }, 'fix or delete the line (each line must be one JSON object)'),
    };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return {
      ok: false,
      error: new DatasetError('not-an-object', `expected a JSON object with named fields, got ${describeJson(value)}`, { file, line, row }, 'each record must be an object such as {"text": "..."}'),
    };
  }
  const depth = jsonDepth(value, maxDepth);
  if (depth > maxDepth) {
    return { ok: false, error: new DatasetError('too-deep', `JSON nested deeper than ${maxDepth} levels; no dataset schema needs that`, { file, line, row }, 'flatten the record') };
  }
  return { ok: true, row, line, value: value as Record<string, unknown> };
}

export function isBlank(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 13 && c !== 10 && c !== 0xfeff) return false;
  }
  return true;
}
