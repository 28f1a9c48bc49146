// Rebuilds the markdown table from a bench log (stderr lines) when a run was cut short:
// `npx tsx bench/table-from-log.ts < log`.
import { readFileSync } from 'node:fs';
import { register } from 'node:module';
import type { Impl, Measurement } from './harness';

register('./raw-hooks.mjs', import.meta.url);
const { formatTable } = await import('./harness');
const { matmulCases, SMOLLM2_135M } = await import('./shapes');
const { loraStepCase } = await import('./lora-step');

const flops = new Map<string, number>();
for (const c of matmulCases(false)) flops.set(c.name, c.flops);
for (const c of [loraStepCase(SMOLLM2_135M, 256, 8, ['q', 'v']), loraStepCase(SMOLLM2_135M, 256, 8, ['q', 'k', 'v', 'o', 'gate', 'up', 'down'])]) flops.set(c.name, c.flops);
const measurements: Measurement[] = [];
for (const line of readFileSync(0, 'utf8').split('\n')) {
  const m = /^\[bench [\d:]+\] ([\w-]+) \| (.+) \| (ours|tfjs|ort-web): ([\d.]+) ms \(([\w-]+)/.exec(line);
  if (!m) continue;
  measurements.push({ group: m[1], name: m[2], impl: m[3] as Impl, ms: Number(m[4]), samples: [], timing: m[5] as Measurement['timing'], flops: flops.get(m[2]) });
}
console.log(formatTable(measurements));
