/**
 * Typed dataset errors. Every message says which file, where in it (line, row, byte offset) and what is wrong,
 * so the UI can list them and the user can open the file at the right place.
 */

/** Short machine-readable reasons; statistics group rejected rows by these. */
export type DatasetErrorCode =
  | 'empty-file'
  | 'no-rows'
  | 'unknown-format'
  | 'binary'
  | 'gzip-bomb'
  | 'gzip-corrupt'
  | 'invalid-utf8'
  | 'line-too-long'
  | 'invalid-json'
  | 'too-deep'
  | 'not-an-object'
  | 'csv-quote'
  | 'csv-field-count'
  | 'csv-header'
  | 'parquet'
  | 'missing-column'
  | 'wrong-type'
  | 'empty-response'
  | 'empty-text'
  | 'mixed-schema'
  | 'bad-role'
  | 'schema-unknown'
  | 'no-target-tokens'
  | 'template'
  | 'option';

export interface DatasetErrorWhere {
  /** File name as the user sees it. */
  file: string;
  /** 1-based line of the file where the row starts (text formats). */
  line?: number;
  /** 1-based row (record) number: JSONL line with content, CSV record after the header, array element, Parquet row. */
  row?: number;
  /** 0-based byte offset in the (decompressed) file, where known. */
  byteOffset?: number;
}

export class DatasetError extends Error {
  readonly file: string;
  readonly line?: number;
  readonly row?: number;
  readonly byteOffset?: number;

  constructor(readonly code: DatasetErrorCode, readonly reason: string, where: DatasetErrorWhere) {
    super(`${formatWhere(where)}: ${reason}`);
    this.name = new.target.name;
    this.file = where.file;
    this.line = where.line;
    this.row = where.row;
    this.byteOffset = where.byteOffset;
  }

  /** A plain object that survives structured clone (postMessage to the UI). */
  toJSON(): DatasetErrorWhere & { code: DatasetErrorCode; reason: string; message: string } {
    return {
      code: this.code,
      reason: this.reason,
      message: this.message,
      file: this.file,
      line: this.line,
      row: this.row,
      byteOffset: this.byteOffset,
    };
  }
}

/** Reading stopped because rows were bad and the policy is not to skip them. Lists every error seen. */
export class DatasetErrorList extends Error {
  constructor(
    readonly errors: DatasetError[],
    /** True when reading stopped at the error limit before the end of the file. */
    readonly stoppedEarly: boolean,
  ) {
    const head = stoppedEarly
      ? `stopped after ${errors.length} bad rows (set onError: 'skip' to skip bad rows and count them)`
      : `${errors.length} bad row${errors.length === 1 ? '' : 's'} (set onError: 'skip' to skip bad rows and count them)`;
    super(`${head}:\n${errors.map((e) => `  ${e.message}`).join('\n')}`);
    this.name = 'DatasetErrorList';
  }
}

function formatWhere(w: DatasetErrorWhere): string {
  let s = w.file;
  if (w.line !== undefined) s += `:${w.line}`;
  const extra: string[] = [];
  if (w.row !== undefined) extra.push(`row ${w.row}`);
  if (w.byteOffset !== undefined) extra.push(`byte ${w.byteOffset}`);
  if (extra.length) s += ` (${extra.join(', ')})`;
  return s;
}
