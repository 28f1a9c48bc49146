import { describe, expect, it } from 'vitest';
import { Recorder } from '../../../src/engine/gpu/recorder';
import { createBuffer, readF32, uploadBuffer } from '../../../src/engine/gpu/buffers';
import { AttentionArgumentError, attentionBackward, attentionForward, attentionKernels, type AttentionKernels } from '../../../src/engine/kernels/attention/attention';
import { attentionBackwardRef, attentionForwardRef, type AttentionShape } from '../../../src/engine/kernels/attention/attention.ref';
import { expectClose } from '../../helpers/compare';
import { recordKernelError } from '../../helpers/kernelErrors';
import { rng, uniformValues } from '../../helpers/random';
import { testGpu } from '../../helpers/gpu';
import { TOLERANCES } from '../../helpers/tolerances';

/** Packs random-length documents into each row and pads the tail with a segment of its own. */
function packedSegments(B: number, T: number, seed: number, pack: boolean): Uint32Array {
  const r = rng(seed);
  const ids = new Uint32Array(B * T);
  let id = 1;
  for (let b = 0; b < B; b++) {
    const used = pack ? Math.max(1, Math.floor(T * (0.6 + 0.4 * r()))) : T;
    let t = 0;
    while (t < used) {
      const len = pack ? 1 + Math.floor(r() * Math.max(1, used / 2)) : used;
      for (let i = 0; i < len && t < used; i++, t++) ids[b * T + t] = id;
      id++;
    }
    for (; t < T; t++) ids[b * T + t] = 0xffffffff - b; // padding
  }
  return ids;
}

// The last two shapes run the direct kernels only: the tiled ones are covered by the shapes above,
// and each new tiled pipeline costs seconds to compile on SwiftShader.
const shapes: [string, AttentionShape & { maxBindingBytes?: number }, boolean, AttentionKernels[]?][] = [
  ['MHA odd T', { B: 2, T: 7, NH: 2, KVH: 2, HS: 8 }, false],
  ['T = 1', { B: 5, T: 1, NH: 3, KVH: 3, HS: 8 }, false],
  ['single head HS 64, T over one block', { B: 1, T: 130, NH: 1, KVH: 1, HS: 64 }, true],
  ['GQA 3 HS 64 packed', { B: 2, T: 67, NH: 3, KVH: 1, HS: 64 }, true],
  ['GQA 7 small head', { B: 2, T: 33, NH: 7, KVH: 1, HS: 8 }, true],
  ['GQA 2 HS 128', { B: 1, T: 40, NH: 4, KVH: 2, HS: 128 }, true],
  ['batch rows split by the binding limit', { B: 5, T: 16, NH: 2, KVH: 1, HS: 8, maxBindingBytes: 4096 }, true],
  ['GQA 1 packed, custom scale, head size 20 (5 lanes × 1 vec4)', { B: 3, T: 19, NH: 2, KVH: 2, HS: 20, scale: 0.3 }, true],
  ['the demo model\'s heads (GQA 2, HS 16), T over one block of 64 rows', { B: 2, T: 70, NH: 4, KVH: 2, HS: 16 }, true, ['direct']],
  ['GQA 3 head size 12, custom scale', { B: 2, T: 9, NH: 3, KVH: 1, HS: 12, scale: 0.7 }, true, ['direct']],
];

/** Both kernel sets where a head fits the direct kernels (HS ≤ 16), whatever this adapter would choose. */
const kernelSets = (HS: number): AttentionKernels[] => (HS <= 16 ? ['tiled', 'direct'] : ['tiled']);

async function run(shape: AttentionShape & { maxBindingBytes?: number }, pack: boolean, seed: number, kernels: AttentionKernels) {
  const gpu = await testGpu();
  const { B, T, NH, KVH, HS } = shape;
  const N = B * T;
  const q = uniformValues(N * NH * HS, seed, -2, 2);
  const k = uniformValues(N * KVH * HS, seed + 1, -2, 2);
  const v = uniformValues(N * KVH * HS, seed + 2);
  const dout = uniformValues(N * NH * HS, seed + 3);
  const segmentIds = packedSegments(B, T, seed + 4, pack);
  const ref = attentionForwardRef({ ...shape, q, k, v, segmentIds });
  const grads = attentionBackwardRef({ ...shape, q, k, v, segmentIds, out: ref.out, lse: ref.lse, dout });
  const buf = {
    q: uploadBuffer(gpu, 'attention test q', q),
    k: uploadBuffer(gpu, 'attention test k', k),
    v: uploadBuffer(gpu, 'attention test v', v),
    segmentIds: uploadBuffer(gpu, 'attention test segmentIds', segmentIds),
    out: createBuffer(gpu, 'attention test out', N * NH * HS * 4),
    lse: createBuffer(gpu, 'attention test lse', N * NH * 4),
    refOut: uploadBuffer(gpu, 'attention test reference out', Float32Array.from(ref.out)),
    refLse: uploadBuffer(gpu, 'attention test reference lse', Float32Array.from(ref.lse)),
    dout: uploadBuffer(gpu, 'attention test dout', dout),
    delta: createBuffer(gpu, 'attention test delta', N * NH * 4),
    dq: createBuffer(gpu, 'attention test dq', N * NH * HS * 4),
    dk: createBuffer(gpu, 'attention test dk', N * KVH * HS * 4),
    dv: createBuffer(gpu, 'attention test dv', N * KVH * HS * 4),
  };
  const rec = new Recorder(gpu, 'attention test');
  attentionForward(rec, { ...shape, ...buf, kernels });
  // The backward is checked on the reference's out and lse so that it is tested on its own.
  attentionBackward(rec, { ...shape, ...buf, out: buf.refOut, lse: buf.refLse, kernels });
  await rec.done();
  const got = {
    out: await readF32(gpu, buf.out),
    lse: await readF32(gpu, buf.lse),
    dq: await readF32(gpu, buf.dq),
    dk: await readF32(gpu, buf.dk),
    dv: await readF32(gpu, buf.dv),
  };
  for (const b of Object.values(buf)) b.destroy();
  return { ref, grads, got };
}

describe('attention matches the float64 reference', () => {
  shapes.forEach(([shapeName, shape, pack, sets], index) => (sets ?? kernelSets(shape.HS)).forEach((kernels) => {
    const name = `${shapeName} (${kernels})`;
    const label = `B${shape.B} T${shape.T} NH${shape.NH} KVH${shape.KVH} HS${shape.HS}${pack ? ' packed' : ''}${kernels === 'direct' ? ' direct' : ''}`;
    let result: ReturnType<typeof run> | undefined;
    const once = () => (result ??= run(shape, pack, 100 + index * 10, kernels));
    it(`attention forward ${name} matches_reference`, async () => {
      const { ref, got } = await once();
      const gpu = await testGpu();
      recordKernelError('attention', 'forward', label, expectClose(got.out, ref.out, TOLERANCES.attentionForward, `out ${label}`), gpu.adapter.name);
      expectClose(got.lse, ref.lse, TOLERANCES.attentionForward, `lse ${label}`);
    });
    it(`attention backward ${name} matches_reference`, async () => {
      const { grads, got } = await once();
      const gpu = await testGpu();
      const tol = TOLERANCES.attentionBackward;
      const errors = [
        expectClose(got.dq, grads.dq, tol, `dq ${label}`),
        expectClose(got.dk, grads.dk, tol, `dk ${label}`),
        expectClose(got.dv, grads.dv, tol, `dv ${label}`),
      ];
      const worst = errors.reduce((a, b) => (b.maxAbs > a.maxAbs ? b : a));
      recordKernelError('attention', 'backward', label, worst, gpu.adapter.name);
    });
  }));
  it('attention launchers refuse shapes they cannot run, naming the argument', async () => {
    const gpu = await testGpu();
    const b = createBuffer(gpu, 'attention shape test', 64);
    const rec = new Recorder(gpu, 'attention shape test');
    const buffers = { q: b, k: b, v: b, segmentIds: b, out: b, lse: b };
    expect(() => attentionForward(rec, { B: 1, T: 4, NH: 4, KVH: 3, HS: 8, ...buffers })).toThrow(AttentionArgumentError);
    expect(() => attentionForward(rec, { B: 1, T: 4, NH: 4, KVH: 3, HS: 8, ...buffers })).toThrow(/NH 4 is not a multiple of KVH 3/);
    expect(() => attentionForward(rec, { B: 1, T: 4, NH: 2, KVH: 1, HS: 6, ...buffers })).toThrow(/head size 6 must be a multiple of 4/);
    expect(() => attentionForward(rec, { B: 1, T: 0, NH: 2, KVH: 1, HS: 8, ...buffers })).toThrow(/T must be a positive integer/);
    expect(() => attentionForward(rec, { B: 1, T: 4, NH: 2, KVH: 1, HS: 64, ...buffers, kernels: 'direct' })).toThrow(/direct kernels keep a head of at most 16 in registers, got head size 64/);
    expect(rec.dispatches).toBe(0);
    // Over the binding limit, batch rows go in aligned groups: 5 rows of 1 KiB q at 4 KiB → 4 + 1.
    const names = ['q', 'k', 'v', 'segmentIds', 'out', 'lse'] as const;
    const all = Object.fromEntries(names.map((n) => [n, createBuffer(gpu, `attention split test ${n}`, 5 * 16 * 16 * 4)])) as Record<(typeof names)[number], GPUBuffer>;
    attentionForward(rec, { B: 5, T: 16, NH: 2, KVH: 1, HS: 8, ...all, maxBindingBytes: 4096 });
    expect(rec.dispatches).toBe(2);
    expect(() => attentionForward(rec, { B: 5, T: 16, NH: 2, KVH: 1, HS: 8, ...all, maxBindingBytes: 1000 })).toThrow(/exceed the binding limit/);
    await rec.done();
    expect(gpu.takeUncapturedErrors()).toEqual([]);
    for (const buffer of Object.values(all)) buffer.destroy();
    b.destroy();
  });
  it('the direct kernels are chosen for heads of at most 16 where pipelines compile at first dispatch (lavapipe), the tiled ones elsewhere', async () => {
    const gpu = await testGpu();
    expect(attentionKernels(gpu, 16)).toBe(gpu.compilesAtFirstDispatch ? 'direct' : 'tiled');
    expect(attentionKernels(gpu, 8)).toBe(gpu.compilesAtFirstDispatch ? 'direct' : 'tiled');
    expect(attentionKernels(gpu, 20)).toBe('tiled');
    expect(attentionKernels(gpu, 64)).toBe('tiled');
    expect(attentionKernels(gpu, 64, 'tiled')).toBe('tiled');
    expect(attentionKernels(gpu, 16, 'direct')).toBe('direct');
  });
});
