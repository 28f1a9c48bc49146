/**
 * A Hugging Face config.json read field by field: the file parsed strictly, then typed readers that
 * take a default when the field is missing or null and otherwise refuse a wrong value with a
 * ConfigError naming the file and the field. The decoder (hfConfig.ts) and encoder
 * (encoderConfig.ts) configurations are read through it.
 */
import { isJsonObject, parseJsonStrict } from './json';

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly field: string | null,
    readonly detail: string,
  ) {
    super(`ConfigError: ${file}${field ? `: field "${field}"` : ''}: ${detail}`);
    this.name = 'ConfigError';
  }
}

export interface ConfigFields {
  /** The parsed object. */
  readonly c: Record<string, unknown>;
  /** The field is present and not null. */
  has(k: string): boolean;
  fail(field: string | null, detail: string): never;
  /** A positive integer; missing or null takes `fallback`, or fails without one. */
  posInt(k: string, fallback?: number): number;
  nonNegInt(k: string, fallback: number): number;
  posNum(k: string, fallback: number): number;
  /** A probability in [0, 1). */
  prob(k: string, fallback: number): number;
  bool(k: string, fallback: boolean): boolean;
  /** A token id (a non-negative integer), or null when missing. */
  tokenId(k: string): number | null;
}

/** Parses `json` (text or already parsed) as a config object; throws ConfigError naming `fileName`. */
export function readConfigFields(json: unknown, fileName: string): ConfigFields {
  const fail = (field: string | null, detail: string): never => {
    throw new ConfigError(fileName, field, detail);
  };
  if (typeof json === 'string') {
    try {
      json = parseJsonStrict(json, fileName);
    } catch (e) {
      return fail(null, (e as Error).message);
    }
  }
  if (!isJsonObject(json)) return fail(null, 'config.json must be a JSON object');
  const c = json as Record<string, unknown>;
  const has = (k: string) => Object.prototype.hasOwnProperty.call(c, k) && c[k] !== undefined && c[k] !== null;
  /** The field's value if present, checked by `ok`; else the fallback (or a failure when there is none). */
  const read = <T>(k: string, fallback: T | undefined, ok: (v: unknown) => boolean, what: string): T => {
    if (!has(k)) return fallback !== undefined ? fallback : fail(k, `missing (${what} is required)`);
    const v = c[k];
    return ok(v) ? (v as T) : fail(k, `${JSON.stringify(v)} is not ${what}`);
  };
  const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);
  return {
    c,
    has,
    fail,
    posInt: (k, fallback) => read(k, fallback, (v) => isInt(v) && v > 0, 'a positive integer'),
    nonNegInt: (k, fallback) => read(k, fallback, (v) => isInt(v) && v >= 0, 'a non-negative integer'),
    posNum: (k, fallback) => read(k, fallback, (v) => typeof v === 'number' && Number.isFinite(v) && v > 0, 'a positive number'),
    prob: (k, fallback) => read(k, fallback, (v) => typeof v === 'number' && v >= 0 && v < 1, 'a probability in [0, 1)'),
    bool: (k, fallback) => read(k, fallback, (v) => typeof v === 'boolean', 'true or false'),
    tokenId: (k) => read<number | null>(k, null, (v) => isInt(v) && v >= 0, 'a token id'),
  };
}
