import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ModelFolderError, memoryFiles, openModelFolder } from '../../../src/formats/modelFolder';
import { DEMO_MODEL_OPTIONS } from '../../../src/formats/demoModel';
import { generateModel, generateModelWithTensors } from '../../../src/formats/generate';
import { generateTokenizer } from '../../../src/formats/gen/tokenizer';
import { parseHfConfig } from '../../../src/formats/hfConfig';
import { nodeFiles } from '../../../src/formats/nodeSource';
import { WeightMapError } from '../../../src/formats/weightMap';

const DEMO_DIR = join(__dirname, '../../../public/models/demo');
const asBytes = (v: Uint8Array | string) => (typeof v === 'string' ? new TextEncoder().encode(v) : v);

describe('generated checkpoints', () => {
  it('are deterministic: same options, same bytes; another seed, other weights', () => {
    const a = generateModel({ seed: 5, tokenizer: false });
    const b = generateModel({ seed: 5, tokenizer: false });
    const c = generateModel({ seed: 6, tokenizer: false });
    expect([...a.keys()]).toEqual(['config.json', 'generation_config.json', 'model.safetensors']);
    const same = (x: Uint8Array | string, y: Uint8Array | string) => Buffer.from(asBytes(x)).equals(Buffer.from(asBytes(y)));
    for (const [k, v] of a) expect(same(b.get(k)!, v), k).toBe(true);
    expect(same(c.get('model.safetensors')!, a.get('model.safetensors')!)).toBe(false);
    expect(c.get('config.json')).toBe(a.get('config.json'));
  });

  for (const architecture of ['llama', 'mistral', 'qwen2', 'qwen3'] as const) {
    it(`${architecture}: config.json parses back to the generator's spec and the weights load through our reader`, async () => {
      const { spec, files, tensors } = generateModelWithTensors({
        architecture, seed: 1, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: architecture === 'qwen3' ? 16 : undefined,
        intermediateSize: 48, tieWordEmbeddings: architecture !== 'mistral', dtype: 'BF16', tokenizer: false, vocabSize: 40,
      });
      expect(parseHfConfig(files.get('config.json'))).toEqual(spec);
      const ckpt = await openModelFolder(memoryFiles(files, architecture));
      expect(ckpt.spec).toEqual(spec);
      expect(ckpt.tensorNames.length).toBe(tensors.size);
      for (const [name, t] of tensors) {
        expect(ckpt.tensorInfo(name)).toMatchObject({ dtype: 'BF16', shape: t.shape });
        expect(Array.from(await ckpt.readTensorF32(name)), name).toEqual(Array.from(t.data));
      }
      const names = ckpt.tensorNames;
      expect(names.includes('model.layers.1.self_attn.v_proj.bias')).toBe(architecture === 'qwen2');
      expect(names.includes('model.layers.1.self_attn.q_norm.weight')).toBe(architecture === 'qwen3');
      expect(names.includes('lm_head.weight')).toBe(architecture === 'mistral');
      if (architecture === 'qwen3') expect(JSON.parse(files.get('config.json') as string).head_dim).toBe(16);
    });
  }

  it('shards like HF (index + numbered files) and reads the same values as one file', async () => {
    const opts = { seed: 9, hiddenSize: 32, numLayers: 3, numHeads: 2, numKvHeads: 1, intermediateSize: 64, tokenizer: false, vocabSize: 64 };
    const single = generateModelWithTensors(opts);
    const sharded = generateModel({ ...opts, maxShardBytes: 20_000 });
    const shardNames = [...sharded.keys()].filter((k) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(k));
    expect(shardNames.length).toBeGreaterThan(1);
    expect(sharded.has('model.safetensors')).toBe(false);
    const index = JSON.parse(sharded.get('model.safetensors.index.json') as string);
    expect(new Set(Object.values(index.weight_map))).toEqual(new Set(shardNames));
    expect(index.metadata.total_size).toBe([...single.tensors.values()].reduce((s, t) => s + t.data.length * 4, 0));
    const ckpt = await openModelFolder(memoryFiles(sharded, 'sharded'));
    for (const [name, t] of single.tensors) expect(Array.from(await ckpt.readTensorF32(name))).toEqual(Array.from(t.data));
  });

  it('refuses broken checkpoint folders with errors naming the file', async () => {
    const files = generateModel({ tokenizer: false, hiddenSize: 16, numHeads: 2, numKvHeads: 1, intermediateSize: 32, vocabSize: 32, maxShardBytes: 4000 });
    const without = (name: string) => new Map([...files].filter(([k]) => k !== name));
    await expect(openModelFolder(memoryFiles(without('config.json'), 'ck'))).rejects.toThrow(/ck\/config\.json: not found/);
    const shard = [...files.keys()].find((k) => k.startsWith('model-00002'))!;
    await expect(openModelFolder(memoryFiles(without(shard), 'ck'))).rejects.toThrow(new RegExp(`ck/${shard}: not found`));
    const index = JSON.parse(files.get('model.safetensors.index.json') as string);
    delete index.weight_map['model.norm.weight'];
    const badIndex = new Map(files).set('model.safetensors.index.json', JSON.stringify(index));
    await expect(openModelFolder(memoryFiles(badIndex, 'ck'))).rejects.toThrow(/holds tensor "model.norm.weight" which model.safetensors.index.json does not list/);
    const noWeights = new Map([...files].filter(([k]) => !k.startsWith('model')));
    await expect(openModelFolder(memoryFiles(noWeights, 'ck'))).rejects.toThrow(ModelFolderError);
    // A config that disagrees with the weights: every tensor problem reported in one error.
    const cfg = JSON.parse(files.get('config.json') as string);
    const wrong = new Map(files).set('config.json', JSON.stringify({ ...cfg, intermediate_size: 24, num_hidden_layers: 3 }));
    const err = await openModelFolder(memoryFiles(wrong, 'ck')).catch((e) => e);
    expect(err).toBeInstanceOf(WeightMapError);
    expect((err as WeightMapError).problems.length).toBeGreaterThan(6);
  });
});

describe('generated tokenizer', () => {
  it('is a deterministic 512-token byte-level BPE with ChatML specials', () => {
    const a = generateTokenizer();
    const b = generateTokenizer();
    expect(a.files).toEqual(b.files);
    expect(a.vocab.size).toBe(512);
    expect([a.vocab.get('<|endoftext|>'), a.vocab.get('<|im_start|>'), a.vocab.get('<|im_end|>')]).toEqual([0, 1, 2]);
    expect(a.merges[0]).toEqual(['Ġ', 'a']);
    const ids = [...a.vocab.values()].sort((x, y) => x - y);
    expect(ids).toEqual(Array.from({ length: 512 }, (_, i) => i));
  });
});

describe('the committed demo model (public/models/demo)', () => {
  // The weights are pre-trained by `npm run gen:demo` (minutes of training, not rerun here); what the
  // generator makes alone is checked byte for byte, the weights by shape, dtype and what pre-training
  // may and may not change. test/gpu/engine/demo.test.ts checks how the model answers.
  const generated = generateModelWithTensors(DEMO_MODEL_OPTIONS);

  it('holds exactly the generator\'s config and tokenizer files, and F16 weights of the generator\'s shapes (a few hundred KB)', async () => {
    expect(readdirSync(DEMO_DIR).sort()).toEqual([...generated.files.keys()].sort());
    let total = 0;
    for (const [name, content] of generated.files) {
      total += statSync(join(DEMO_DIR, name)).size;
      if (name === 'model.safetensors') continue;
      const onDisk = new Uint8Array(readFileSync(join(DEMO_DIR, name)));
      expect(Buffer.from(onDisk).equals(Buffer.from(asBytes(content))), `${name} differs: run npm run gen:demo`).toBe(true);
    }
    expect(total).toBeLessThan(1024 * 1024);
    const ckpt = await openModelFolder(nodeFiles(DEMO_DIR));
    const fresh = await openModelFolder(memoryFiles(generated.files, 'generated'));
    expect([...ckpt.tensorNames].sort()).toEqual([...fresh.tensorNames].sort());
    for (const name of ckpt.tensorNames) {
      expect(ckpt.tensorInfo(name).dtype, name).toBe('F16');
      expect(ckpt.tensorInfo(name).shape, name).toEqual(fresh.tensorInfo(name).shape);
    }
  });

  it('loads in Node with the documented config; pre-training changed the projections only', async () => {
    const ckpt = await openModelFolder(nodeFiles(DEMO_DIR));
    expect(ckpt.spec).toMatchObject({
      architecture: 'llama', hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 16, intermediateSize: 256,
      vocabSize: 768, tieWordEmbeddings: true, bosTokenId: 1, eosTokenIds: [2], torchDtype: 'float16',
    });
    for (const name of ckpt.tensorNames) {
      const stored = Array.from(await ckpt.readTensorF32(name));
      const init = Array.from(generated.tensors.get(name)!.data);
      // The engine trains LoRA adapters on projections; embeddings and norms stay as generated.
      if (/_proj\.weight$/.test(name)) expect(stored, `${name} was not trained`).not.toEqual(init);
      else expect(stored, `${name} changed`).toEqual(init);
    }
    const emb = await ckpt.readTensorF32('model.embed_tokens.weight');
    const std = Math.sqrt(emb.reduce((s, x) => s + x * x, 0) / emb.length);
    expect(std).toBeGreaterThan(0.24);
    expect(std).toBeLessThan(0.26);
  });

  it('loads in Node: tokenizer through @huggingface/transformers, offline, with a working chat template', async () => {
    const { AutoTokenizer, env } = await import('@huggingface/transformers');
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.localModelPath = join(DEMO_DIR, '..');
    const tok = await AutoTokenizer.from_pretrained('demo');
    for (const text of ['The quick brown fox jumps over the lazy dog.', 'Ünïcödé → 漢字 🙂 and\ttabs\n\nnewlines', ' leading space', '12345 + 678 = 13023']) {
      const ids = tok.encode(text, { add_special_tokens: false });
      expect(ids.every((id: number) => id >= 3 && id < 768)).toBe(true);
      expect(tok.decode(ids)).toBe(text);
    }
    // Trained merges compress English: well under one token per character; the demo's words are one token each.
    const sentence = 'The people of the village grew wheat and apples.';
    expect(tok.encode(sentence).length).toBeLessThan(sentence.length / 2);
    expect(tok.encode('What sound does a cat make?', { add_special_tokens: false }).length).toBe(7);
    const prompt = tok.apply_chat_template([{ role: 'user', content: 'Hi' }], { tokenize: false, add_generation_prompt: true });
    expect(prompt).toBe('<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
    const ids = tok.apply_chat_template([{ role: 'user', content: 'Hi' }], { add_generation_prompt: true, return_tensor: false, return_dict: false }) as number[];
    expect(ids[0]).toBe(1);
    expect(ids).toContain(2);
    expect([tok.bos_token_id, tok.eos_token_id, tok.pad_token_id]).toEqual([1, 2, 2]);
    expect(tok.decode([1, 2], { skip_special_tokens: true })).toBe('');
  });
});
