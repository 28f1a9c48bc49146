// `adapter-studio plan` from a config.json alone (no weights): the memory plan, the base precision
// and the advice. The goals at full size — seq 512, batch 4, r 8 on q_proj,v_proj, a 4-bit
// base — through the command a user runs before downloading anything.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main';
import { REAL_CONFIGS, type RealModel } from '../../src/formats/gen/realConfigs';
import { cliIo } from '../helpers/cliIo';

const GiB = 2 ** 30;

function configFolder(model: RealModel): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'plan-')), model);
  mkdirSync(dir);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(REAL_CONFIGS[model].config, null, 2));
  return dir;
}

async function plan(args: string[]) {
  const t = cliIo();
  const code = await main(['plan', ...args], t.io);
  return { code, ...t.text };
}

/** "memory: 1.4 GiB of 1.5 GiB" → bytes (as printed, one decimal). */
function plannedBytes(out: string): number {
  const m = /^memory: ([\d.]+) (MiB|GiB) of/m.exec(out);
  if (!m) throw new Error(`no memory line in:\n${out}`);
  return Number(m[1]) * (m[2] === 'GiB' ? GiB : 2 ** 20);
}

const GOALS: [RealModel, number, RegExp][] = [
  ['SmolLM2-135M', 0.5, /134\.5M parameters/],
  ['Qwen2.5-0.5B', 1.0, /494\.0M parameters/],
  ['Llama-3.2-1B', 1.5, /1235\.8M parameters/],
  ['Llama-3.2-3B', 3.0, /3212\.7M parameters/],
];

describe('adapter-studio plan', () => {
  for (const [model, goal, parameters] of GOALS) {
    it(`${model} with --weights nf4 fits ${goal} GiB (seq 512, batch 4, r 8 on q,v)`, async () => {
      const dir = configFolder(model);
      const r = await plan(['--model', dir, '--weights', 'nf4', '--batch-size', '4', '--max-length', '512', '--rank', '8', '--targets', 'q_proj,v_proj', '--gpu-memory', String(goal)]);
      expect(r.code, r.err).toBe(0);
      expect(r.out).toMatch(parameters);
      expect(r.out).toMatch(/Base weights: 4-bit NF4, as set/);
      // The effective batch stays 4 and the sequence 512: only micro-batch and checkpointing move.
      expect(r.out).toMatch(/^run: batch 4 = micro-batch (1 × 4|2 × 2|4 × 1), 512 tokens per row.*weights nf4$/m);
      // "fits: yes" is the planner's exact comparison of the total with --gpu-memory.
      expect(r.out).toMatch(/^fits: yes$/m);
      expect(plannedBytes(r.out)).toBeLessThanOrEqual(goal * GiB);
    });
  }

  it('auto names the precision it chose and why; f16 is refused for a device without shader-f16', async () => {
    const dir = configFolder('Qwen2.5-0.5B');
    const auto = await plan(['--model', dir, '--batch-size', '4', '--gpu-memory', '1']);
    expect(auto.code, auto.err).toBe(0);
    expect(auto.out).toMatch(/Base weights: (8-bit \(per output channel\)|4-bit NF4) \(the most precise that fits 1\.0 GiB; .* would need .*\)/);
    expect(auto.out).toMatch(/^fits: yes$/m);
    const noF16 = await plan(['--model', dir, '--weights', 'f16', '--no-f16']);
    expect(noF16.code).toBe(0);
    expect(noF16.out).toMatch(/fits: no — 16-bit float \(f16\) weights need the shader-f16 feature/);
  });

  it('an f16 base of Llama-3.2-1B does not fit 1.5 GiB, and the advice is a less precise base, with its one-step fix', async () => {
    const dir = configFolder('Llama-3.2-1B');
    const r = await plan(['--model', dir, '--weights', 'f16', '--batch-size', '4', '--max-length', '512', '--gpu-memory', '1.5']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^fits: no — .*: store the base in (8-bit \(per output channel\)|4-bit NF4) \(base precision auto\)$/m);
  });
});
