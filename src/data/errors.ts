/**
 * Typed dataset errors. Every message says which file, where in it (line, row, column, byte offset), what is wrong
 * and what to do, so the studio can list them and the CLI can print them, and the user can open the file at the
 * right place.
 */

/** Short machine-readable reasons; statistics group rejected rows by these. */
export type DatasetErrorCode =
  | 'empty-file'
  | 'no-rows'
  | 'unknown-format'
  | 'binary'
  | 'encoding'
  | 'gzip-bomb'
  | 'gzip-corrupt'
  | 'too-much-data'
  | 'invalid-utf8'
  | 'record-too-large'
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
  | 'bad-label'
  | 'schema-unknown'
  | 'schema-ambiguous'
  | 'no-target-tokens'
  | 'template'
  | 'tokenizer'
  | 'option';

export interface DatasetErrorWhere {
  /** File name as the user sees it. */
  file: string;
  /** 1-based line of the file where the row starts (text formats). */
  line?: number;
  /** 1-based row (record) number: JSONL line with content, CSV record after the header, array element, Parquet row. */
  row?: number;
  /** The column (field) at fault. */
  column?: string;
  /** 0-based byte offset in the (decompressed, UTF-8) file, where known. */
  byteOffset?: number;
}

/** A DatasetError as plain data (postMessage, JSON reports). */
export interface DatasetErrorJson {
  code: DatasetErrorCode;
  reason: string;
  hint?: string;
  message: string;
  file: string;
  line?: number;
  row?: number;
  column?: string;
  byteOffset?: number;
}

export class DatasetError extends Error {
  readonly file: string;
  readonly line?: number;
  readonly row?: number;
  readonly column?: string;
  readonly byteOffset?: number;

  /**
   * @param reason what is wrong
   * @param hint what the user can do about it (appended to the message)
   */
  constructor(
    readonly code: DatasetErrorCode,
    readonly reason: string,
    where: DatasetErrorWhere,
    readonly hint?: string,
  ) {
    // The column goes into the location only when the reason does not already name it.
    const place = where.column !== undefined && reason.includes(`"${where.column}"`) ? { ...where, column: undefined } : where;
    super(`${formatWhere(place)}: ${reason}${hint ? `; ${hint}` : ''}`);
    this.name = new.target.name;
    this.file = where.file;
    this.line = where.line;
    this.row = where.row;
    this.column = where.column;
    this.byteOffset = where.byteOffset;
  }

  /** The same error at another place (a reader's error given its row number, say). */
  at(where: Partial<DatasetErrorWhere>): DatasetError {
    return new DatasetError(
      this.code,
      this.reason,
      { file: this.file, line: this.line, row: this.row, column: this.column, byteOffset: this.byteOffset, ...where },
      this.hint,
    );
  }

  /** A plain object that survives structured clone (postMessage to the UI). */
  toJSON(): DatasetErrorJson {
    return {
      code: this.code,
      reason: this.reason,
      hint: this.hint,
      message: this.message,
      file: this.file,
      line: this.line,
      row: this.row,
      column: this.column,
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
    const skip = "to skip bad rows and count them, set onBadRows: 'skip' (CLI: --on-bad-rows skip)";
    const head = stoppedEarly ? `stopped after ${errors.length} bad rows (${skip})` : `${errors.length} bad row${errors.length === 1 ? '' : 's'} (${skip})`;
    super(`${head}:\n${errors.map((e) => `  ${e.message}`).join('\n')}`);
    this.name = 'DatasetErrorList';
  }
}

function formatWhere(w: DatasetErrorWhere): string {
  let s = w.file;
  if (w.line !== undefined) s += `:${w.line}`;
  const extra: string[] = [];
  if (w.row !== undefined) extra.push(`row ${w.row}`);
  if (w.column !== undefined) extra.push(`column "${w.column}"`);
  if (w.byteOffset !== undefined) extra.push(`byte ${w.byteOffset}`);
  if (extra.length) s += ` (${extra.join(', ')})`;
  return s;
}
