/**
 * The merged Hugging Face checkpoint reads back through the project's own strict checkpoint reader
 * (safetensors rules, config → spec, every tensor) with exactly the merged weights, sharded or not.
 */
import { describe, expect, it } from 'vitest';
import { memoryFiles, openModelFolder } from '../../../src/formats/modelFolder';
import { concatParts } from '../../../src/formats/export/gguf/format';
import { exportHf } from '../../../src/formats/export';
import { fromF32, toF32 } from '../../../src/formats/dtype';
import { source, testModel } from './fixtures';

describe('merged Hugging Face checkpoint', () => {
  for (const [label, dtype, maxShardBytes] of [['qwen3', 'F32', undefined], ['demo', 'BF16', 60_000]] as const) {
    it(`${label} ${dtype}${maxShardBytes ? ', sharded' : ''}: reads back as the merged model`, async () => {
      const m = await testModel(label);
      const files = await exportHf(source(m, m.merged), { dtype, maxShardBytes });
      const mem = new Map<string, Uint8Array | string>();
      for (const [name, parts] of files) mem.set(name, name.endsWith('.json') ? new TextDecoder().decode(concatParts(parts)) : concatParts(parts));
      if (maxShardBytes) expect([...mem.keys()].filter((k) => k.startsWith('model-')).length).toBeGreaterThan(1);
      else expect(mem.has('model.safetensors')).toBe(true);
      expect(mem.has('tokenizer.json') && mem.has('tokenizer_config.json')).toBe(true);
      const ckpt = await openModelFolder(memoryFiles(mem, label));
      expect(ckpt.spec).toEqual({ ...m.spec, torchDtype: dtype === 'BF16' ? 'bfloat16' : 'float32' });
      for (const [name, w] of m.merged) {
        const want = dtype === 'F32' ? w : toF32(dtype, fromF32(dtype, w));
        expect(Array.from(await ckpt.readTensorF32(name)), name).toEqual(Array.from(want));
      }
    });
  }
});
