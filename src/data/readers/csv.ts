/**
 * CSV and TSV after RFC 4180: a header row names the columns; a field in double quotes may hold the delimiter,
 * doubled quotes ("") and line breaks (kept as '\n'). A quote inside an unquoted field is taken literally, as most
 * writers produce it. Blank lines between records are ignored.
 */
import { DatasetError } from '../errors';
import { fmtBytes } from './bytes';
import { DEFAULT_MAX_RECORD_BYTES, readLines } from './lines';
import type { RowItem } from './types';

export async function* readCsv(chunks: AsyncIterable<Uint8Array>, file: string, delimiter: ',' | '\t', maxRecordBytes = DEFAULT_MAX_RECORD_BYTES): AsyncGenerator<RowItem> {
  const delimCode = delimiter.charCodeAt(0);
  let header: string[] | undefined;
  let row = 0;

  // Record in progress (spans lines while a quoted field is open).
  let fields: string[] = [];
  let field = '';
  let inQuotes = false;
  let recordLine = 0;
  let recordLen = 0;
  let broken: string | undefined; // set when the record is malformed; the rest of the record is skipped

  const endRecord = function* (this: void): Generator<RowItem> {
    const rec = fields;
    const bad = broken;
    fields = [];
    field = '';
    broken = undefined;
    recordLen = 0;
    if (!header) {
      if (bad) throw new DatasetError('csv-header', `header row is malformed: ${bad}`, { file, line: recordLine }, 'the first row must name the columns');
      const names = rec.map((s) => s.trim());
      const seen = new Set<string>();
      for (let i = 0; i < names.length; i++) {
        if (!names[i]) throw new DatasetError('csv-header', `header column ${i + 1} has no name`, { file, line: recordLine }, 'the first row must name every column');
        if (seen.has(names[i])) throw new DatasetError('csv-header', `header names column "${names[i]}" twice`, { file, line: recordLine }, 'rename one of the two columns');
        seen.add(names[i]);
      }
      header = names;
      return;
    }
    row++;
    if (bad) {
      yield { ok: false, error: new DatasetError('csv-quote', bad, { file, line: recordLine, row }, 'a quote inside a quoted field must be doubled ("")') };
      return;
    }
    if (rec.length !== header.length) {
      yield {
        ok: false,
        error: new DatasetError(
          'csv-field-count',
          `has ${rec.length} field${rec.length === 1 ? '' : 's'} but the header has ${header.length} (${header.join(', ')})`,
          { file, line: recordLine, row },
          'quote fields that contain the delimiter',
        ),
      };
      return;
    }
    const value: Record<string, unknown> = {};
    for (let i = 0; i < header.length; i++) value[header[i]] = rec[i];
    yield { ok: true, row, line: recordLine, value };
  };

  for await (const item of readLines(chunks, file, { maxRecordBytes, blank: 'runs' })) {
    if (!item.ok) {
      // A line we cannot read ends whatever record it belonged to.
      if (!header) throw item.error;
      row++;
      yield { ok: false, error: item.error.at({ row }) };
      fields = [];
      field = '';
      inQuotes = false;
      broken = undefined;
      recordLen = 0;
      continue;
    }
    const s = item.text;
    if (!inQuotes) {
      if (s.length === 0 || (s.trim() === '' && header && header.length > 1)) continue;
      recordLine = item.line;
      // Fast path: no quotes on the line.
      if (s.indexOf('"') < 0) {
        fields = s.split(delimiter);
        yield* endRecord();
        continue;
      }
    } else {
      const lines = item.blankRun ?? 1; // blank lines inside a quoted field are part of it
      field += lines === 1 ? '\n' : '\n'.repeat(Math.min(lines, maxRecordBytes + 1));
      recordLen += s.length + lines;
      if (recordLen > maxRecordBytes) {
        // Past this point nothing tells record text from the inside of the open quote: parsing on would turn the
        // rest of the file into made-up rows. The whole file is refused instead.
        throw new DatasetError(
          'csv-quote',
          `a quoted field opened in the record starting on line ${recordLine} is still open after ${fmtBytes(maxRecordBytes)} (the record cap); the rest of the file cannot be split into records`,
          { file, line: recordLine, row: row + 1 },
          'add the missing closing " (and double any quote inside a field: ""), or raise maxRecordBytes if the field is genuine',
        );
      }
    }
    recordLen += s.length;
    let i = 0;
    let atFieldStart = !inQuotes && field === '';
    while (i < s.length) {
      const c = s.charCodeAt(i);
      if (inQuotes) {
        const q = s.indexOf('"', i);
        if (q < 0) {
          field += s.slice(i);
          i = s.length;
          break;
        }
        field += s.slice(i, q);
        if (s.charCodeAt(q + 1) === 34) {
          field += '"';
          i = q + 2;
          continue;
        }
        inQuotes = false;
        i = q + 1;
        if (i < s.length && s.charCodeAt(i) !== delimCode) {
          broken ??= `unexpected character ${JSON.stringify(s[i])} after a closing quote (a quote inside a quoted field must be doubled: "")`;
          // skip to the next delimiter
          const d = s.indexOf(delimiter, i);
          i = d < 0 ? s.length : d;
        }
        continue;
      }
      if (c === delimCode) {
        fields.push(field);
        field = '';
        atFieldStart = true;
        i++;
        continue;
      }
      if (c === 34 && atFieldStart) {
        inQuotes = true;
        atFieldStart = false;
        i++;
        continue;
      }
      atFieldStart = false;
      const d = s.indexOf(delimiter, i);
      const end = d < 0 ? s.length : d;
      field += s.slice(i, end);
      i = end;
    }
    if (!inQuotes) {
      fields.push(field);
      field = '';
      yield* endRecord();
    }
  }
  if (inQuotes) {
    row++;
    yield {
      ok: false,
      error: new DatasetError('csv-quote', 'quoted field is never closed: the file ends inside quotes', { file, line: recordLine, row }, 'add the missing closing " (and double any quote inside the field)'),
    };
  }
}
