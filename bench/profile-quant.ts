// A/B of the frozen base's storage formats, interleaved: `npx tsx bench/profile-quant.ts IN,OUT T [rounds]`.
// Each round times forward (x·Wᵀ) and dx (dy·W) once per format, in turn, so machine load drifts
// over all formats alike; prints min and median per case (GPU timestamps where the adapter has them).
import { register } from 'node:module';

register('./raw-hooks.mjs', import.meta.url);
const { createNodeGpu } = await import('../src/engine/gpu/node');
const { createBuffer, uploadBuffer } = await import('../src/engine/gpu/buffers');
const { f32ToF16 } = await import('../src/formats/dtype');
const { loraBackward, loraForward } = await import('../src/engine/kernels/lora/lora');
const { quantizeArray } = await import('../src/engine/kernels/quant/quant');
const { timeOurs, randomValues } = await import('./ours');
const { median, gflops } = await import('./harness');

const [IN, OUT] = (process.argv[2] ?? '576,1536').split(',').map(Number);
const T = Number(process.argv[3] ?? 256);
const rounds = Number(process.argv[4] ?? 5);
const gpu = await createNodeGpu();
console.log(`${gpu.adapter.name}: T ${T}, ${IN}→${OUT}, ${rounds} interleaved rounds`);
const values = randomValues(OUT * IN, 1).map((v) => v * 0.05);
const x = uploadBuffer(gpu, 'x', randomValues(T * IN, 2));
const dy = uploadBuffer(gpu, 'dy', randomValues(T * OUT, 3));
const y = createBuffer(gpu, 'y', T * OUT * 4);
const dx = createBuffer(gpu, 'dx', T * IN * 4);
const formats = (process.env.FORMATS ?? (gpu.features.f16 ? 'f32,f16,q8,nf4' : 'f32,q8,nf4')).split(',');
const weights = new Map<string, Parameters<typeof loraForward>[1]['w']>();
for (const f of formats) {
  if (f === 'f32') weights.set(f, uploadBuffer(gpu, 'W f32', values));
  else if (f === 'f16') weights.set(f, uploadBuffer(gpu, 'W f16', f32ToF16(values)));
  else weights.set(f, await quantizeArray(gpu, { format: f as 'q8' | 'nf4', rows: OUT, cols: IN, data: values, label: `W ${f}` }));
}
const samples = new Map<string, number[]>();
const once = { repeats: 1, maxCaseSeconds: 0, warmup: 0 };
for (let round = -1; round < rounds; round++) {
  for (const f of formats) {
    const common = { w: weights.get(f)!, wF16: f === 'f16', IN, OUT, N: T };
    for (const [layout, record] of [
      ['fwd', (rec: Parameters<typeof loraForward>[0]) => loraForward(rec, { ...common, x, y })],
      ['dx ', (rec: Parameters<typeof loraForward>[0]) => loraBackward(rec, { ...common, dy, x, dx })],
    ] as const) {
      const t = await timeOurs(gpu, `${layout} ${f}`, record, once);
      if (round < 0) continue; // warm-up round: compiles the pipelines
      const key = `${layout} ${f}`;
      samples.set(key, [...(samples.get(key) ?? []), t.samples[0]]);
    }
  }
}
for (const [key, s] of samples) {
  const ms = median(s);
  console.log(`${key}: min ${Math.min(...s).toFixed(1)} ms, median ${ms.toFixed(1)} ms (${gflops(2 * T * IN * OUT, ms).toFixed(2)} GFLOP/s)  [${s.map((v) => v.toFixed(0)).join(' ')}]`);
}
process.exit(0);
