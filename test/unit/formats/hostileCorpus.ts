/**
 * Builds the hostile safetensors corpus: each case is a file that breaks one rule of the reference
 * parser, with the rule our reader must report. Generated here, never hand-edited bytes on disk.
 */
import type { SafetensorsRule } from '../../../src/formats/safetensors';

export interface HostileCase {
  name: string;
  bytes: Uint8Array;
  rule: SafetensorsRule;
  /** The tensor the error must name, when the rule is about one tensor. */
  tensor?: string;
}

const enc = new TextEncoder();

/** A file from raw header bytes, a declared header length, and data. */
export function rawFile(header: Uint8Array, data: Uint8Array | number = 0, declaredLength: bigint = BigInt(header.byteLength)): Uint8Array {
  const dataBytes = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + header.byteLength + dataBytes.byteLength);
  new DataView(out.buffer).setBigUint64(0, declaredLength, true);
  out.set(header, 8);
  out.set(dataBytes, 8 + header.byteLength);
  return out;
}

/** A file whose header is `json` (text), followed by `data` bytes. */
export function jsonFile(json: string, data: number = 0): Uint8Array {
  return rawFile(enc.encode(json), data);
}

const t = (dtype: string, shape: unknown, offsets: unknown) => JSON.stringify({ dtype, shape, data_offsets: offsets });

export function hostileCorpus(): HostileCase[] {
  const cases: HostileCase[] = [];
  const add = (name: string, bytes: Uint8Array, rule: SafetensorsRule, tensor?: string) => cases.push({ name, bytes, rule, tensor });

  add('empty file', new Uint8Array(0), 'header-too-small');
  add('7 bytes', new Uint8Array(7), 'header-too-small');
  add('header length 2^63', rawFile(enc.encode('{}'), 0, 2n ** 63n), 'header-too-large');
  add('header length 2^64-1', rawFile(enc.encode('{}'), 0, 2n ** 64n - 1n), 'header-too-large');
  add('header length just above the 100 MB limit', rawFile(enc.encode('{}'), 0, 100_000_001n), 'header-too-large');
  add('header longer than the file', rawFile(enc.encode('{}'), 0, 4096n), 'header-beyond-file');
  add('header length one past the end', rawFile(enc.encode('{}'), 0, 3n), 'header-beyond-file');
  add('zero-length header', rawFile(new Uint8Array(0)), 'header-not-object');
  add('invalid UTF-8 byte 0xff', rawFile(new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d, 0x20])), 'header-not-utf8');
  add('UTF-8 encoded surrogate', rawFile(new Uint8Array([0x7b, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x3a, 0x31, 0x7d])), 'header-not-utf8');
  add('overlong UTF-8 encoding of "{"', rawFile(new Uint8Array([0xc1, 0xbb, 0x7d])), 'header-not-utf8');
  add('truncated JSON', jsonFile('{"a":{"dtype":"F32",'), 'header-not-json');
  add('JSON array', jsonFile('[1,2,3]'), 'header-not-object');
  add('JSON string', jsonFile('"weights"'), 'header-not-object');
  add('leading whitespace before the object', jsonFile('  {}'), 'header-not-object');
  add('garbage after the object', jsonFile('{}  x'), 'header-not-json');
  add('control character inside a string', jsonFile('{"a\u0001":{}}'), 'header-not-json');
  add('nesting 100000 deep', jsonFile(`{"__metadata__":${'['.repeat(100_000)}`), 'header-not-json');
  add('entry is a number', jsonFile('{"w":5}'), 'entry-not-object', 'w');
  add('unknown dtype F128', jsonFile(`{"w":${t('F128', [1], [0, 16])}}`, 16), 'unknown-dtype', 'w');
  add('lowercase dtype', jsonFile(`{"w":${t('f32', [1], [0, 4])}}`, 4), 'unknown-dtype', 'w');
  add('missing dtype', jsonFile('{"w":{"shape":[1],"data_offsets":[0,4]}}', 4), 'unknown-dtype', 'w');
  add('missing shape', jsonFile('{"w":{"dtype":"F32","data_offsets":[0,4]}}', 4), 'bad-shape', 'w');
  add('negative dimension', jsonFile(`{"w":${t('F32', [-1, 4], [0, 16])}}`, 16), 'bad-shape', 'w');
  add('fractional dimension', jsonFile(`{"w":${t('F32', [1.5], [0, 6])}}`, 6), 'bad-shape', 'w');
  add('shape is a string', jsonFile(`{"w":${t('F32', '2,2', [0, 16])}}`, 16), 'bad-shape', 'w');
  add('three offsets', jsonFile(`{"w":${t('F32', [1], [0, 4, 8])}}`, 8), 'bad-offsets', 'w');
  add('negative offset', jsonFile(`{"w":${t('F32', [1], [-4, 0])}}`, 4), 'bad-offsets', 'w');
  add('end before begin', jsonFile(`{"w":${t('F32', [0], [8, 4])}}`, 8), 'bad-offsets', 'w');
  add('offset 2^60', jsonFile(`{"w":${t('F32', [1], [0, 1152921504606846976])}}`, 4), 'bad-offsets', 'w');
  add('size does not match shape', jsonFile(`{"w":${t('F32', [2, 2], [0, 12])}}`, 12), 'size-mismatch', 'w');
  add('BF16 counted as 4 bytes', jsonFile(`{"w":${t('BF16', [4], [0, 16])}}`, 16), 'size-mismatch', 'w');
  add('shape product overflows u64', jsonFile(`{"w":${t('F32', [4294967296, 4294967296, 4294967296], [0, 0])}}`), 'size-overflow', 'w');
  add('shape × dtype wraps to zero in u64', jsonFile(`{"w":${t('F32', [4611686018427387904], [0, 0])}}`), 'size-overflow', 'w');
  add('F4 with an odd element count', jsonFile(`{"w":${t('F4', [3], [0, 1])}}`, 1), 'size-mismatch', 'w');
  add('first tensor not at 0', jsonFile(`{"w":${t('F32', [1], [4, 8])}}`, 8), 'offset-not-zero', 'w');
  add('gap between tensors', jsonFile(`{"a":${t('F32', [1], [0, 4])},"b":${t('F32', [1], [8, 12])}}`, 12), 'offset-gap', 'b');
  add('overlapping tensors', jsonFile(`{"a":${t('F32', [2], [0, 8])},"b":${t('F32', [2], [4, 12])}}`, 12), 'offset-overlap', 'b');
  add('two tensors on the same bytes', jsonFile(`{"a":${t('F32', [2], [0, 8])},"b":${t('F32', [2], [0, 8])}}`, 8), 'offset-overlap', 'b');
  add('tensor past the end of the file', jsonFile(`{"w":${t('F32', [4], [0, 16])}}`, 8), 'data-size-mismatch');
  add('trailing bytes after the data', jsonFile(`{"w":${t('F32', [1], [0, 4])}}`, 12), 'data-size-mismatch');
  add('no tensors but trailing bytes', jsonFile('{}', 1), 'data-size-mismatch');
  add('duplicate tensor names', jsonFile(`{"w":${t('F32', [1], [0, 4])},"w":${t('F32', [1], [4, 8])}}`, 8), 'duplicate-name', 'w');
  add('duplicate names via escapes', jsonFile(`{"w":${t('F32', [1], [0, 4])},"\\u0077":${t('F32', [1], [4, 8])}}`, 8), 'duplicate-name', 'w');
  add('metadata value is a number', jsonFile('{"__metadata__":{"format":1}}'), 'bad-metadata');
  add('metadata value is an object', jsonFile('{"__metadata__":{"format":{"x":"pt"}}}'), 'bad-metadata');
  add('metadata is a list', jsonFile('{"__metadata__":["pt"]}'), 'bad-metadata');
  add('metadata value is null', jsonFile('{"__metadata__":{"format":null}}'), 'bad-metadata');
  return cases;
}
