/**
 * The exporters' merge (W + s·B·A on PEFT-named tensors) against the float64 reference running the
 * adapter unmerged through the engine's own layout: the same logits, for plain LoRA and rsLoRA.
 */
import { describe, expect, it } from 'vitest';
import { mergedWeights } from '../../../src/formats/export/merge';
import { adapterFromTensors } from '../../../src/engine/model/lora';
import { llamaAdapterLayout as adapterLayout } from '../../../src/engine/model/llama';
import { referenceLogits } from '../../../src/engine/model/llama.ref';
import { batchFromIds } from '../../../src/engine/model/types';
import { maxAbsDiff, testAdapter, testModel } from './fixtures';

describe('mergedWeights', () => {
  for (const useRslora of [false, true]) {
    it(`merged weights give the logits of base + adapter${useRslora ? ' (rsLoRA)' : ''}`, async () => {
      const m = await testModel('qwen3');
      const adapter = testAdapter(m.spec, 21, { useRslora, layers: [0], targetModules: ['q_proj', 'v_proj', 'o_proj', 'down_proj'] });
      const read = mergedWeights(m.spec, (n) => m.base.get(n)!, adapter);
      const merged = new Map<string, Float32Array>();
      for (const k of m.base.keys()) merged.set(k, await read(k));
      const c = adapter.config;
      const layout = adapterLayout(m.spec, { r: c.r, alpha: c.alpha, dropout: 0, targets: c.targetModules, layers: c.layers, useRslora });
      const params = adapterFromTensors(layout, adapter.tensors);
      const batch = batchFromIds([[1, 40, 41, 300, 7, 2, 9]]);
      const unmerged = referenceLogits(m.spec, m.base, batch, { layout, params });
      const viaMerge = referenceLogits(m.spec, merged, batch);
      const base = referenceLogits(m.spec, m.base, batch);
      expect(maxAbsDiff(viaMerge, base)).toBeGreaterThan(1e-2); // the adapter matters
      expect(maxAbsDiff(viaMerge, unmerged)).toBeLessThan(1e-6); // f32 rounding of W' only
      expect(merged.get('model.layers.1.self_attn.q_proj.weight')).toBe(m.base.get('model.layers.1.self_attn.q_proj.weight'));
    });
  }
});
