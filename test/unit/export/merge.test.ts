/**
 * The exporters' merge (W + s·B·A on PEFT-named tensors) against the float64 references running the
 * adapter unmerged through the engine's own layout: the same logits, for plain LoRA and rsLoRA, for
 * a decoder and for each encoder family (whose SEQ_CLS adapter also brings its trained head).
 */
import { describe, expect, it } from 'vitest';
import { mergedWeights } from '../../../src/formats/export/merge';
import { adapterFromTensors } from '../../../src/engine/model/lora';
import { llamaAdapterLayout as adapterLayout } from '../../../src/engine/model/llama';
import { referenceLogits } from '../../../src/engine/model/llama.ref';
import { batchFromIds } from '../../../src/engine/model/types';
import { maxAbsDiff, testAdapter, testModel } from './fixtures';
import { encoderAdapterKey, encoderAdapterLayout, encoderReference, type EncoderModule } from '../../../src/engine/model/bert.ref';
import { encoderModulePath } from '../../../src/formats/encoderConfig';
import { expectedAdapterTensors, expectedHeadTensors, type LoraConfig } from '../../../src/formats/peft';
import { paddedRows, refSpec, tinyEncoderConfig, tinyEncoderWeights } from '../engine/tinyEncoder';
import { rng } from '../../helpers/random';

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

describe('mergedWeights of an encoder (SEQ_CLS: LoRA merged, the trained head taken from the adapter)', () => {
  for (const family of ['bert', 'roberta', 'distilbert'] as const) {
    for (const useRslora of [false, true]) {
      it(`${family}${useRslora ? ' (rsLoRA)' : ''}: merged weights give the logits of base + adapter unmerged`, async () => {
        const cfg = tinyEncoderConfig(family);
        const task = { problemType: 'single_label_classification' as const, labels: ['a', 'b', 'c'] };
        const base = { ...cfg, numLabels: 3 };
        const weights = tinyEncoderWeights(cfg, 7);
        const config: LoraConfig = {
          taskType: 'SEQ_CLS', modulesToSave: ['classifier', 'score'], r: 2, alpha: 5, dropout: 0, targetModules: ['q_proj', 'v_proj', 'o_proj', 'down_proj'],
          useRslora, layers: [1], baseModelNameOrPath: 'tiny', revision: null, rankPattern: {}, alphaPattern: {},
        };
        const r = rng(11);
        const tensors = new Map<string, Float32Array>();
        for (const e of [...expectedAdapterTensors(base, config), ...expectedHeadTensors(base)]) tensors.set(e.key, Float32Array.from({ length: e.shape.reduce((a, b) => a * b, 1) }, () => (r() - 0.5) * 0.8));
        const read = mergedWeights(base, (n) => weights.get(n)!, { config, tensors, task });
        const names = [...weights.keys(), ...expectedHeadTensors(base).map((h) => h.name)];
        const merged = new Map<string, Float32Array>();
        for (const n of new Set(names)) merged.set(n, await read(n));

        // The reference runs the adapter unmerged, its flat layout filled from the same PEFT keys.
        const modules: EncoderModule[] = ['query', 'value', 'attention.output', 'output'];
        const spec = refSpec(cfg, task);
        const layout = encoderAdapterLayout(spec, { r: 2, alpha: 5, targets: modules, layers: [1], useRslora });
        const params = new Float32Array(layout.size);
        for (const s of layout.slots) {
          params.set(tensors.get(encoderAdapterKey(family, s.layer, s.module, 'A'))!, s.offsetA);
          params.set(tensors.get(encoderAdapterKey(family, s.layer, s.module, 'B'))!, s.offsetB);
        }
        const withHead = new Map(weights);
        for (const h of expectedHeadTensors(base)) withHead.set(h.name, tensors.get(h.key)!);
        const rows = paddedRows(cfg, 3);
        const T = 5;
        const batch = {
          B: rows.length, T,
          inputIds: rows.flatMap((row) => [...row.ids, ...Array(T - row.ids.length).fill(cfg.padTokenId)]),
          attentionMask: rows.flatMap((row) => [...row.ids.map(() => 1), ...Array(T - row.ids.length).fill(0)]),
          tokenTypeIds: family === 'distilbert' ? undefined : rows.flatMap((row) => [...row.types, ...Array(T - row.ids.length).fill(0)]),
          labels: new Int32Array(rows.length),
        };
        const unmerged = encoderReference(spec, withHead, batch, { adapter: { layout, params } }).logits;
        const viaMerge = encoderReference(spec, merged, batch).logits;
        const baseHead = encoderReference(spec, withHead, batch).logits;
        expect(maxAbsDiff(viaMerge, baseHead)).toBeGreaterThan(1e-2); // the LoRA matters
        expect(maxAbsDiff(viaMerge, unmerged)).toBeLessThan(1e-6); // f32 rounding of W' only
        const untouched = `${encoderModulePath(family, 0, 'query')}.weight`;
        expect(merged.get(untouched)).toBe(weights.get(untouched));
      });
    }
  }
});
