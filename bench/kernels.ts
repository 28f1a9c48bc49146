// Our fused kernels from the other engineers (LoRA linear, flash attention, LM head + cross-entropy)
// at the real model shapes. No peer has these as single kernels, so they are reported in GFLOP/s;
// the LoRA training step against TF.js lives in lora-step.ts.
import type { Gpu } from '../src/engine/gpu/device';
import { createBuffer, uploadBuffer } from '../src/engine/gpu/buffers';
import type { Recorder } from '../src/engine/gpu/recorder';
import { loraBackward, loraForward } from '../src/engine/kernels/lora/lora';
import { attentionBackward, attentionForward } from '../src/engine/kernels/attention/attention';
import { lmheadChunkRows, lmheadLoss } from '../src/engine/kernels/lmhead/lmhead';
import { matmulFlops, median, type Measurement, type RepeatOptions } from './harness';
import { randomValues, timeOurs } from './ours';
import { projections, type ModelShape } from './shapes';

class Scratch {
  readonly all: GPUBuffer[] = [];
  constructor(private readonly gpu: Gpu) {}
  values(label: string, n: number, seed: number, scale = 1): GPUBuffer {
    const v = randomValues(n, seed);
    if (scale !== 1) for (let i = 0; i < n; i++) v[i] *= scale;
    const b = uploadBuffer(this.gpu, label, v);
    this.all.push(b);
    return b;
  }
  data(label: string, data: Uint32Array | Int32Array): GPUBuffer {
    const b = uploadBuffer(this.gpu, label, data);
    this.all.push(b);
    return b;
  }
  empty(label: string, n: number): GPUBuffer {
    const b = createBuffer(this.gpu, label, 4 * n);
    this.all.push(b);
    return b;
  }
  destroy(): void {
    for (const b of this.all) b.destroy();
  }
}

async function measure(gpu: Gpu, name: string, flops: number, record: (rec: Recorder) => void, options: RepeatOptions, note?: string): Promise<Measurement> {
  const t = await timeOurs(gpu, name, record, options);
  return { group: 'kernels', name, impl: 'ours', ms: median(t.samples), samples: t.samples, timing: t.timing, flops, note };
}

/** loraForward then loraBackward of one projection with its adapter (dropout 0.05). */
export async function benchLora(gpu: Gpu, model: ModelShape, proj: string, T: number, R: number, options: RepeatOptions): Promise<Measurement> {
  const [IN, OUT] = projections(model)[proj];
  const s = new Scratch(gpu);
  try {
    const w = s.values('W', OUT * IN, 1);
    const x = s.values('x', T * IN, 2);
    const dy = s.values('dy', T * OUT, 3);
    const lora = {
      a: s.values('A', R * IN, 4), b: s.values('B', OUT * R, 5), R, scale: 16 / R, dropout: 0.05,
      dropoutKey: { seed: 1, site: 0, step: 0 }, u: s.empty('u', T * R), xd: s.empty('xd', T * IN),
    };
    const grads = { dA: s.empty('dA', R * IN), dB: s.empty('dB', OUT * R), du: s.empty('du', T * R) };
    const y = s.empty('y', T * OUT);
    const dx = s.empty('dx', T * IN);
    const flops = 2 * matmulFlops(T, OUT, IN) + 3 * matmulFlops(T, R, IN) + 3 * matmulFlops(T, OUT, R);
    return await measure(gpu, `lora fwd+bwd ${model.name} ${proj} T${T} ${IN}→${OUT} r${R}`, flops, (rec) => {
      loraForward(rec, { w, IN, OUT, N: T, x, y, lora });
      loraBackward(rec, { w, IN, OUT, N: T, dy, x, dx, lora, grads });
    }, options, 'dropout 0.05');
  } finally {
    s.destroy();
  }
}

/** Causal attention forward and backward over one batch row of T tokens. */
export async function benchAttention(gpu: Gpu, model: ModelShape, T: number, options: RepeatOptions): Promise<Measurement[]> {
  const { NH, KVH, HS } = model;
  const shape = { B: 1, T, NH, KVH, HS };
  const s = new Scratch(gpu);
  try {
    const q = s.values('q', T * NH * HS, 1);
    const k = s.values('k', T * KVH * HS, 2);
    const v = s.values('v', T * KVH * HS, 3);
    const segmentIds = s.data('segments', new Uint32Array(T));
    const out = s.empty('out', T * NH * HS);
    const lse = s.empty('lse', T * NH);
    const dout = s.values('dout', T * NH * HS, 4);
    const delta = s.empty('delta', T * NH);
    const dq = s.empty('dq', T * NH * HS);
    const dk = s.empty('dk', T * KVH * HS);
    const dv = s.empty('dv', T * KVH * HS);
    // Causal: half of the T² scores; QKᵀ and PV are 2·HS FLOPs each per score.
    const fwdFlops = 2 * 2 * NH * HS * (T * (T + 1)) / 2;
    const fwd = await measure(gpu, `attention fwd ${model.name} T${T} ${NH}/${KVH}×${HS}`, fwdFlops, (rec) => {
      attentionForward(rec, { ...shape, q, k, v, segmentIds, out, lse });
    }, options);
    const bwd = await measure(gpu, `attention bwd ${model.name} T${T} ${NH}/${KVH}×${HS}`, 2.5 * fwdFlops, (rec) => {
      attentionBackward(rec, { ...shape, q, k, v, segmentIds, out, lse, dout, delta, dq, dk, dv });
    }, options, 'backward FLOPs counted as 2.5× forward (recomputed scores, dS, dQ, dK, dV)');
    return [fwd, bwd];
  } finally {
    s.destroy();
  }
}

/**
 * Fused LM head + cross-entropy (loss and dh) over N tokens, vocabulary chunked with chunks of at
 * most `maxChunkBytes` of logits (default lmhead's 64 MiB, as the model sizes them).
 */
export async function benchLmHead(gpu: Gpu, model: ModelShape, N: number, options: RepeatOptions, maxChunkBytes?: number): Promise<Measurement> {
  const { C, V } = model;
  const s = new Scratch(gpu);
  try {
    const chunkRows = lmheadChunkRows(gpu, N, V, maxChunkBytes);
    const labels = new Int32Array(N);
    for (let i = 0; i < N; i++) labels[i] = (i * 7919) % V;
    const args = {
      w: s.values('lm head W', V * C, 1, 0.05), N, C, V, h: s.values('h', N * C, 2), labels: s.data('labels', labels), gradScale: 1 / N,
      logits: s.empty('logits chunk', chunkRows * V), chunkRows, rowLoss: s.empty('row loss', N), rowCorrect: s.empty('row correct', N), lossSum: s.empty('loss sum', 1),
      targetCount: s.empty('target count', 2), dh: s.empty('dh', N * C),
    };
    // logits and dh: two [N, V]·C products; the softmax is O(N·V).
    const bound = maxChunkBytes ? ` (${maxChunkBytes >> 20} MiB chunks)` : '';
    return await measure(gpu, `lmhead+CE ${model.name} N${N} C${C} V${V}${bound}`, 2 * matmulFlops(N, V, C), (rec) => lmheadLoss(rec, args), options, `chunk ${chunkRows} rows`);
  } finally {
    s.destroy();
  }
}
