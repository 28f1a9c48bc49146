import { describe, expect, it } from 'vitest';
import { llamaReference, type RefAdapter } from '../../../src/engine/model/llama.ref';
import { initAdapter, type LoraSlot } from '../../../src/engine/model/lora';
import { llamaAdapterLayout } from '../../../src/engine/model/llama';
import { TARGET_MODULES } from '../../../src/settings/settings';
import { ropeInverseFrequencies } from '../../../src/engine/model/rope';
import { batchFromIds } from '../../../src/engine/model/types';
import { SeededRng } from '../../../src/engine/train/rng';
import { packedBatch, randomAdapter, tinySpec, tinyWeights } from './tinyModel';

const settings = { r: 2, alpha: 3, dropout: 0, targets: [...TARGET_MODULES], layers: null, useRslora: false };

function fdCheck(kind: 'llama' | 'qwen2' | 'qwen3', withDropout: boolean, over = {}) {
  const spec = tinySpec(kind, over);
  const weights = tinyWeights(spec, 11);
  const batch = packedBatch(spec.vocabSize, 7, 5);
  const layout = llamaAdapterLayout(spec, settings);
  const params = randomAdapter(layout.size, 3);
  const masks = new Map<LoraSlot, Float64Array>();
  const dropoutMask = withDropout
    ? (slot: LoraSlot, N: number) => {
        let m = masks.get(slot);
        if (!m) {
          const rng = new SeededRng(slot.offsetA + 1);
          m = Float64Array.from({ length: N * slot.in }, () => (rng.next() < 0.25 ? 0 : 1 / 0.75));
          masks.set(slot, m);
        }
        return m;
      }
    : undefined;
  const adapter: RefAdapter = { layout, params, dropoutMask };
  const { loss, grads } = llamaReference(spec, weights, batch, { adapter, grads: true });
  expect(Number.isFinite(loss)).toBe(true);
  const h = 1e-5;
  let maxErr = 0;
  let maxGrad = 0;
  for (let i = 0; i < layout.size; i++) {
    const saved = params[i];
    params[i] = saved + h;
    const lp = llamaReference(spec, weights, batch, { adapter }).loss;
    params[i] = saved - h;
    const lm = llamaReference(spec, weights, batch, { adapter }).loss;
    params[i] = saved;
    const fd = (lp - lm) / (2 * h);
    const err = Math.abs(fd - grads![i]) / (1e-6 + Math.abs(fd) + Math.abs(grads![i]));
    maxErr = Math.max(maxErr, err);
    maxGrad = Math.max(maxGrad, Math.abs(grads![i]));
  }
  return { maxErr, maxGrad, loss };
}

describe('float64 reference model', () => {
  it('every LoRA gradient of a Llama-style model matches central finite differences', () => {
    const { maxErr, maxGrad } = fdCheck('llama', false);
    expect(maxGrad).toBeGreaterThan(1e-3);
    expect(maxErr).toBeLessThan(1e-5);
  });

  it('Qwen2-style (q/k/v biases, GQA 4:1, tied embeddings) with dropout masks matches finite differences', () => {
    const { maxErr } = fdCheck('qwen2', true);
    expect(maxErr).toBeLessThan(1e-5);
  });

  it('Qwen3-style (q/k norms) with llama3 rope scaling matches finite differences', () => {
    const scaling = { type: 'llama3' as const, factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 16 };
    const { maxErr } = fdCheck('qwen3', false, { ropeScaling: scaling });
    expect(maxErr).toBeLessThan(1e-5);
  });

  it('an initialized adapter (B = 0) leaves the logits equal to the base model', () => {
    const spec = tinySpec('llama');
    const weights = tinyWeights(spec, 2);
    const batch = batchFromIds([[1, 5, 7, 9, 3]]);
    const layout = llamaAdapterLayout(spec, settings);
    const params = initAdapter(layout, 42);
    const base = llamaReference(spec, weights, batch, { logits: true }).logits!;
    const tuned = llamaReference(spec, weights, batch, { logits: true, adapter: { layout, params } }).logits!;
    expect(Array.from(tuned)).toEqual(Array.from(base));
  });

  it('packing is exact: a packed row gives the same per-document loss as separate rows', () => {
    const spec = tinySpec('qwen2');
    const weights = tinyWeights(spec, 4);
    const docA = [3, 8, 2, 9];
    const docB = [5, 6, 7];
    const packed = {
      B: 1, T: 7,
      inputIds: Int32Array.from([...docA, ...docB]),
      labels: Int32Array.from([8, 2, 9, -100, 6, 7, -100]),
      positionIds: Uint32Array.from([0, 1, 2, 3, 0, 1, 2]),
      segmentIds: Uint32Array.from([0, 0, 0, 0, 1, 1, 1]),
      targetTokens: 5,
    };
    const a = llamaReference(spec, weights, batchFromIds([docA]));
    const b = llamaReference(spec, weights, batchFromIds([docB]));
    const p = llamaReference(spec, weights, packed);
    expect(p.lossSum).toBeCloseTo(a.lossSum + b.lossSum, 10);
  });

  it('llama3 rope scaling keeps high frequencies and divides low ones by the factor', () => {
    const spec = { headDim: 64, ropeTheta: 500000, ropeScaling: { type: 'llama3' as const, factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 } };
    const scaled = ropeInverseFrequencies(spec);
    const plain = ropeInverseFrequencies({ ...spec, ropeScaling: null });
    expect(scaled[0]).toBe(plain[0]);
    expect(scaled[31]).toBeCloseTo(plain[31] / 32, 15);
    expect(scaled[16]).toBeLessThan(plain[16]);
    expect(scaled[16]).toBeGreaterThan(plain[16] / 32);
  });
});
