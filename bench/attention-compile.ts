// Pipeline compile cost of the attention kernels on this adapter, tiled against direct:
//
//   MESA_SHADER_CACHE_DISABLE=true ADAPTER_STUDIO_ICD=lavapipe npx tsx bench/attention-compile.ts tiled|direct [HS]
//
// On the demo model's attention (B 4, T 64, NH 4, KVH 2, HS 16 unless given; causal, no dropout),
// times the first dispatch of the forward, then of the backward (delta, dq, dk dv), against a
// second dispatch of the same pipelines: llvmpipe compiles at first use, so first − second is the
// compile. Run the two kernel sets in alternating fresh processes to compare them.
import { register } from 'node:module';

register('./raw-hooks.mjs', import.meta.url);
const { createNodeGpu } = await import('../src/engine/gpu/node');
const { createBuffer, uploadBuffer } = await import('../src/engine/gpu/buffers');
const { Recorder } = await import('../src/engine/gpu/recorder');
const { attentionBackward, attentionForward } = await import('../src/engine/kernels/attention/attention');

const kernels = process.argv[2] === 'direct' ? 'direct' : 'tiled';
const gpu = await createNodeGpu();
const shape = { B: 4, T: 64, NH: 4, KVH: 2, HS: Number(process.argv[3] ?? 16) };
const N = shape.B * shape.T;
const f32 = (name: string, n: number) => uploadBuffer(gpu, name, Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37)));
const buf = {
  q: f32('q', N * shape.NH * shape.HS), k: f32('k', N * shape.KVH * shape.HS), v: f32('v', N * shape.KVH * shape.HS),
  segmentIds: uploadBuffer(gpu, 'seg', new Uint32Array(N)), out: createBuffer(gpu, 'out', N * shape.NH * shape.HS * 4),
  lse: createBuffer(gpu, 'lse', N * shape.NH * 4), dout: f32('dout', N * shape.NH * shape.HS), delta: createBuffer(gpu, 'delta', N * shape.NH * 4),
  dq: createBuffer(gpu, 'dq', N * shape.NH * shape.HS * 4), dk: createBuffer(gpu, 'dk', N * shape.KVH * shape.HS * 4), dv: createBuffer(gpu, 'dv', N * shape.KVH * shape.HS * 4),
};
async function time(pass: 'forward' | 'backward'): Promise<number> {
  const start = performance.now();
  const rec = new Recorder(gpu, 'attention compile');
  (pass === 'forward' ? attentionForward : attentionBackward)(rec, { ...shape, ...buf, kernels });
  await rec.done();
  return performance.now() - start;
}
const row: string[] = [];
for (const pass of ['forward', 'backward'] as const) {
  const first = await time(pass);
  const second = await time(pass);
  row.push(`${pass} ${(first - second).toFixed(0)} ms (run ${second.toFixed(1)} ms)`);
}
console.log(`${gpu.adapter.name.split(' (')[0]} ${kernels} HS ${shape.HS}: ${row.join(', ')}`);
process.exit(0);
