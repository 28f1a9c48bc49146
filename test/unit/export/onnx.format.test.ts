/**
 * The transformers.js folder's contract, read back from the files: the decoder's input/output
 * names, types and dynamic axes (what transformers.js's decoder_forward and addPastKeyValues
 * feed), the file names per dtype, and the external data format (chunks named as transformers.js
 * fetches them, announced in config.json), which transformers.js then loads and runs.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AutoModelForCausalLM, env, Tensor } from '@huggingface/transformers';
import { concatParts } from '../../../src/formats/export/gguf/format';
import { exportOnnx } from '../../../src/formats/export/onnx/export';
import { decodeModel } from '../../../src/formats/export/onnx/graph';
import type { onnx } from 'onnx-proto';

/** The decoded graph with its repeated fields (protobufjs always fills them when decoding). */
const graphOf = (m: onnx.ModelProto) => m.graph as onnx.GraphProto;
import { allLogits, relError, source, testModel, type TestModel } from './fixtures';

const dims = (vi: { type?: { tensorType?: { elemType?: number | null; shape?: { dim?: { dimValue?: unknown; dimParam?: string | null }[] | null } | null } | null } | null }) => ({
  elemType: vi.type!.tensorType!.elemType,
  shape: vi.type!.tensorType!.shape!.dim!.map((d) => (d.dimParam ? d.dimParam : Number(d.dimValue))),
});

describe('ONNX folder layout', () => {
  let m: TestModel;
  beforeAll(async () => {
    m = await testModel('qwen3');
  }, 30_000);

  it('names files by transformers.js dtype suffix and copies config, generation config and tokenizer files', async () => {
    const files = await exportOnnx(source(m, m.merged), { variants: ['fp32', 'fp16', 'q8', 'int8', 'uint8', 'q4', 'q4f16'] });
    expect([...files.keys()].sort()).toEqual(
      [
        'config.json', 'generation_config.json', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json',
        'onnx/model.onnx', 'onnx/model_fp16.onnx', 'onnx/model_quantized.onnx', 'onnx/model_int8.onnx', 'onnx/model_uint8.onnx', 'onnx/model_q4.onnx', 'onnx/model_q4f16.onnx',
      ].sort(),
    );
    const config = JSON.parse(new TextDecoder().decode(concatParts(files.get('config.json')!)));
    expect(config).toMatchObject({ model_type: 'qwen3', num_key_value_heads: 2, head_dim: 32, num_hidden_layers: 2, use_cache: true });
    expect(config['transformers.js_config']).toBeUndefined();
  });

  it('decoder inputs and outputs: names, dtypes and dynamic axes as Optimum exports them', async () => {
    const files = await exportOnnx(source(m, m.merged), { variants: ['fp32', 'q4f16'] });
    const fp32 = decodeModel(concatParts(files.get('onnx/model.onnx')!));
    expect(fp32.opsetImport.map((o) => [o.domain, Number(o.version)])).toEqual([['', 17], ['com.microsoft', 1]]);
    const inputs = Object.fromEntries(graphOf(fp32).input.map((i) => [i.name, dims(i)]));
    expect(inputs).toEqual({
      input_ids: { elemType: 7, shape: ['batch_size', 'sequence_length'] },
      attention_mask: { elemType: 7, shape: ['batch_size', 'past_sequence_length + sequence_length'] },
      position_ids: { elemType: 7, shape: ['batch_size', 'sequence_length'] },
      'past_key_values.0.key': { elemType: 1, shape: ['batch_size', 2, 'past_sequence_length', 32] },
      'past_key_values.0.value': { elemType: 1, shape: ['batch_size', 2, 'past_sequence_length', 32] },
      'past_key_values.1.key': { elemType: 1, shape: ['batch_size', 2, 'past_sequence_length', 32] },
      'past_key_values.1.value': { elemType: 1, shape: ['batch_size', 2, 'past_sequence_length', 32] },
    });
    const outputs = Object.fromEntries(graphOf(fp32).output.map((o) => [o.name, dims(o)]));
    expect(outputs).toEqual({
      'present.0.key': { elemType: 1, shape: ['batch_size', 2, 'past_sequence_length + sequence_length', 32] },
      'present.0.value': { elemType: 1, shape: ['batch_size', 2, 'past_sequence_length + sequence_length', 32] },
      'present.1.key': { elemType: 1, shape: ['batch_size', 2, 'past_sequence_length + sequence_length', 32] },
      'present.1.value': { elemType: 1, shape: ['batch_size', 2, 'past_sequence_length + sequence_length', 32] },
      logits: { elemType: 1, shape: ['batch_size', 'sequence_length', 512] },
    });
    const q4f16 = decodeModel(concatParts(files.get('onnx/model_q4f16.onnx')!));
    expect(dims(graphOf(q4f16).input.find((i) => i.name === 'past_key_values.0.key')!).elemType).toBe(10);
    expect(dims(graphOf(q4f16).output.find((o) => o.name === 'logits')!).elemType).toBe(10);
    const ops = new Set(graphOf(q4f16).node.map((n) => `${n.domain || 'ai.onnx'}:${n.opType}`));
    expect(ops.has('com.microsoft:MatMulNBits')).toBe(true);
    expect(graphOf(q4f16).node.filter((n) => n.opType === 'MatMulNBits').length).toBe(2 * 7 + 1); // 7 projections a layer + the untied head
  });
});

describe('ONNX external data', () => {
  const root = mkdtempSync(join(tmpdir(), 'onnx-ext-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('splits weights into model.onnx_data, model.onnx_data_1, … that transformers.js loads and runs', async () => {
    const m = await testModel('qwen2');
    const stored = new Map();
    const files = await exportOnnx(source(m, m.merged), { variants: ['fp32', 'q4'], externalDataThreshold: 0, maxChunkBytes: 150_000, effectiveWeights: stored });
    const names = [...files.keys()].filter((n) => n.startsWith('onnx/')).sort();
    expect(names).toEqual(['onnx/model.onnx', 'onnx/model.onnx_data', 'onnx/model.onnx_data_1', 'onnx/model.onnx_data_2', 'onnx/model_q4.onnx', 'onnx/model_q4.onnx_data', 'onnx/model_q4.onnx_data_1']);
    const config = JSON.parse(new TextDecoder().decode(concatParts(files.get('config.json')!)));
    expect(config['transformers.js_config']).toEqual({ use_external_data_format: { 'model.onnx': 3, 'model_q4.onnx': 2 } });
    const proto = decodeModel(concatParts(files.get('onnx/model.onnx')!));
    const ext = graphOf(proto).initializer.filter((t) => t.dataLocation === 1);
    expect(ext.length).toBeGreaterThan(10);
    for (const t of ext) {
      const kv = Object.fromEntries(t.externalData!.map((e) => [e.key, e.value]));
      expect(Number(kv.offset) % 4096).toBe(0);
      expect(Number(kv.offset) + Number(kv.length)).toBeLessThanOrEqual(concatParts(files.get(`onnx/${kv.location}`)!).byteLength);
    }
    for (const n of names.filter((x) => x.includes('_data'))) expect(concatParts(files.get(n)!).byteLength).toBeLessThanOrEqual(150_000);

    for (const [path, parts] of files) {
      const p = join(root, 'ext', path);
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, concatParts(parts));
    }
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.localModelPath = root;
    for (const dtype of ['fp32', 'q4'] as const) {
      const model = await AutoModelForCausalLM.from_pretrained('ext', { dtype, device: 'cpu' });
      try {
        const ids = [1, 40, 41, 300, 7, 2];
        const t = (v: number[]) => new Tensor('int64', BigInt64Array.from(v.map(BigInt)), [1, v.length]);
        const out = await model({ input_ids: t(ids), attention_mask: t(ids.map(() => 1)) });
        // each variant against the reference on the weights it stores (the 4-bit ones, dequantized)
        expect(relError(out.logits.data as Float32Array, allLogits(m.spec, stored.get(dtype)!, ids))).toBeLessThan(1e-5);
      } finally {
        await model.dispose();
      }
    }
  }, 60_000);
});
