// Tile sweep for our matmul on this adapter: `npx tsx bench/profile-matmul.ts [M N K] [layout]`.
// Prints GFLOP/s per tile so chooseMatmulTile can be tuned per adapter (docs/performance.md).
import { register } from 'node:module';

register('./raw-hooks.mjs', import.meta.url);
const { createNodeGpu } = await import('../src/engine/gpu/node');
const { createBuffer, uploadBuffer } = await import('../src/engine/gpu/buffers');
const { matmul } = await import('../src/engine/kernels/matmul/matmul');
const { timeOurs, randomValues } = await import('./ours');
const { median, gflops } = await import('./harness');

const [M, N, K] = (process.argv[2] ?? '256,576,576').split(',').map(Number);
const layout = process.argv[3] ?? 'xwt';
const tiles = JSON.parse(process.argv[4] ?? 'null') as Record<string, number>[] | null;
const gpu = await createNodeGpu();
console.log(`${gpu.adapter.name}: ${M}×${N}×${K} ${layout}`);
const transA = layout === 'dytx';
const transB = layout === 'xwt';
const a = uploadBuffer(gpu, 'A', randomValues(M * K, 1));
const b = uploadBuffer(gpu, 'B', randomValues(K * N, 2));
const c = createBuffer(gpu, 'C', M * N * 4);
const candidates: (Record<string, number> | undefined)[] = tiles ?? [undefined];
const scalar = process.env.SCALAR === '1';
for (const tile of candidates) {
  const t = await timeOurs(gpu, 'profile', (rec) => matmul(rec, { a, b, c, M, N, K, transA, transB, tile: tile as never, vec4: !scalar }), { repeats: 3, maxCaseSeconds: 3, warmup: 1 });
  const ms = median(t.samples);
  console.log(`${scalar ? 'scalar ' : ''}${JSON.stringify(tile ?? 'default')}: ${ms.toFixed(1)} ms, ${gflops(2 * M * N * K, ms).toFixed(3)} GFLOP/s (wall ${t.wallMs.toFixed(1)})`);
}
process.exit(0);
