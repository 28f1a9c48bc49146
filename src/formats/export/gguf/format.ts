/**
 * GGUF v3 (ggml's file format), written and read as gguf-py's GGUFWriter / GGUFReader lay it out:
 *
 *   "GGUF" u32 version=3 | u64 tensor_count | u64 kv_count
 *   kv_count × (string key | u32 value_type | value)
 *   tensor_count × (string name | u32 n_dims | n_dims × u64 ne | u32 ggml_type | u64 offset)
 *   zero padding to `general.alignment` (32 by default)
 *   tensor data, each tensor starting at data_start + offset, offsets aligned, zero padding between
 *
 * Strings are u64 length + UTF-8 bytes (no terminator); arrays are u32 item type + u64 count +
 * items. Everything is little-endian. `ne` lists dimensions fastest-first: a PyTorch [rows, cols]
 * tensor is ne = [cols, rows]. The output is a list of parts (header, then one part per tensor and
 * padding) so a multi-GB model never needs one contiguous buffer; a Blob or a file stream joins them.
 */

export class GgufError extends Error {
  constructor(message: string) {
    super(`GgufError: ${message}`);
    this.name = 'GgufError';
  }
}

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as little-endian u32
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** gguf-py's GGUFValueType. */
export enum GgufValueType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

/** The ggml tensor types this project writes or reads (ggml.h's enum ggml_type values). */
export enum GgmlType {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q8_0 = 8,
  BF16 = 30,
}

/** Elements per block and bytes per block of each type (ggml's type traits). */
export const GGML_BLOCK: Record<GgmlType, { elements: number; bytes: number }> = {
  [GgmlType.F32]: { elements: 1, bytes: 4 },
  [GgmlType.F16]: { elements: 1, bytes: 2 },
  [GgmlType.Q4_0]: { elements: 32, bytes: 18 },
  [GgmlType.Q8_0]: { elements: 32, bytes: 34 },
  [GgmlType.BF16]: { elements: 1, bytes: 2 },
};

export type GgufScalar =
  | { type: GgufValueType.UINT8 | GgufValueType.INT8 | GgufValueType.UINT16 | GgufValueType.INT16 | GgufValueType.UINT32 | GgufValueType.INT32; value: number }
  | { type: GgufValueType.FLOAT32 | GgufValueType.FLOAT64; value: number }
  | { type: GgufValueType.UINT64 | GgufValueType.INT64; value: bigint }
  | { type: GgufValueType.BOOL; value: boolean }
  | { type: GgufValueType.STRING; value: string };

export type GgufValue = GgufScalar | { type: GgufValueType.ARRAY; itemType: Exclude<GgufValueType, GgufValueType.ARRAY>; values: (number | bigint | boolean | string)[] };

/** Shorthands for building metadata. */
export const kv = {
  u32: (value: number): GgufValue => ({ type: GgufValueType.UINT32, value }),
  i32: (value: number): GgufValue => ({ type: GgufValueType.INT32, value }),
  f32: (value: number): GgufValue => ({ type: GgufValueType.FLOAT32, value }),
  bool: (value: boolean): GgufValue => ({ type: GgufValueType.BOOL, value }),
  str: (value: string): GgufValue => ({ type: GgufValueType.STRING, value }),
  strings: (values: string[]): GgufValue => ({ type: GgufValueType.ARRAY, itemType: GgufValueType.STRING, values }),
  i32s: (values: number[]): GgufValue => ({ type: GgufValueType.ARRAY, itemType: GgufValueType.INT32, values }),
  u32s: (values: number[]): GgufValue => ({ type: GgufValueType.ARRAY, itemType: GgufValueType.UINT32, values }),
};

export interface GgufTensor {
  name: string;
  /** Dimensions fastest-first (ggml's ne). */
  ne: number[];
  type: GgmlType;
  data: Uint8Array;
}

/** Bytes a tensor of this type and shape occupies. */
export function ggmlTensorBytes(type: GgmlType, ne: number[]): number {
  const block = GGML_BLOCK[type];
  if (!block) throw new GgufError(`ggml type ${type} is not supported`);
  if (ne[0] % block.elements !== 0) throw new GgufError(`a ${GgmlType[type]} row of ${ne[0]} elements is not a multiple of the block size ${block.elements}`);
  const rows = ne.slice(1).reduce((a, b) => a * b, 1);
  return (ne[0] / block.elements) * block.bytes * rows;
}

const SCALAR_SIZE: Partial<Record<GgufValueType, number>> = {
  [GgufValueType.UINT8]: 1, [GgufValueType.INT8]: 1, [GgufValueType.UINT16]: 2, [GgufValueType.INT16]: 2,
  [GgufValueType.UINT32]: 4, [GgufValueType.INT32]: 4, [GgufValueType.FLOAT32]: 4, [GgufValueType.BOOL]: 1,
  [GgufValueType.UINT64]: 8, [GgufValueType.INT64]: 8, [GgufValueType.FLOAT64]: 8,
};

/** A little-endian byte writer that grows as needed. */
class ByteWriter {
  private buf = new Uint8Array(1 << 16);
  private dv = new DataView(this.buf.buffer);
  length = 0;
  private static enc = new TextEncoder();

  private reserve(n: number) {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.dv = new DataView(next.buffer);
  }
  u8(v: number) { this.reserve(1); this.dv.setUint8(this.length, v); this.length += 1; }
  i8(v: number) { this.reserve(1); this.dv.setInt8(this.length, v); this.length += 1; }
  u16(v: number) { this.reserve(2); this.dv.setUint16(this.length, v, true); this.length += 2; }
  i16(v: number) { this.reserve(2); this.dv.setInt16(this.length, v, true); this.length += 2; }
  u32(v: number) { this.reserve(4); this.dv.setUint32(this.length, v, true); this.length += 4; }
  i32(v: number) { this.reserve(4); this.dv.setInt32(this.length, v, true); this.length += 4; }
  f32(v: number) { this.reserve(4); this.dv.setFloat32(this.length, v, true); this.length += 4; }
  f64(v: number) { this.reserve(8); this.dv.setFloat64(this.length, v, true); this.length += 8; }
  u64(v: bigint | number) { this.reserve(8); this.dv.setBigUint64(this.length, BigInt(v), true); this.length += 8; }
  i64(v: bigint) { this.reserve(8); this.dv.setBigInt64(this.length, v, true); this.length += 8; }
  bytes(b: Uint8Array) { this.reserve(b.length); this.buf.set(b, this.length); this.length += b.length; }
  string(s: string) { const b = ByteWriter.enc.encode(s); this.u64(b.length); this.bytes(b); }
  pad(alignment: number) { const n = (alignment - (this.length % alignment)) % alignment; this.reserve(n); this.buf.fill(0, this.length, this.length + n); this.length += n; }
  result(): Uint8Array { return this.buf.slice(0, this.length); }
}

function writeScalar(w: ByteWriter, type: GgufValueType, value: number | bigint | boolean | string, key: string): void {
  const num = () => {
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new GgufError(`metadata "${key}": ${String(value)} is not a finite number`);
    return value;
  };
  switch (type) {
    case GgufValueType.UINT8: return w.u8(num());
    case GgufValueType.INT8: return w.i8(num());
    case GgufValueType.UINT16: return w.u16(num());
    case GgufValueType.INT16: return w.i16(num());
    case GgufValueType.UINT32: return w.u32(num());
    case GgufValueType.INT32: return w.i32(num());
    case GgufValueType.FLOAT32: return w.f32(num());
    case GgufValueType.FLOAT64: return w.f64(num());
    case GgufValueType.BOOL: return w.u8(value ? 1 : 0);
    case GgufValueType.STRING:
      if (typeof value !== 'string') throw new GgufError(`metadata "${key}": ${String(value)} is not a string`);
      return w.string(value);
    case GgufValueType.UINT64: return w.u64(BigInt(value as bigint));
    case GgufValueType.INT64: return w.i64(BigInt(value as bigint));
    default: throw new GgufError(`metadata "${key}": value type ${type} cannot be an array item`);
  }
}

export interface GgufWriteOptions {
  /** Tensor alignment; written as general.alignment when it differs from 32 (as gguf-py does). */
  alignment?: number;
}

/**
 * Serializes metadata and tensors into GGUF parts (concatenate them, or hand them to a Blob, for
 * the file). Keys keep their insertion order; tensor data is laid out in the given order.
 */
export function writeGguf(metadata: Map<string, GgufValue>, tensors: GgufTensor[], options: GgufWriteOptions = {}): Uint8Array[] {
  const alignment = options.alignment ?? GGUF_DEFAULT_ALIGNMENT;
  const meta = new Map(metadata);
  if (alignment !== GGUF_DEFAULT_ALIGNMENT) meta.set('general.alignment', kv.u32(alignment));
  const names = new Set<string>();
  for (const t of tensors) {
    if (names.has(t.name)) throw new GgufError(`duplicate tensor name "${t.name}"`);
    names.add(t.name);
    const expected = ggmlTensorBytes(t.type, t.ne);
    if (t.data.byteLength !== expected) throw new GgufError(`tensor "${t.name}": ${GgmlType[t.type]} ${JSON.stringify(t.ne)} needs ${expected} bytes, got ${t.data.byteLength}`);
  }

  const w = new ByteWriter();
  w.u32(GGUF_MAGIC);
  w.u32(GGUF_VERSION);
  w.u64(tensors.length);
  w.u64(meta.size);
  for (const [key, v] of meta) {
    w.string(key);
    w.u32(v.type);
    if (v.type === GgufValueType.ARRAY) {
      w.u32(v.itemType);
      w.u64(v.values.length);
      for (const item of v.values) writeScalar(w, v.itemType, item, key);
    } else writeScalar(w, v.type, v.value, key);
  }
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    w.string(t.name);
    w.u32(t.ne.length);
    for (const d of t.ne) w.u64(d);
    w.u32(t.type);
    w.u64(offset);
    offsets.push(offset);
    offset += t.data.byteLength;
    offset += (alignment - (offset % alignment)) % alignment;
  }
  w.pad(alignment);
  const parts: Uint8Array[] = [w.result()];
  for (const t of tensors) {
    parts.push(t.data);
    const pad = (alignment - (t.data.byteLength % alignment)) % alignment;
    if (pad) parts.push(new Uint8Array(pad));
  }
  return parts;
}

// ---------------------------------------------------------------- reader (validator for our own tests and tools)

export interface GgufTensorInfo {
  name: string;
  ne: number[];
  type: GgmlType;
  /** Absolute byte offset of the data in the file. */
  offset: number;
  size: number;
}

export interface GgufFile {
  version: number;
  metadata: Map<string, GgufValue>;
  tensors: GgufTensorInfo[];
  alignment: number;
  dataStart: number;
  /** Raw bytes of a tensor. */
  tensorData(name: string): Uint8Array;
}

/** Plain JS value of a metadata entry (arrays become arrays). */
export function ggufPlain(v: GgufValue | undefined): unknown {
  if (!v) return undefined;
  return v.type === GgufValueType.ARRAY ? v.values : v.value;
}

/**
 * Parses and validates a whole GGUF file: magic, version 3, every key and tensor header inside the
 * file, no duplicate keys or tensor names, known tensor types, offsets aligned, increasing, in
 * bounds and not overlapping, and sizes matching the shapes.
 */
export function readGguf(bytes: Uint8Array): GgufFile {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dec = new TextDecoder('utf-8', { fatal: true });
  let p = 0;
  const need = (n: number, what: string) => {
    if (p + n > bytes.byteLength) throw new GgufError(`truncated file: ${what} at byte ${p} needs ${n} bytes, the file has ${bytes.byteLength}`);
  };
  const u8 = () => { need(1, 'u8'); return dv.getUint8(p++); };
  const u32 = () => { need(4, 'u32'); const v = dv.getUint32(p, true); p += 4; return v; };
  const u64n = (what: string) => {
    need(8, what);
    const v = dv.getBigUint64(p, true);
    p += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new GgufError(`${what} ${v} is too large`);
    return Number(v);
  };
  const str = (what: string) => {
    const n = u64n(`${what} length`);
    need(n, what);
    const s = dec.decode(bytes.subarray(p, p + n));
    p += n;
    return s;
  };
  const scalar = (type: GgufValueType, key: string): number | bigint | boolean | string => {
    switch (type) {
      case GgufValueType.UINT8: return u8();
      case GgufValueType.INT8: need(1, key); return dv.getInt8(p++);
      case GgufValueType.UINT16: { need(2, key); const v = dv.getUint16(p, true); p += 2; return v; }
      case GgufValueType.INT16: { need(2, key); const v = dv.getInt16(p, true); p += 2; return v; }
      case GgufValueType.UINT32: return u32();
      case GgufValueType.INT32: { need(4, key); const v = dv.getInt32(p, true); p += 4; return v; }
      case GgufValueType.FLOAT32: { need(4, key); const v = dv.getFloat32(p, true); p += 4; return v; }
      case GgufValueType.FLOAT64: { need(8, key); const v = dv.getFloat64(p, true); p += 8; return v; }
      case GgufValueType.BOOL: { const b = u8(); if (b > 1) throw new GgufError(`metadata "${key}": bool byte ${b}`); return b === 1; }
      case GgufValueType.STRING: return str(`metadata "${key}" string`);
      case GgufValueType.UINT64: { need(8, key); const v = dv.getBigUint64(p, true); p += 8; return v; }
      case GgufValueType.INT64: { need(8, key); const v = dv.getBigInt64(p, true); p += 8; return v; }
      default: throw new GgufError(`metadata "${key}": unknown value type ${type}`);
    }
  };

  if (u32() !== GGUF_MAGIC) throw new GgufError('not a GGUF file (bad magic)');
  const version = u32();
  if (version !== GGUF_VERSION) throw new GgufError(`GGUF version ${version}; only version 3 is supported`);
  const tensorCount = u64n('tensor count');
  const kvCount = u64n('kv count');
  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < kvCount; i++) {
    const key = str('key');
    if (metadata.has(key)) throw new GgufError(`duplicate metadata key "${key}"`);
    const type = u32() as GgufValueType;
    if (type === GgufValueType.ARRAY) {
      const itemType = u32() as GgufValueType;
      if (itemType === GgufValueType.ARRAY) throw new GgufError(`metadata "${key}": nested arrays are not supported`);
      const n = u64n(`metadata "${key}" array length`);
      const values: (number | bigint | boolean | string)[] = [];
      const size = SCALAR_SIZE[itemType];
      if (size !== undefined) need(n * size, `metadata "${key}" array`);
      for (let j = 0; j < n; j++) values.push(scalar(itemType, key));
      metadata.set(key, { type, itemType: itemType as Exclude<GgufValueType, GgufValueType.ARRAY>, values });
    } else {
      metadata.set(key, { type, value: scalar(type, key) } as GgufValue);
    }
  }
  const alignV = metadata.get('general.alignment');
  const alignment = alignV ? Number(ggufPlain(alignV)) : GGUF_DEFAULT_ALIGNMENT;
  if (!Number.isInteger(alignment) || alignment <= 0 || (alignment & (alignment - 1)) !== 0) throw new GgufError(`general.alignment ${alignment} is not a power of two`);

  const raw: { name: string; ne: number[]; type: GgmlType; rel: number }[] = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const name = str('tensor name');
    if (names.has(name)) throw new GgufError(`duplicate tensor "${name}"`);
    names.add(name);
    const nDims = u32();
    if (nDims < 1 || nDims > 4) throw new GgufError(`tensor "${name}": ${nDims} dimensions (1–4 allowed)`);
    const ne: number[] = [];
    for (let d = 0; d < nDims; d++) ne.push(u64n(`tensor "${name}" dim`));
    const type = u32() as GgmlType;
    if (!(type in GGML_BLOCK)) throw new GgufError(`tensor "${name}": ggml type ${type} is not one this reader knows (F32, F16, BF16, Q4_0, Q8_0)`);
    const rel = u64n(`tensor "${name}" offset`);
    if (rel % alignment !== 0) throw new GgufError(`tensor "${name}": offset ${rel} is not a multiple of the alignment ${alignment}`);
    raw.push({ name, ne, type, rel });
  }
  const dataStart = p + ((alignment - (p % alignment)) % alignment);
  const tensors: GgufTensorInfo[] = raw.map((t) => ({ name: t.name, ne: t.ne, type: t.type, offset: dataStart + t.rel, size: ggmlTensorBytes(t.type, t.ne) }));
  const sorted = [...tensors].sort((a, b) => a.offset - b.offset);
  for (let i = 0; i < sorted.length; i++) {
    const t = sorted[i];
    if (t.offset + t.size > bytes.byteLength) throw new GgufError(`tensor "${t.name}": data [${t.offset}, ${t.offset + t.size}) runs past the end of the file (${bytes.byteLength})`);
    if (i > 0 && sorted[i - 1].offset + sorted[i - 1].size > t.offset) throw new GgufError(`tensors "${sorted[i - 1].name}" and "${t.name}" overlap`);
  }
  const byName = new Map(tensors.map((t) => [t.name, t]));
  return {
    version,
    metadata,
    tensors,
    alignment,
    dataStart,
    tensorData(name: string) {
      const t = byName.get(name);
      if (!t) throw new GgufError(`no tensor "${name}"`);
      return bytes.subarray(t.offset, t.offset + t.size);
    },
  };
}

/** Joins parts into one buffer (tests and small files). */
export function concatParts(parts: Uint8Array[]): Uint8Array {
  const total = parts.reduce((a, p) => a + p.byteLength, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}
