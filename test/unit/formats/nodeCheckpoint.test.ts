import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeRandomCheckpoint } from '../../../src/formats/nodeCheckpoint';
import { nodeFiles } from '../../../src/formats/nodeSource';
import { openModelFolder } from '../../../src/formats/modelFolder';
import { tensorValues } from '../../../src/formats/generate';
import { toF32, fromF32 } from '../../../src/formats/dtype';
import { cutConfig, REAL_CONFIGS } from '../../../src/formats/gen/realConfigs';
import { parseHfConfig } from '../../../src/formats/hfConfig';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('random checkpoints of real shapes, written a chunk at a time as the hub ships them', () => {
  it('shards, index and config open as a model folder; the values are the generator\'s, chunk boundaries included', async () => {
    const root = await mkdtemp(join(tmpdir(), 'as-ckpt-'));
    dirs.push(root);
    const config = { ...REAL_CONFIGS['Qwen2.5-0.5B'].config, hidden_size: 64, intermediate_size: 96, num_attention_heads: 4, num_key_value_heads: 2, num_hidden_layers: 2, vocab_size: 1000, bos_token_id: 1, eos_token_id: 2 };
    const dir = join(root, 'qwen');
    const written = await writeRandomCheckpoint(dir, config, { seed: 3, maxShardBytes: 60_000, chunkValues: 1000 });
    expect(written.written).toBe(true);
    expect(written.shards.length).toBeGreaterThan(2);
    expect((await readdir(dir)).sort()).toEqual(['config.json', 'model.safetensors.index.json', ...written.shards].sort());
    const folder = await openModelFolder(nodeFiles(dir));
    expect(folder.spec).toEqual(parseHfConfig(config));
    expect(folder.tensorInfo('model.embed_tokens.weight').dtype).toBe('BF16');
    // 64 000 values, written in chunks of 1000: the stream continues across chunks
    const embed = await folder.readTensorF32('model.embed_tokens.weight');
    const want = new Float32Array(1000 * 64);
    tensorValues('model.embed_tokens.weight', 'embedding', 3, 0.02)(want);
    expect(embed).toEqual(toF32('BF16', fromF32('BF16', want)));
    const bias = await folder.readTensorF32('model.layers.1.self_attn.k_proj.bias');
    const wantBias = new Float32Array(32);
    tensorValues('model.layers.1.self_attn.k_proj.bias', 'bias', 3, 0.02)(wantBias);
    expect(bias).toEqual(toF32('BF16', fromF32('BF16', wantBias)));
    // rows read by range equal the rows of the whole tensor
    const rows = toF32('BF16', await folder.readTensorRows('model.embed_tokens.weight', 500, 3));
    expect(rows).toEqual(embed.subarray(500 * 64, 503 * 64));
    // the same request again writes nothing
    expect((await writeRandomCheckpoint(dir, config, { seed: 3, maxShardBytes: 60_000, chunkValues: 1000 })).written).toBe(false);
  });

  it('a real config cut to fewer layers keeps every other value', () => {
    const cut = cutConfig('Llama-3.2-1B', 2);
    const full = REAL_CONFIGS['Llama-3.2-1B'].config;
    expect(cut.num_hidden_layers).toBe(2);
    expect({ ...cut, num_hidden_layers: full.num_hidden_layers }).toEqual(full);
    expect(() => cutConfig('SmolLM2-135M', 31)).toThrow(/30 layers/);
    const spec = parseHfConfig(cut);
    expect(spec).toMatchObject({ hiddenSize: 2048, numHeads: 32, numKvHeads: 8, headDim: 64, intermediateSize: 8192, vocabSize: 128256, tieWordEmbeddings: true, ropeTheta: 500000 });
    expect(spec.ropeScaling).toMatchObject({ factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 });
    expect(parseHfConfig(cutConfig('Qwen3-0.6B', 1))).toMatchObject({ qkNorm: true, headDim: 128, attentionBias: false });
    expect(parseHfConfig(cutConfig('Qwen2.5-0.5B', 1))).toMatchObject({ attentionBias: true, numKvHeads: 2, rmsNormEps: 1e-6 });
  });
});
