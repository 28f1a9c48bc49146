import { describe, expect, it } from 'vitest';
import { type ByteSource, fromArrayBuffer, fromBlob } from '../../../src/formats/byteSource';
import { fromF32 } from '../../../src/formats/dtype';
import {
  type Dtype,
  DTYPES,
  dtypeSize,
  openSafetensors,
  SafetensorsError,
  SafetensorsFile,
  serializeSafetensors,
  type TensorToWrite,
} from '../../../src/formats/safetensors';
import { rng } from '../../helpers/random';
import { hostileCorpus, jsonFile } from './hostileCorpus';

const dec = new TextDecoder();

/** A source that records every read, to prove what was and was not read. */
function recording(bytes: Uint8Array, name = 'recorded') {
  const inner = fromArrayBuffer(bytes, name);
  const reads: [number, number][] = [];
  const source: ByteSource = {
    name,
    size: inner.size,
    read: (o, l) => {
      reads.push([o, l]);
      return inner.read(o, l);
    },
  };
  return { source, reads };
}

function f32Tensor(shape: number[], values: number[]): TensorToWrite {
  return { dtype: 'F32', shape, data: fromF32('F32', new Float32Array(values)) };
}

describe('safetensors writer', () => {
  it('lays a file out as the reference writer does: __metadata__ first, compact JSON, space padding to 8, sorted', () => {
    const bytes = serializeSafetensors(
      new Map([
        ['b', f32Tensor([2], [1, 2])],
        ['a', f32Tensor([1, 2], [3, 4])],
      ]),
    );
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = dec.decode(bytes.subarray(8, 8 + n));
    const json =
      '{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]},' +
      '"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}';
    expect(n % 8).toBe(0);
    expect(header).toBe(json + ' '.repeat(n - json.length));
    expect(bytes.byteLength).toBe(8 + n + 16);
    expect(Array.from(new Float32Array(bytes.slice(8 + n).buffer))).toEqual([3, 4, 1, 2]);
  });

  it('orders wider dtypes first, then names (the reference sort), with no padding between tensors', () => {
    const tensors = new Map<string, TensorToWrite>([
      ['z16', { dtype: 'BF16', shape: [3], data: new Uint8Array(6) }],
      ['a8', { dtype: 'U8', shape: [1], data: new Uint8Array(1) }],
      ['m32', { dtype: 'F32', shape: [1], data: new Uint8Array(4) }],
      ['b64', { dtype: 'I64', shape: [1], data: new Uint8Array(8) }],
    ]);
    const file = serializeSafetensors(tensors, null);
    const n = Number(new DataView(file.buffer).getBigUint64(0, true));
    const header = JSON.parse(dec.decode(file.subarray(8, 8 + n)));
    expect(Object.keys(header)).toEqual(['b64', 'm32', 'z16', 'a8']);
    expect(header.z16.data_offsets).toEqual([12, 18]);
    expect(header.a8.data_offsets).toEqual([18, 19]);
  });

  it('round-trips bytes and values for every whole-byte dtype', async () => {
    const r = rng(3);
    const tensors = new Map<string, TensorToWrite>();
    for (const dtype of DTYPES) {
      if (dtype.startsWith('F4') || dtype.startsWith('F6')) continue;
      const shape = [1 + Math.floor(r() * 3), 1 + Math.floor(r() * 4)];
      const data = new Uint8Array(shape[0] * shape[1] * dtypeSize(dtype)).map(() => Math.floor(r() * 256));
      tensors.set(`t.${dtype}`, { dtype, shape, data });
    }
    tensors.set('empty', { dtype: 'F32', shape: [0, 3], data: new Uint8Array(0) });
    tensors.set('scalar', { dtype: 'F32', shape: [], data: fromF32('F32', new Float32Array([7.5])) });
    const bytes = serializeSafetensors(tensors);
    const file = await openSafetensors(bytes);
    expect(file.metadata).toEqual({ format: 'pt' });
    expect(new Set(file.names)).toEqual(new Set(tensors.keys()));
    const rebuilt = new Map<string, TensorToWrite>();
    for (const name of file.names) {
      const info = file.info(name);
      const data = await file.readBytes(name);
      expect(Array.from(data), name).toEqual(Array.from(tensors.get(name)!.data));
      rebuilt.set(name, { dtype: info.dtype as Dtype, shape: info.shape, data });
    }
    expect(serializeSafetensors(rebuilt)).toEqual(bytes);
    expect(Array.from(await file.readF32('scalar'))).toEqual([7.5]);
  });

  it('refuses data whose size does not match the shape', () => {
    expect(() => serializeSafetensors(new Map([['w', { dtype: 'F32', shape: [2], data: new Uint8Array(4) }]]))).toThrow(
      /tensor "w".*4 bytes given for F32 \[2\]/,
    );
  });
});

describe('safetensors reader', () => {
  it('reads BF16 and F16 tensors as f32', async () => {
    const v = new Float32Array([1, -2.5, 0.15625, 65504]);
    const bytes = serializeSafetensors(
      new Map<string, TensorToWrite>([
        ['bf', { dtype: 'BF16', shape: [4], data: fromF32('BF16', v) }],
        ['h', { dtype: 'F16', shape: [2, 2], data: fromF32('F16', v) }],
        ['i', { dtype: 'I32', shape: [1], data: new Uint8Array(4) }],
      ]),
    );
    const f = await openSafetensors(bytes);
    expect(Array.from(await f.readF32('bf'))).toEqual([1, -2.5, 0.15625, 65536]);
    expect(Array.from(await f.readF32('h'))).toEqual([1, -2.5, 0.15625, 65504]);
    await expect(f.readF32('i')).rejects.toThrow(/tensor "i": dtype I32 is not a float type/);
    await expect(f.readF32('nope')).rejects.toThrow(SafetensorsError);
  });

  it('reads only the header and the requested tensor, never the whole file', async () => {
    const big = new Float32Array(100_000).map((_, i) => i);
    const bytes = serializeSafetensors(
      new Map([
        ['big', { dtype: 'F32' as const, shape: [100_000], data: new Uint8Array(big.buffer) }],
        ['small', f32Tensor([2], [5, 6])],
      ]),
    );
    const { source, reads } = recording(bytes);
    const f = await SafetensorsFile.open(source);
    expect(Array.from(await f.readF32('small'))).toEqual([5, 6]);
    const total = reads.reduce((s, [, l]) => s + l, 0);
    expect(reads.length).toBe(3); // prefix, header, tensor
    expect(total).toBe(8 + f.header.headerLength + 8);
  });

  it('reads a Blob through slices', async () => {
    const bytes = serializeSafetensors(new Map([['x', f32Tensor([3], [1, 2, 3])]]));
    const blob = new Blob([bytes as Uint8Array<ArrayBuffer>]);
    const sliced: [number, number][] = [];
    const origSlice = blob.slice.bind(blob);
    blob.slice = (s?: number, e?: number, t?: string) => {
      sliced.push([s ?? 0, e ?? blob.size]);
      return origSlice(s, e, t);
    };
    const f = await SafetensorsFile.open(fromBlob(blob, 'x.safetensors'));
    expect(Array.from(await f.readF32('x'))).toEqual([1, 2, 3]);
    expect(sliced.every(([s, e]) => e - s < bytes.byteLength)).toBe(true);
  });

  it('accepts "__proto__" as an ordinary tensor name without touching prototypes', async () => {
    const bytes = jsonFile('{"__proto__":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}', 2);
    const f = await openSafetensors(bytes);
    expect(f.names).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).dtype).toBeUndefined();
  });
});

describe('hostile safetensors files', () => {
  const corpus = hostileCorpus();

  it('has at least 30 cases covering every rule', () => {
    expect(corpus.length).toBeGreaterThanOrEqual(30);
    expect(new Set(corpus.map((c) => c.rule)).size).toBeGreaterThanOrEqual(18);
  });

  for (const c of corpus) {
    it(`rejects ${c.name} (${c.rule})`, async () => {
      const { source, reads } = recording(c.bytes, `${c.name}.safetensors`);
      let error: unknown = null;
      try {
        await SafetensorsFile.open(source);
      } catch (e) {
        error = e;
      }
      expect(error, 'must be rejected').toBeInstanceOf(SafetensorsError);
      const e = error as SafetensorsError;
      expect(e.rule).toBe(c.rule);
      expect(e.message).toContain(`${c.name}.safetensors`);
      if (c.tensor !== undefined) {
        expect(e.tensor).toBe(c.tensor);
        expect(e.message).toContain(`tensor "${c.tensor}"`);
      }
      // Never asks for more bytes than the file has.
      const total = reads.reduce((s, [, l]) => s + l, 0);
      expect(total).toBeLessThanOrEqual(c.bytes.byteLength);
    });
  }
});

describe('mutation fuzz', () => {
  /** A random valid file of a few tensors. */
  function validFile(r: () => number): Uint8Array {
    const tensors = new Map<string, TensorToWrite>();
    const count = 1 + Math.floor(r() * 4);
    const dtypes: Dtype[] = ['F32', 'BF16', 'F16', 'U8', 'I64'];
    for (let i = 0; i < count; i++) {
      const dtype = dtypes[Math.floor(r() * dtypes.length)];
      const shape = [1 + Math.floor(r() * 3), Math.floor(r() * 4)];
      const data = new Uint8Array(shape[0] * shape[1] * dtypeSize(dtype)).map(() => Math.floor(r() * 256));
      tensors.set(`layer.${i}.w`, { dtype, shape, data });
    }
    return serializeSafetensors(tensors, r() < 0.5 ? { format: 'pt' } : null);
  }

  function mutate(bytes: Uint8Array, r: () => number): Uint8Array {
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const kind = Math.floor(r() * 8);
    const out = bytes.slice();
    const pick = (lo: number, hi: number) => lo + Math.floor(r() * Math.max(1, hi - lo));
    switch (kind) {
      case 0: // flip bits in the header
        for (let k = 0; k < 1 + Math.floor(r() * 3); k++) out[pick(8, 8 + n)] ^= 1 << Math.floor(r() * 8);
        return out;
      case 1: // replace a header byte with a JSON-significant character
        out[pick(8, 8 + n)] = '{}[],:"0123456789-e.'.charCodeAt(Math.floor(r() * 20));
        return out;
      case 2: // truncate
        return out.slice(0, pick(0, out.byteLength));
      case 3: // append
        return new Uint8Array([...out, ...new Uint8Array(1 + Math.floor(r() * 16))]);
      case 4: // corrupt the length prefix
        new DataView(out.buffer).setBigUint64(0, BigInt(Math.floor(r() * 2 ** 31)) * (r() < 0.5 ? 1n : 2n ** 32n), true);
        return out;
      case 5: { // change a digit in the header (offsets, shapes)
        const digits: number[] = [];
        for (let i = 8; i < 8 + n; i++) if (out[i] >= 0x30 && out[i] <= 0x39) digits.push(i);
        if (digits.length) out[digits[Math.floor(r() * digits.length)]] = 0x30 + Math.floor(r() * 10);
        return out;
      }
      case 6: // flip bits anywhere
        out[pick(0, out.byteLength)] ^= 0xff;
        return out;
      default: { // delete a header byte and fix nothing
        const at = pick(8, 8 + n);
        return new Uint8Array([...out.subarray(0, at), ...out.subarray(at + 1)]);
      }
    }
  }

  it('never crashes, hangs or over-reads on 5000 mutated files; what it accepts is self-consistent', async () => {
    const r = rng(2024);
    const started = Date.now();
    let accepted = 0;
    let rejected = 0;
    const unexpected: string[] = [];
    for (let i = 0; i < 5000; i++) {
      const bytes = mutate(validFile(r), r);
      const { source, reads } = recording(bytes, `fuzz-${i}`);
      try {
        const f = await SafetensorsFile.open(source);
        accepted++;
        let covered = 0;
        for (const name of f.names) {
          const t = f.info(name);
          const data = await f.readBytes(name);
          covered += data.byteLength;
          if (data.byteLength !== t.dataOffsets[1] - t.dataOffsets[0]) unexpected.push(`case ${i}: ${name} size`);
        }
        if (8 + f.header.headerLength + covered !== bytes.byteLength) unexpected.push(`case ${i}: accepted a file with gaps`);
      } catch (e) {
        if (e instanceof SafetensorsError) rejected++;
        else unexpected.push(`case ${i}: ${(e as Error).name}: ${(e as Error).message}`);
      }
      if (reads.some(([o, l]) => o < 0 || o + l > bytes.byteLength)) unexpected.push(`case ${i}: read out of range`);
    }
    const ms = Date.now() - started;
    console.log(`[fuzz] 5000 cases in ${ms} ms: ${accepted} accepted, ${rejected} rejected`);
    expect(unexpected.slice(0, 5)).toEqual([]);
    expect(rejected).toBeGreaterThan(2500);
    expect(ms).toBeLessThan(8000);
  });
});
