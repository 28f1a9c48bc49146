/**
 * GGUF files as llama.cpp's converters write them: the container (writer ↔ reader, alignment, the
 * reader's refusals), Q8_0 blocks, the Llama q/k permutation, and the names, metadata and tensor
 * layouts of exported models and adapters. (gguf.llamacpp.test.ts loads them in llama.cpp.)
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { concatParts, GgmlType, ggufPlain, GgufValueType, kv, readGguf, writeGguf, type GgufFile } from '../../../src/formats/export/gguf/format';
import { decodeQ8_0, encodeQ8_0 } from '../../../src/formats/export/gguf/quants';
import { permuteRowsForLlamaRope } from '../../../src/formats/export/gguf/names';
import { ggufPreTokenizer } from '../../../src/formats/export/gguf/tokenizer';
import { exportGgufAdapter, exportGgufModel } from '../../../src/formats/export/gguf/export';
import { exportGguf, exportGgufLora } from '../../../src/formats/export';
import { ExportError } from '../../../src/formats/export/types';
import { source, testAdapter, testModel, type TestModel } from './fixtures';

const text = (parts: Uint8Array[]) => new TextDecoder().decode(concatParts(parts));

describe('GGUF container', () => {
  const meta = new Map([
    ['general.architecture', kv.str('llama')],
    ['a.u32', kv.u32(7)],
    ['a.f32', kv.f32(0.5)],
    ['a.bool', kv.bool(true)],
    ['a.strings', kv.strings(['x', 'ü y'])],
    ['a.i32s', kv.i32s([-1, 2])],
    ['a.u64', { type: GgufValueType.UINT64, value: 2n ** 40n } as const],
  ]);
  const t1 = { name: 't1', ne: [3], type: GgmlType.F32, data: new Uint8Array(new Float32Array([1, 2, 3]).buffer) };
  const t2 = { name: 't2', ne: [32, 2], type: GgmlType.Q8_0, data: new Uint8Array(68).fill(1) };

  it('round-trips metadata and tensors, every tensor aligned to 32 bytes', () => {
    const f = readGguf(concatParts(writeGguf(meta, [t1, t2])));
    expect(f.version).toBe(3);
    expect([...f.metadata.keys()]).toEqual([...meta.keys()]);
    expect(ggufPlain(f.metadata.get('a.strings'))).toEqual(['x', 'ü y']);
    expect(ggufPlain(f.metadata.get('a.u64'))).toBe(2n ** 40n);
    expect(ggufPlain(f.metadata.get('a.f32'))).toBe(0.5);
    expect(f.tensors.map((t) => [t.name, t.ne, t.type])).toEqual([['t1', [3], GgmlType.F32], ['t2', [32, 2], GgmlType.Q8_0]]);
    for (const t of f.tensors) expect(t.offset % 32).toBe(0);
    expect(f.dataStart % 32).toBe(0);
    expect(Array.from(new Float32Array(f.tensorData('t1').slice().buffer))).toEqual([1, 2, 3]);
    expect(f.tensors[1].offset - f.tensors[0].offset).toBe(32); // 12 bytes padded to 32
  });

  it('writes general.alignment when it is not the default and honours it', () => {
    const f = readGguf(concatParts(writeGguf(meta, [t1, t2], { alignment: 64 })));
    expect(ggufPlain(f.metadata.get('general.alignment'))).toBe(64);
    for (const t of f.tensors) expect(t.offset % 64).toBe(0);
  });

  it('refuses bad magic, other versions, truncation, misaligned or overlapping tensors and wrong sizes', () => {
    const good = concatParts(writeGguf(meta, [t1, t2]));
    const bad = (mutate: (b: Uint8Array, dv: DataView) => Uint8Array | void) => {
      const b = good.slice();
      return mutate(b, new DataView(b.buffer)) ?? b;
    };
    expect(() => readGguf(bad((b) => void (b[0] = 0x47 + 1)))).toThrow(/bad magic/);
    expect(() => readGguf(bad((_, dv) => dv.setUint32(4, 2, true)))).toThrow(/version 2/);
    expect(() => readGguf(good.subarray(0, 40))).toThrow(/truncated/);
    expect(() => readGguf(good.subarray(0, good.length - 40))).toThrow(/past the end/);
    // t2's offset field: the u64 after its name, dims and type, located from the parsed layout
    const f = readGguf(good);
    const dv = new DataView(good.buffer);
    let pos = -1;
    for (let p = f.dataStart - 8; p > 24; p--) {
      if (dv.getBigUint64(p, true) === BigInt(f.tensors[1].offset - f.dataStart) && dv.getUint32(p - 4, true) === GgmlType.Q8_0) {
        pos = p;
        break;
      }
    }
    expect(pos).toBeGreaterThan(0);
    expect(() => readGguf(bad((_, dv) => dv.setBigUint64(pos, 8n, true)))).toThrow(/not a multiple of the alignment/);
    expect(() => readGguf(bad((_, dv) => dv.setBigUint64(pos, 0n, true)))).toThrow(/overlap/);
    expect(() => writeGguf(meta, [{ ...t2, data: new Uint8Array(67) }])).toThrow(/needs 68 bytes/);
    expect(() => writeGguf(meta, [t1, { ...t1 }])).toThrow(/duplicate tensor/);
  });
});

describe('Q8_0', () => {
  it('stores the f16 scale max|x|/127 and round-half-away int8 values per block of 32, as gguf-py does', () => {
    const x = Float32Array.from({ length: 64 }, (_, i) => (i < 32 ? (i - 16) / 8 : i === 40 ? -3 : 0.5));
    const q = encodeQ8_0(x);
    expect(q.length).toBe(68);
    const dv = new DataView(q.buffer);
    expect(dv.getUint16(0, true)).toBe(0x2408); // f16(2/127 = 0.015748…) = 0x2408
    expect(dv.getInt8(2 + 0)).toBe(-127); // −2 / (2/127)
    expect(dv.getInt8(2 + 16)).toBe(0);
    expect(dv.getInt8(2 + 20)).toBe(32); // 0.5·63.5 = 31.75 → 32
    expect(dv.getInt8(34 + 2 + 8)).toBe(-127); // the −3 of block 2
    const back = decodeQ8_0(q);
    for (let i = 0; i < 64; i++) expect(Math.abs(back[i] - x[i])).toBeLessThanOrEqual(i < 32 ? 2 / 127 / 2 + 1e-3 : 3 / 127 / 2 + 1e-3);
    expect(Array.from(decodeQ8_0(encodeQ8_0(new Float32Array(32))))).toEqual(new Array(32).fill(0));
  });
});

describe('Llama q/k permutation', () => {
  it('moves each head from rotate_half halves to interleaved pairs (LlamaModel.permute)', () => {
    // 2 heads of size 4, 1 column: rows h0:[a0 a1 | b0 b1] → [a0 b0 a1 b1]
    const rows = Float32Array.from([0, 1, 2, 3, 10, 11, 12, 13]);
    expect(Array.from(permuteRowsForLlamaRope(rows, 2, 8, 1))).toEqual([0, 2, 1, 3, 10, 12, 11, 13]);
    const wide = Float32Array.from({ length: 8 }, (_, i) => i); // 4 rows × 2 columns, 1 head
    expect(Array.from(permuteRowsForLlamaRope(wide, 1, 4, 2))).toEqual([0, 1, 4, 5, 2, 3, 6, 7]);
  });
});

describe('tokenizer.ggml.pre from tokenizer.json', () => {
  it('names the pre-tokenizers llama.cpp implements and refuses others', () => {
    const bl = (regex: boolean) => ({ type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: regex });
    expect(ggufPreTokenizer({ pre_tokenizer: bl(true) })).toBe('gpt-2');
    expect(ggufPreTokenizer({ pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, bl(true)] } })).toBe('smollm');
    const split = (Regex: string) => ({ type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex }, behavior: 'Isolated', invert: false }, bl(false)] });
    expect(ggufPreTokenizer({ pre_tokenizer: split("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+") })).toBe('qwen2');
    expect(ggufPreTokenizer({ pre_tokenizer: split("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+") })).toBe('llama-bpe');
    expect(() => ggufPreTokenizer({ pre_tokenizer: { type: 'Metaspace' } })).toThrow(ExportError);
  });
});

describe('exported GGUF models and adapters', () => {
  const models: Record<string, TestModel> = {};
  const files: Record<string, GgufFile> = {};
  beforeAll(async () => {
    for (const label of ['demo', 'qwen2', 'qwen3'] as const) {
      models[label] = await testModel(label);
      files[label] = readGguf(concatParts(await exportGgufModel(source(models[label], models[label].merged), { type: 'q8_0', name: label })));
    }
  }, 60_000);

  it('demo (llama): convert_hf_to_gguf.py metadata, tokenizer and tensor layout', () => {
    const f = files.demo;
    const m = models.demo;
    const get = (k: string) => ggufPlain(f.metadata.get(k));
    expect(get('general.architecture')).toBe('llama');
    expect(get('general.type')).toBe('model');
    expect(get('general.file_type')).toBe(7); // MOSTLY_Q8_0
    expect(get('general.quantization_version')).toBe(2);
    expect({
      block: get('llama.block_count'), ctx: get('llama.context_length'), embd: get('llama.embedding_length'), ff: get('llama.feed_forward_length'),
      heads: get('llama.attention.head_count'), kv: get('llama.attention.head_count_kv'), theta: get('llama.rope.freq_base'),
      eps: get('llama.attention.layer_norm_rms_epsilon'), keyLen: get('llama.attention.key_length'), vocab: get('llama.vocab_size'), rot: get('llama.rope.dimension_count'),
    }).toEqual({ block: 2, ctx: 2048, embd: 64, ff: 256, heads: 4, kv: 2, theta: 100000, eps: Math.fround(1e-5), keyLen: 16, vocab: 768, rot: 16 });
    expect(get('tokenizer.ggml.model')).toBe('gpt2');
    expect(get('tokenizer.ggml.pre')).toBe('gpt-2');
    const tokens = get('tokenizer.ggml.tokens') as string[];
    const types = get('tokenizer.ggml.token_type') as number[];
    const tj = JSON.parse(m.textFiles.get('tokenizer.json')!);
    expect(tokens.length).toBe(768);
    expect(tokens.slice(0, 3)).toEqual(['<|endoftext|>', '<|im_start|>', '<|im_end|>']);
    expect(tokens.every((t, i) => i < 3 || tj.model.vocab[t] === i)).toBe(true);
    expect(types.slice(0, 4)).toEqual([3, 3, 3, 1]);
    expect(get('tokenizer.ggml.merges')).toEqual(tj.model.merges.map((mm: string[]) => mm.join(' ')));
    expect([get('tokenizer.ggml.bos_token_id'), get('tokenizer.ggml.eos_token_id'), get('tokenizer.ggml.padding_token_id'), get('tokenizer.ggml.unknown_token_id')]).toEqual([1, 2, 2, 0]);
    expect(get('tokenizer.ggml.add_bos_token')).toBe(false);
    expect(get('tokenizer.chat_template')).toBe(JSON.parse(m.textFiles.get('tokenizer_config.json')!).chat_template);
    const t = new Map(f.tensors.map((x) => [x.name, x]));
    expect(t.has('output.weight')).toBe(false); // tied: llama.cpp reuses token_embd
    expect(t.get('token_embd.weight')).toMatchObject({ ne: [64, 768], type: GgmlType.Q8_0 });
    expect(t.get('blk.0.attn_q.weight')).toMatchObject({ ne: [64, 64], type: GgmlType.Q8_0 });
    expect(t.get('blk.1.attn_k.weight')).toMatchObject({ ne: [64, 32], type: GgmlType.Q8_0 });
    expect(t.get('blk.1.ffn_down.weight')).toMatchObject({ ne: [256, 64], type: GgmlType.Q8_0 });
    expect(t.get('blk.0.attn_norm.weight')).toMatchObject({ ne: [64], type: GgmlType.F32 });
    expect(t.get('output_norm.weight')).toMatchObject({ ne: [64], type: GgmlType.F32 });
    expect(f.tensors.length).toBe(1 + 2 * 9 + 1);
  });

  it('qwen2: q/k/v biases in F32, no permutation, no llama-only keys; qwen3: q/k norms, head_dim 32, untied output', () => {
    const q2 = files.qwen2;
    const t2 = new Map(q2.tensors.map((x) => [x.name, x]));
    expect(ggufPlain(q2.metadata.get('general.architecture'))).toBe('qwen2');
    expect(q2.metadata.has('qwen2.rope.dimension_count')).toBe(false);
    expect(t2.get('blk.0.attn_q.bias')).toMatchObject({ ne: [64], type: GgmlType.F32 });
    const qDeq = decodeQ8_0(q2.tensorData('blk.0.attn_q.weight'));
    const qRef = models.qwen2.merged.get('model.layers.0.self_attn.q_proj.weight')!;
    expect(Math.abs(qDeq[16] - qRef[16])).toBeLessThan(1e-3); // row 0 column 16 stays in place: no permutation

    const q3 = files.qwen3;
    const t3 = new Map(q3.tensors.map((x) => [x.name, x]));
    expect(ggufPlain(q3.metadata.get('general.architecture'))).toBe('qwen3');
    expect(ggufPlain(q3.metadata.get('qwen3.attention.key_length'))).toBe(32);
    expect(t3.get('blk.1.attn_q_norm.weight')).toMatchObject({ ne: [32], type: GgmlType.F32 });
    expect(t3.get('blk.0.attn_q.weight')).toMatchObject({ ne: [64, 128] });
    expect(t3.get('output.weight')).toMatchObject({ ne: [64, 512], type: GgmlType.Q8_0 });
  });

  it('LoRA adapter: convert_lora_to_gguf.py keys, lora_a ne [in, r], lora_b ne [r, out] with llama q/k rows permuted', () => {
    const m = models.demo;
    const f = readGguf(concatParts(exportGgufAdapter(m.spec, m.adapter, { name: 'demo-lora' })));
    expect(Object.fromEntries([...f.metadata].map(([k, v]) => [k, ggufPlain(v)]))).toEqual({
      'general.architecture': 'llama', 'general.type': 'adapter', 'general.name': 'demo-lora', 'adapter.type': 'lora', 'adapter.lora.alpha': 8, 'general.quantization_version': 2,
    });
    expect(f.tensors.length).toBe(2 * 7 * 2);
    const t = new Map(f.tensors.map((x) => [x.name, x]));
    expect(t.get('blk.0.attn_q.weight.lora_a')).toMatchObject({ ne: [64, 4], type: GgmlType.F32 });
    expect(t.get('blk.0.attn_q.weight.lora_b')).toMatchObject({ ne: [4, 64], type: GgmlType.F32 });
    expect(t.get('blk.1.attn_k.weight.lora_b')).toMatchObject({ ne: [4, 32] });
    expect(t.get('blk.1.ffn_down.weight.lora_a')).toMatchObject({ ne: [256, 4] });
    const f32 = (name: string) => new Float32Array(f.tensorData(name).slice().buffer);
    const A = m.adapter.tensors.get('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight')!;
    const B = m.adapter.tensors.get('base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight')!;
    const Bk = m.adapter.tensors.get('base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight')!;
    const Bv = m.adapter.tensors.get('base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight')!;
    expect(Array.from(f32('blk.0.attn_q.weight.lora_a'))).toEqual(Array.from(A));
    expect(Array.from(f32('blk.0.attn_q.weight.lora_b'))).toEqual(Array.from(permuteRowsForLlamaRope(B, 4, 64, 4)));
    expect(Array.from(f32('blk.0.attn_k.weight.lora_b'))).toEqual(Array.from(permuteRowsForLlamaRope(Bk, 2, 32, 4)));
    expect(Array.from(f32('blk.0.attn_v.weight.lora_b'))).toEqual(Array.from(Bv));
  });

  it('folds rsLoRA and per-module ranks into lora_b so llama.cpp\'s alpha/r gives PEFT\'s scale', () => {
    const m = models.qwen2;
    const adapter = testAdapter(m.spec, 5, { useRslora: true, targetModules: ['q_proj', 'v_proj'], rankPattern: { 'layers.1.self_attn.v_proj': 2 } });
    const f = readGguf(concatParts(exportGgufAdapter(m.spec, adapter)));
    const f32 = (name: string) => new Float32Array(f.tensorData(name).slice().buffer);
    const B0 = adapter.tensors.get('base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight')!;
    const B1 = adapter.tensors.get('base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight')!;
    // alpha/√r · B = (alpha/r) · (√r · B)
    expect(f32('blk.0.attn_q.weight.lora_b')[5]).toBeCloseTo(B0[5] * Math.sqrt(4), 6);
    expect(f32('blk.1.attn_v.weight.lora_b')[5]).toBeCloseTo(B1[5] * Math.sqrt(2), 6);
    expect(f.tensors.find((t) => t.name === 'blk.1.attn_v.weight.lora_a')!.ne).toEqual([64, 2]);
  });

  it('bundles a Modelfile: FROM the GGUF (or the base), ADAPTER the LoRA, the ChatML TEMPLATE and the EOS stop', async () => {
    const m = models.demo;
    const merged = await exportGguf(source(m, m.merged), { type: 'q8_0', name: 'demo' });
    expect([...merged.keys()]).toEqual(['demo-q8_0.gguf', 'Modelfile']);
    const mf = text(merged.get('Modelfile')!);
    expect(mf).toMatch(/^FROM \.\/demo-q8_0\.gguf\n/);
    expect(mf).toContain('TEMPLATE """{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n"""');
    expect(mf).toContain('PARAMETER stop "<|im_end|>"');
    const lora = await exportGgufLora(m.spec, m.adapter, m.textFiles, { name: 'demo', base: { model: source(m, m.base), type: 'f16' } });
    expect([...lora.keys()]).toEqual(['demo-lora-f32.gguf', 'base-f16.gguf', 'Modelfile']);
    expect(text(lora.get('Modelfile')!)).toMatch(/^FROM \.\/base-f16\.gguf\nADAPTER \.\/demo-lora-f32\.gguf\nTEMPLATE/);
    const byName = await exportGgufLora(m.spec, m.adapter, m.textFiles, { baseFrom: 'smollm2:135m' });
    expect(text(byName.get('Modelfile')!)).toMatch(/^FROM smollm2:135m\nADAPTER \.\/adapter-lora-f32\.gguf\n/);
    const bare = text((await exportGgufLora(m.spec, m.adapter, m.textFiles)).get('Modelfile')!);
    expect(bare).toMatch(/^# FROM must be the base model the adapter was trained on \(base\) as a GGUF\n# .*convert_hf_to_gguf\.py.*\nFROM \.\/base-f16\.gguf\nADAPTER /);
  });
});
