/**
 * safetensors: a strict reader (every rule of the reference parser, DESIGN.md §4) and a writer
 * that lays files out byte for byte as the reference writer (Python `safetensors.torch.save_file`).
 *
 * Layout: u64 little-endian header length N, N bytes of UTF-8 JSON, then the tensor data.
 */
import { type ByteSource, fromArrayBuffer } from './byteSource';
import { toF32 } from './dtype';
import { JsonError, isJsonObject, parseJsonStrict } from './json';

/** Headers larger than this are refused before anything is allocated (the reference's limit). */
export const MAX_HEADER_SIZE = 100_000_000;

/** Bits per element; the order is the reference's Dtype enum order (used by the writer's sort). */
const DTYPE_BITS = {
  BOOL: 8,
  F4: 4,
  F6_E2M3: 6,
  F6_E3M2: 6,
  U8: 8,
  I8: 8,
  F8_E5M2: 8,
  F8_E4M3: 8,
  F8_E8M0: 8,
  I16: 16,
  U16: 16,
  F16: 16,
  BF16: 16,
  I32: 32,
  U32: 32,
  F32: 32,
  F64: 64,
  I64: 64,
  U64: 64,
} as const;

export type Dtype = keyof typeof DTYPE_BITS;
export const DTYPES = Object.keys(DTYPE_BITS) as Dtype[];
const DTYPE_RANK = new Map(DTYPES.map((d, i) => [d, i]));

export function isDtype(x: unknown): x is Dtype {
  return typeof x === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_BITS, x);
}

/** Bytes per element of a whole-byte dtype. */
export function dtypeSize(dtype: Dtype): number {
  return DTYPE_BITS[dtype] / 8;
}

/** Which rule a file broke. Stable identifiers: tests and callers match on them. */
export type SafetensorsRule =
  | 'header-too-small'
  | 'header-too-large'
  | 'header-beyond-file'
  | 'header-not-utf8'
  | 'header-not-json'
  | 'header-not-object'
  | 'entry-not-object'
  | 'unknown-dtype'
  | 'bad-shape'
  | 'bad-offsets'
  | 'size-overflow'
  | 'size-mismatch'
  | 'offset-not-zero'
  | 'offset-gap'
  | 'offset-overlap'
  | 'duplicate-name'
  | 'bad-metadata'
  | 'data-size-mismatch'
  | 'unknown-tensor'
  | 'rows-out-of-range'
  | 'not-float';

export class SafetensorsError extends Error {
  constructor(
    readonly file: string,
    readonly rule: SafetensorsRule,
    readonly detail: string,
    readonly tensor?: string,
  ) {
    super(`SafetensorsError: ${file}: ${tensor !== undefined ? `tensor "${tensor}": ` : ''}${detail} [${rule}]`);
    this.name = 'SafetensorsError';
  }
}

export interface TensorInfo {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** [begin, end) relative to the start of the data section. */
  dataOffsets: [number, number];
}

export interface SafetensorsHeader {
  headerLength: number;
  /** Absolute offset of the data section: 8 + headerLength. */
  dataStart: number;
  /** Tensors sorted by their data offset. */
  tensors: TensorInfo[];
  metadata: Record<string, string> | null;
}

/**
 * Validates the header bytes of a file of `fileSize` bytes. `headerBytes` are the N bytes after the
 * 8-byte length prefix.
 */
export function parseHeader(headerBytes: Uint8Array, fileSize: number, file = 'safetensors'): SafetensorsHeader {
  const fail = (rule: SafetensorsRule, detail: string, tensor?: string): never => {
    throw new SafetensorsError(file, rule, detail, tensor);
  };
  const headerLength = headerBytes.byteLength;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    return fail('header-not-utf8', 'the header is not valid UTF-8');
  }
  if (headerBytes[0] !== 0x7b) return fail('header-not-object', 'the header does not start with "{"');
  let json: unknown;
  try {
    json = parseJsonStrict(text);
  } catch (e) {
    if (e instanceof JsonError && e.reason.startsWith('duplicate key')) {
      const m = /^duplicate key "(.*)"$/s.exec(e.reason);
      return fail('duplicate-name', `the header names this tensor twice (line ${e.line}, column ${e.column})`, m?.[1]);
    }
    return fail('header-not-json', `the header is not JSON: ${(e as Error).message}`);
  }
  if (!isJsonObject(json)) return fail('header-not-object', 'the header is JSON but not an object');

  let metadata: Record<string, string> | null = null;
  const tensors: TensorInfo[] = [];
  for (const name of Object.keys(json)) {
    const entry = json[name];
    if (name === '__metadata__') {
      if (!isJsonObject(entry)) return fail('bad-metadata', '__metadata__ must be an object of strings');
      metadata = {};
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== 'string') return fail('bad-metadata', `__metadata__["${k}"] is ${JSON.stringify(v)}, not a string`);
        Object.defineProperty(metadata, k, { value: v, enumerable: true, writable: true, configurable: true });
      }
      continue;
    }
    if (!isJsonObject(entry)) return fail('entry-not-object', 'entry is not an object', name);
    const { dtype, shape, data_offsets: offsets } = entry;
    if (!isDtype(dtype)) {
      return fail('unknown-dtype', `unknown dtype ${JSON.stringify(dtype)} (known: ${DTYPES.join(', ')})`, name);
    }
    if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && Number.isInteger(d) && d >= 0)) {
      return fail('bad-shape', `shape ${JSON.stringify(shape)} is not a list of non-negative integers`, name);
    }
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)
    ) {
      return fail('bad-offsets', `data_offsets ${JSON.stringify(offsets)} is not a pair of non-negative integers`, name);
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin) return fail('bad-offsets', `data_offsets [${begin}, ${end}] end before they begin`, name);
    // Checked arithmetic in BigInt: a shape product that overflows u64 (or JS's safe range) is an error.
    let bits = BigInt(DTYPE_BITS[dtype]);
    for (const d of shape as number[]) {
      if (!Number.isSafeInteger(d)) return fail('size-overflow', `dimension ${d} is too large`, name);
      bits *= BigInt(d);
      if (bits > BigInt(Number.MAX_SAFE_INTEGER) * 8n) {
        return fail('size-overflow', `shape ${JSON.stringify(shape)} × ${dtype} overflows`, name);
      }
    }
    if (bits % 8n !== 0n) return fail('size-mismatch', `shape ${JSON.stringify(shape)} of ${dtype} is not a whole number of bytes`, name);
    const need = Number(bits / 8n);
    if (end - begin !== need) {
      return fail('size-mismatch', `data_offsets [${begin}, ${end}] but ${dtype} ${JSON.stringify(shape)} needs ${need} bytes`, name);
    }
    tensors.push({ name, dtype, shape: shape as number[], dataOffsets: [begin, end] });
  }

  tensors.sort((a, b) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]);
  let cursor = 0;
  for (const t of tensors) {
    const [begin, end] = t.dataOffsets;
    if (begin !== cursor) {
      if (cursor === 0) return fail('offset-not-zero', `data starts at ${begin}, not 0`, t.name);
      if (begin > cursor) return fail('offset-gap', `begins at ${begin} but the previous tensor ends at ${cursor}: a gap`, t.name);
      return fail('offset-overlap', `begins at ${begin} but the previous tensor ends at ${cursor}: they overlap`, t.name);
    }
    cursor = end;
  }
  const dataStart = 8 + headerLength;
  if (dataStart + cursor !== fileSize) {
    const diff = fileSize - dataStart - cursor;
    return fail(
      'data-size-mismatch',
      diff > 0
        ? `the tensors cover ${cursor} data bytes but the file has ${diff} trailing bytes after them`
        : `the tensors need ${cursor} data bytes but the file holds only ${fileSize - dataStart}`,
    );
  }
  return { headerLength, dataStart, tensors, metadata };
}

/** Reads the length prefix and checks it against the file size before anything else is read. */
export function checkHeaderLength(prefix: Uint8Array, fileSize: number, file: string): number {
  if (fileSize < 8) throw new SafetensorsError(file, 'header-too-small', `the file has ${fileSize} bytes, fewer than the 8-byte length prefix`);
  const view = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_SIZE)) {
    throw new SafetensorsError(file, 'header-too-large', `header length ${n} is above the ${MAX_HEADER_SIZE}-byte limit`);
  }
  const len = Number(n);
  if (8 + len > fileSize) {
    throw new SafetensorsError(file, 'header-beyond-file', `header length ${len} runs past the end of the ${fileSize}-byte file`);
  }
  return len;
}

/** An opened safetensors file: validated header, tensors read on demand. */
export class SafetensorsFile {
  private readonly byName: Map<string, TensorInfo>;

  private constructor(
    readonly source: ByteSource,
    readonly header: SafetensorsHeader,
  ) {
    this.byName = new Map(header.tensors.map((t) => [t.name, t]));
  }

  /** Reads and validates the header (two reads: the 8-byte prefix, then the header). */
  static async open(source: ByteSource): Promise<SafetensorsFile> {
    if (source.size < 8) checkHeaderLength(new Uint8Array(8), source.size, source.name);
    const len = checkHeaderLength(await source.read(0, 8), source.size, source.name);
    const headerBytes = await source.read(8, len);
    return new SafetensorsFile(source, parseHeader(headerBytes, source.size, source.name));
  }

  get names(): string[] {
    return this.header.tensors.map((t) => t.name);
  }

  get metadata(): Record<string, string> | null {
    return this.header.metadata;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  info(name: string): TensorInfo {
    const t = this.byName.get(name);
    if (!t) throw new SafetensorsError(this.source.name, 'unknown-tensor', 'no such tensor in the file', name);
    return t;
  }

  /** The tensor's raw little-endian bytes. */
  async readBytes(name: string): Promise<Uint8Array> {
    const t = this.info(name);
    const [begin, end] = t.dataOffsets;
    return this.source.read(this.header.dataStart + begin, end - begin);
  }

  /**
   * Raw bytes of rows [row0, row0 + count) of a tensor, rows being its first dimension (a ranged
   * read: a large tensor streams without ever being whole in memory).
   */
  async readRows(name: string, row0: number, count: number): Promise<Uint8Array> {
    const t = this.info(name);
    const [begin, end] = t.dataOffsets;
    const rows = t.shape.length ? t.shape[0] : 1;
    if (!Number.isInteger(row0) || !Number.isInteger(count) || row0 < 0 || count < 0 || row0 + count > rows) {
      throw new SafetensorsError(this.source.name, 'rows-out-of-range', `rows ${row0}..${row0 + count - 1} are outside its ${rows} rows`, name);
    }
    const rowBytes = rows > 0 ? (end - begin) / rows : 0;
    return this.source.read(this.header.dataStart + begin + row0 * rowBytes, count * rowBytes);
  }

  /** The tensor as f32 values (BF16, F16, F32 and F64 tensors). */
  async readF32(name: string): Promise<Float32Array> {
    const t = this.info(name);
    if (t.dtype !== 'BF16' && t.dtype !== 'F16' && t.dtype !== 'F32' && t.dtype !== 'F64') {
      throw new SafetensorsError(this.source.name, 'not-float', `dtype ${t.dtype} is not a float type (BF16, F16, F32 or F64)`, name);
    }
    return toF32(t.dtype, await this.readBytes(name));
  }
}

/** Opens a whole file held in memory. */
export function openSafetensors(data: ArrayBuffer | Uint8Array | ByteSource, name?: string): Promise<SafetensorsFile> {
  const source = data instanceof ArrayBuffer || data instanceof Uint8Array ? fromArrayBuffer(data, name ?? 'buffer') : data;
  return SafetensorsFile.open(source);
}

export interface TensorToWrite {
  dtype: Dtype;
  shape: number[];
  /** Little-endian bytes, exactly numel × dtype size. */
  data: Uint8Array;
}

/** A tensor's entry in a header being written: its bytes come later (a streaming writer). */
export interface TensorEntry {
  name: string;
  dtype: Dtype;
  shape: number[];
}

/**
 * The header of a safetensors file as the reference writer lays it out: entries sorted by dtype
 * (widest first, in the reference's enum order) then by name, `__metadata__` first, compact JSON,
 * padded with spaces to a multiple of 8. Returns the 8-byte length prefix and the header, the
 * tensors in the order their bytes follow (no padding between them), and the bytes of data.
 */
export function safetensorsHeader(entries: readonly TensorEntry[], metadata: Record<string, string> | null = { format: 'pt' }): { prefix: Uint8Array; order: (TensorEntry & { byteLength: number })[]; dataBytes: number } {
  const sorted = [...entries].sort((a, b) => DTYPE_RANK.get(b.dtype)! - DTYPE_RANK.get(a.dtype)! || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const parts: string[] = [];
  if (metadata) parts.push(`"__metadata__":${JSON.stringify(metadata)}`);
  let offset = 0;
  const order: (TensorEntry & { byteLength: number })[] = [];
  for (const t of sorted) {
    if (t.name === '__metadata__') throw new SafetensorsError('writer', 'bad-metadata', 'a tensor may not be named __metadata__', t.name);
    let bits = BigInt(DTYPE_BITS[t.dtype]);
    for (const d of t.shape) bits *= BigInt(d);
    if (bits % 8n !== 0n) throw new SafetensorsError('writer', 'size-mismatch', `${t.dtype} ${JSON.stringify(t.shape)} is not a whole number of bytes`, t.name);
    const byteLength = Number(bits / 8n);
    parts.push(`${JSON.stringify(t.name)}:{"dtype":"${t.dtype}","shape":${JSON.stringify(t.shape)},"data_offsets":[${offset},${offset + byteLength}]}`);
    order.push({ ...t, byteLength });
    offset += byteLength;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const headerBytes = Math.ceil(json.byteLength / 8) * 8;
  const prefix = new Uint8Array(8 + headerBytes).fill(0x20);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(headerBytes), true);
  prefix.set(json, 8);
  return { prefix, order, dataBytes: offset };
}

/** Serializes tensors as the reference writer does (safetensorsHeader, then each tensor's bytes). */
export function serializeSafetensors(
  tensors: Map<string, TensorToWrite> | Record<string, TensorToWrite>,
  metadata: Record<string, string> | null = { format: 'pt' },
): Uint8Array {
  const byName = new Map(tensors instanceof Map ? tensors : Object.entries(tensors));
  const { prefix, order, dataBytes } = safetensorsHeader([...byName].map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape })), metadata);
  const out = new Uint8Array(prefix.byteLength + dataBytes);
  out.set(prefix);
  let at = prefix.byteLength;
  for (const e of order) {
    const data = byName.get(e.name)!.data;
    if (data.byteLength !== e.byteLength) {
      throw new SafetensorsError('writer', 'size-mismatch', `${data.byteLength} bytes given for ${e.dtype} ${JSON.stringify(e.shape)}`, e.name);
    }
    out.set(data, at);
    at += data.byteLength;
  }
  return out;
}

/** Convenience: f32 tensors → an F32 safetensors file. */
export function serializeF32(tensors: Map<string, { shape: number[]; data: Float32Array }>, metadata: Record<string, string> | null = { format: 'pt' }): Uint8Array {
  const out = new Map<string, TensorToWrite>();
  for (const [name, t] of tensors) {
    out.set(name, { dtype: 'F32', shape: t.shape, data: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) });
  }
  return serializeSafetensors(out, metadata);
}
