import { describe, expect, it } from 'vitest';
import { LlamaGpu } from '../../../src/engine/model/llama';
import { uploadAdapter } from '../../../src/engine/model/model';
import { generateTokens, sampleToken } from '../../../src/engine/model/generate';
import { llamaReference, type RefAdapter } from '../../../src/engine/model/llama.ref';
import { llamaAdapterLayout } from '../../../src/engine/model/llama';
import { TARGET_MODULES } from '../../../src/settings/settings';
import { batchFromIds } from '../../../src/engine/model/types';
import { SeededRng } from '../../../src/engine/train/rng';
import { testGpu } from '../../helpers/gpu';
import { randomAdapter, tinySpec, tinyWeights } from '../../unit/engine/tinyModel';

/** Greedy decoding with the float64 model, recomputing the whole sequence each step (no cache). */
function greedyReference(spec: ReturnType<typeof tinySpec>, weights: Map<string, Float32Array>, prompt: number[], n: number, adapter: RefAdapter | null) {
  const seq = [...prompt];
  for (let i = 0; i < n; i++) {
    const logits = llamaReference(spec, weights, batchFromIds([seq]), { adapter, logits: true }).logits!;
    const V = spec.vocabSize;
    const last = logits.subarray((seq.length - 1) * V, seq.length * V);
    let best = 0;
    for (let j = 1; j < V; j++) if (last[j] > last[best]) best = j;
    seq.push(best);
  }
  return seq.slice(prompt.length);
}

describe('generation with a KV cache', () => {
  for (const kind of ['llama', 'qwen2'] as const) {
    it(`${kind}: greedy tokens with the KV cache equal full recomputation by the float64 model, adapter on and off`, async () => {
      const gpu = await testGpu();
      const spec = tinySpec(kind, { maxPositionEmbeddings: 64 });
      const weights = tinyWeights(spec, 17, 0.6);
      const model = await LlamaGpu.load(gpu, spec, async (n) => weights.get(n)!, { weights: 'f32' });
      const layout = llamaAdapterLayout(spec, { r: 2, alpha: 4, dropout: 0, targets: [...TARGET_MODULES], layers: null, useRslora: false });
      const params = Float32Array.from(randomAdapter(layout.size, 4, 1.0));
      const adapter = uploadAdapter(gpu, layout, params, { grads: true });
      const prompt = [3, 9, 14, 2, 20];
      const opts = { maxNewTokens: 8, temperature: 0, topK: 0, topP: 1, seed: 1, eosTokenIds: [] };
      const base = await generateTokens(model, null, prompt, opts);
      const tuned = await generateTokens(model, adapter, prompt, opts);
      expect(base).toEqual(greedyReference(spec, weights, prompt, 8, null));
      expect(tuned).toEqual(greedyReference(spec, weights, prompt, 8, { layout, params }));
      expect(tuned).not.toEqual(base);
      // EOS stops generation and is not returned
      const stop = await generateTokens(model, null, prompt, { ...opts, eosTokenIds: [base[2]] });
      expect(stop).toEqual(base.slice(0, base.indexOf(base[2])));
      model.destroy();
    });
  }

  it('sampling: top-k 1 is greedy, top-p keeps the nucleus, the seed makes it reproducible', () => {
    const logits = [0.1, 2, 1.9, -1, 0.5];
    const rng = new SeededRng(3);
    expect(sampleToken(logits, { temperature: 1, topK: 1, topP: 1 }, rng)).toBe(1);
    const draws = new Set(Array.from({ length: 200 }, () => sampleToken(logits, { temperature: 1, topK: 0, topP: 0.6 }, rng)));
    expect([...draws].sort()).toEqual([1, 2]);
    const a = Array.from({ length: 20 }, ((r) => () => sampleToken(logits, { temperature: 1, topK: 0, topP: 1 }, r))(new SeededRng(9)));
    const b = Array.from({ length: 20 }, ((r) => () => sampleToken(logits, { temperature: 1, topK: 0, topP: 1 }, r))(new SeededRng(9)));
    expect(a).toEqual(b);
  });
});
