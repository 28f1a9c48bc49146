import { describe, expect, it } from 'vitest';
import { Recorder } from '../../../src/engine/gpu/recorder';
import { createBuffer, readF32, uploadBuffer } from '../../../src/engine/gpu/buffers';
import {
  AttentionArgumentError, attentionBackward, attentionForward, bidirectionalAttentionBackward, bidirectionalAttentionForward, type AttentionKernels,
} from '../../../src/engine/kernels/attention/attention';
import { attentionBackwardRef, attentionForwardRef, type AttentionDropout, type AttentionShape } from '../../../src/engine/kernels/attention/attention.ref';
import { expectClose } from '../../helpers/compare';
import { recordKernelError } from '../../helpers/kernelErrors';
import { uniformValues } from '../../helpers/random';
import { testGpu } from '../../helpers/gpu';
import { TOLERANCES } from '../../helpers/tolerances';

interface Case {
  name: string;
  shape: AttentionShape & { maxBindingBytes?: number };
  /** Real tokens per batch row (the rest is padding); absent: causal attention, one segment per row. */
  lengths?: number[];
  dropout?: AttentionDropout;
  /** The kernel sets to run; default both where the head allows (kernelSets). */
  sets?: AttentionKernels[];
}

// NOTE: each HS 64 pipeline takes seconds to compile on the software adapters, so HS 64 appears once.
const cases: Case[] = [
  {
    name: 'BERT-like HS 64, rows of 20, 13 and 1 real tokens, attention dropout 0.1',
    shape: { B: 3, T: 20, NH: 2, KVH: 2, HS: 64 }, lengths: [20, 13, 1], dropout: { p: 0.1, key: { seed: 42, site: 5000, step: 7 } },
  },
  { name: 'no dropout, HS 8, an all-padding row, batch rows split by the binding limit', shape: { B: 5, T: 16, NH: 2, KVH: 1, HS: 8, maxBindingBytes: 4096 }, lengths: [16, 0, 9, 3, 16] },
  {
    name: 'dropout 0.3, an all-padding row, batch rows split by the binding limit (mask keyed by the global token)',
    shape: { B: 5, T: 16, NH: 2, KVH: 1, HS: 8, maxBindingBytes: 4096 }, lengths: [16, 0, 9, 3, 16], dropout: { p: 0.3, key: { seed: 3, site: 77, step: 1 } },
  },
  {
    name: 'causal (decoder) attention with dropout 0.2, GQA 2',
    shape: { B: 2, T: 11, NH: 4, KVH: 2, HS: 8 }, dropout: { p: 0.2, key: { seed: 8, site: 9, step: 10 } },
  },
  {
    name: 'the demo encoder\'s heads (HS 16), rows of 70, 64 and 5 real tokens over two blocks of 64 rows, dropout 0.1',
    shape: { B: 3, T: 70, NH: 2, KVH: 2, HS: 16 }, lengths: [70, 64, 5], dropout: { p: 0.1, key: { seed: 11, site: 12, step: 13 } },
    // Tiled, this shape is the cases above's kernels again, at seconds of SwiftShader compile.
    sets: ['direct'],
  },
];

/** Both kernel sets where a head fits the direct kernels (HS ≤ 16), whatever this adapter would choose. */
const kernelSets = (HS: number): AttentionKernels[] => (HS <= 16 ? ['tiled', 'direct'] : ['tiled']);

async function run(c: Case, seed: number, kernels: AttentionKernels) {
  const gpu = await testGpu();
  const { B, T, NH, KVH, HS } = c.shape;
  const N = B * T;
  const q = uniformValues(N * NH * HS, seed, -2, 2);
  const k = uniformValues(N * KVH * HS, seed + 1, -2, 2);
  const v = uniformValues(N * KVH * HS, seed + 2);
  const dout = uniformValues(N * NH * HS, seed + 3);
  const keyMask = c.lengths ? Uint32Array.from({ length: N }, (_, n) => (n % T < c.lengths![Math.floor(n / T)] ? 1 : 0)) : undefined;
  const segmentIds = new Uint32Array(N);
  const mask = keyMask ? { keyMask } : { segmentIds };
  const ref = attentionForwardRef({ ...c.shape, q, k, v, ...mask, dropout: c.dropout });
  const grads = attentionBackwardRef({ ...c.shape, q, k, v, ...mask, dropout: c.dropout, out: ref.out, lse: ref.lse, dout });
  const buf = {
    q: uploadBuffer(gpu, 'attention test q', q),
    k: uploadBuffer(gpu, 'attention test k', k),
    v: uploadBuffer(gpu, 'attention test v', v),
    mask: uploadBuffer(gpu, 'attention test key mask or segments', keyMask ?? segmentIds),
    out: uploadBuffer(gpu, 'attention test out', new Float32Array(N * NH * HS).fill(Number.NaN)),
    lse: uploadBuffer(gpu, 'attention test lse', new Float32Array(N * NH).fill(Number.NaN)),
    refOut: uploadBuffer(gpu, 'attention test reference out', Float32Array.from(ref.out)),
    refLse: uploadBuffer(gpu, 'attention test reference lse', Float32Array.from(ref.lse)),
    dout: uploadBuffer(gpu, 'attention test dout', dout),
    delta: createBuffer(gpu, 'attention test delta', N * NH * 4),
    dq: createBuffer(gpu, 'attention test dq', N * NH * HS * 4),
    dk: createBuffer(gpu, 'attention test dk', N * KVH * HS * 4),
    dv: createBuffer(gpu, 'attention test dv', N * KVH * HS * 4),
  };
  const rec = new Recorder(gpu, 'bidirectional attention test');
  const common = { ...c.shape, ...buf, dropout: c.dropout, kernels };
  if (keyMask) {
    bidirectionalAttentionForward(rec, { ...common, keyMask: buf.mask });
    // The backward is checked on the reference's out and lse so that it is tested on its own.
    bidirectionalAttentionBackward(rec, { ...common, keyMask: buf.mask, out: buf.refOut, lse: buf.refLse });
  } else {
    attentionForward(rec, { ...common, segmentIds: buf.mask });
    attentionBackward(rec, { ...common, segmentIds: buf.mask, out: buf.refOut, lse: buf.refLse });
  }
  await rec.done();
  const got = {
    out: await readF32(gpu, buf.out),
    lse: await readF32(gpu, buf.lse),
    dq: await readF32(gpu, buf.dq),
    dk: await readF32(gpu, buf.dk),
    dv: await readF32(gpu, buf.dv),
  };
  expect(gpu.takeUncapturedErrors()).toEqual([]);
  for (const b of Object.values(buf)) b.destroy();
  return { ref, grads, got };
}

describe('bidirectional attention and attention dropout match the float64 reference', () => {
  cases.forEach((c, index) => (c.sets ?? kernelSets(c.shape.HS)).forEach((kernels) => {
    const { B, T, NH, KVH, HS } = c.shape;
    const label = `B${B} T${T} NH${NH} KVH${KVH} HS${HS}${c.lengths ? ' padded' : ' causal'}${c.dropout ? ` dropout ${c.dropout.p}` : ''}${kernels === 'direct' ? ' direct' : ''}`;
    let result: ReturnType<typeof run> | undefined;
    const once = () => (result ??= run(c, 300 + index * 10, kernels));
    const op = c.lengths ? 'attention_bidirectional' : 'attention_dropout';
    const name = `${c.name} (${kernels})`;
    it(`${op} forward ${name} matches_reference`, async () => {
      const { ref, got } = await once();
      const gpu = await testGpu();
      expect(got.out.every(Number.isFinite), 'every output finite, padded rows included').toBe(true);
      recordKernelError(op, 'forward', label, expectClose(got.out, ref.out, TOLERANCES.attentionForward, `out ${label}`), gpu.adapter.name);
      expectClose(got.lse, ref.lse, TOLERANCES.attentionForward, `lse ${label}`);
    });
    it(`${op} backward ${name} matches_reference`, async () => {
      const { grads, got } = await once();
      const gpu = await testGpu();
      const tol = TOLERANCES.attentionBackward;
      const errors = [expectClose(got.dq, grads.dq, tol, `dq ${label}`), expectClose(got.dk, grads.dk, tol, `dk ${label}`), expectClose(got.dv, grads.dv, tol, `dv ${label}`)];
      recordKernelError(op, 'backward', label, errors.reduce((a, b) => (b.maxAbs > a.maxAbs ? b : a)), gpu.adapter.name);
    });
  }));

  it('attention launchers refuse a dropout probability outside [0, 1)', async () => {
    const gpu = await testGpu();
    const b = createBuffer(gpu, 'attention dropout argument test', 256);
    const rec = new Recorder(gpu, 'attention dropout argument test');
    const args = { B: 1, T: 2, NH: 1, KVH: 1, HS: 4, q: b, k: b, v: b, keyMask: b, out: b, lse: b, dropout: { p: 1, key: { seed: 1, site: 1, step: 1 } } };
    expect(() => bidirectionalAttentionForward(rec, args)).toThrow(AttentionArgumentError);
    expect(rec.dispatches).toBe(0);
    await rec.done();
    b.destroy();
  });
});
