// Per-pass GPU times of one recorded step (timestamp queries): `npx tsx bench/profile-passes.ts attention|lora`.
import { register } from 'node:module';

register('./raw-hooks.mjs', import.meta.url);
const { createNodeGpu } = await import('../src/engine/gpu/node');
const { GpuTimer } = await import('../src/engine/gpu/timer');
const { Recorder } = await import('../src/engine/gpu/recorder');
const { createBuffer, uploadBuffer } = await import('../src/engine/gpu/buffers');
const { attentionBackward, attentionForward } = await import('../src/engine/kernels/attention/attention');
const { randomValues } = await import('./ours');

const gpu = await createNodeGpu();
const timer = new GpuTimer(gpu);
const [T, NH, KVH, HS] = [256, 9, 3, 64];
const up = (n: number, seed: number) => uploadBuffer(gpu, 'x', randomValues(n, seed));
const q = up(T * NH * HS, 1), k = up(T * KVH * HS, 2), v = up(T * KVH * HS, 3), dout = up(T * NH * HS, 4);
const seg = uploadBuffer(gpu, 'seg', new Uint32Array(T));
const mk = (n: number) => createBuffer(gpu, 'o', n * 4);
const out = mk(T * NH * HS), lse = mk(T * NH), delta = mk(T * NH), dq = mk(T * NH * HS), dk = mk(T * KVH * HS), dv = mk(T * KVH * HS);
const shape = { B: 1, T, NH, KVH, HS };
console.log(gpu.adapter.name);
for (let i = 0; i < 3; i++) {
  const rec = new Recorder(gpu, 'passes', timer);
  attentionForward(rec, { ...shape, q, k, v, segmentIds: seg, out, lse });
  attentionBackward(rec, { ...shape, q, k, v, segmentIds: seg, out, lse, dout, delta, dq, dk, dv });
  await rec.done();
  const t = await timer.take();
  console.log(t.map((x) => `${x.label} ${x.ms.toFixed(1)}`).join(' | '));
}
process.exit(0);
