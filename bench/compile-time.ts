// Pipeline compile cost of matmul tiles on this adapter: `npx tsx bench/compile-time.ts '[tile, …]'`.
// F16=1 stores B as f16 (frozen weights on shader-f16 adapters). Times the first dispatch of each tile and layout on a 64×64×64 problem (compilation included;
// drivers such as lavapipe compile at first use) against a second dispatch of the same pipeline.
import { register } from 'node:module';

register('./raw-hooks.mjs', import.meta.url);
const { createNodeGpu } = await import('../src/engine/gpu/node');
const { createBuffer } = await import('../src/engine/gpu/buffers');
const { Recorder } = await import('../src/engine/gpu/recorder');
const { matmul } = await import('../src/engine/kernels/matmul/matmul');

const gpu = await createNodeGpu();
console.log(gpu.adapter.name);
const tiles = JSON.parse(process.argv[2] ?? '[]') as Record<string, number | boolean>[];
const bF16 = process.env.F16 === '1';
const [a, b, c] = ['A', 'B', 'C'].map((n) => createBuffer(gpu, n, 64 * 64 * 4));
async function run(tile: Record<string, number | boolean>, transA: boolean, transB: boolean): Promise<number> {
  const start = performance.now();
  const rec = new Recorder(gpu, 'compile');
  matmul(rec, { a, b, c, M: 64, N: 64, K: 64, transA, transB, tile: tile as never, bF16 });
  await rec.done();
  return performance.now() - start;
}
for (const tile of tiles) {
  for (const [transA, transB] of [[false, true], [false, false], [true, false]]) {
    const first = await run(tile, transA, transB);
    const second = await run(tile, transA, transB);
    console.log(`${JSON.stringify(tile)}${bF16 ? ' f16 B' : ''} transA=${transA} transB=${transB}: first ${first.toFixed(0)} ms, second ${second.toFixed(1)} ms`);
  }
}
process.exit(0);
