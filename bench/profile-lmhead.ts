// LM-head chunk sizes A/B, interleaved: `npx tsx bench/profile-lmhead.ts [rows,rows,…] [rounds]`.
// Times one chunk's two products over SmolLM2's head (logits = h·Wᵀ [rows, 49152], K 576; and
// dh = dlogits·W [rows, 576], K 49152) for each chunk size in turn, round after round, and prints
// ms per chunk and per token (min and median): 85 rows (what 16 MiB of logits holds) against 64.
import { register } from 'node:module';

register('./raw-hooks.mjs', import.meta.url);
const { createNodeGpu } = await import('../src/engine/gpu/node');
const { createBuffer, uploadBuffer } = await import('../src/engine/gpu/buffers');
const { matmul } = await import('../src/engine/kernels/matmul/matmul');
const { timeOurs, randomValues } = await import('./ours');
const { median } = await import('./harness');

const sizes = (process.argv[2] ?? '85,64').split(',').map(Number);
const rounds = Number(process.argv[3] ?? 5);
const [C, V] = [576, 49152];
const gpu = await createNodeGpu();
const maxRows = Math.max(...sizes);
console.log(`${gpu.adapter.name}: LM head chunk of rows ${sizes.join(' vs ')}, C ${C}, V ${V}, ${rounds} interleaved rounds`);
const w = uploadBuffer(gpu, 'W', randomValues(V * C, 1).map((v) => v * 0.05));
const h = uploadBuffer(gpu, 'h', randomValues(maxRows * C, 2));
const logits = createBuffer(gpu, 'logits', maxRows * V * 4);
const dh = createBuffer(gpu, 'dh', maxRows * C * 4);
const samples = new Map<number, number[]>();
const once = { repeats: 1, maxCaseSeconds: 0, warmup: 0 };
for (let round = -1; round < rounds; round++) {
  for (const rows of sizes) {
    const t = await timeOurs(gpu, `chunk ${rows}`, (rec) => {
      matmul(rec, { a: h, b: w, c: logits, M: rows, N: V, K: C, transB: true, label: 'logits' });
      matmul(rec, { a: logits, b: w, c: dh, M: rows, N: C, K: V, label: 'dh' });
    }, once);
    if (round >= 0) samples.set(rows, [...(samples.get(rows) ?? []), t.samples[0]]);
  }
}
for (const [rows, s] of samples) {
  const ms = median(s);
  console.log(`${rows} rows: min ${Math.min(...s).toFixed(0)} ms, median ${ms.toFixed(0)} ms per chunk; ${(Math.min(...s) / rows).toFixed(2)} / ${(ms / rows).toFixed(2)} ms per token  [${s.map((v) => v.toFixed(0)).join(' ')}]`);
}
process.exit(0);
