// `adapter-studio plan` from a config.json alone: the memory plan, the base precision and the advice.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { main } from '../../../src/cli/main';
import { REAL_CONFIGS, type RealModel } from '../../../src/formats/gen/realConfigs';

function configFolder(model: RealModel): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'plan-')), model);
  mkdirSync(dir);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(REAL_CONFIGS[model].config, null, 2));
  return dir;
}

async function plan(args: string[]) {
  const out = new PassThrough();
  const err = new PassThrough();
  const text = { out: '', err: '' };
  out.on('data', (d) => (text.out += d));
  err.on('data', (d) => (text.err += d));
  const code = await main(['plan', ...args], { out: out as unknown as NodeJS.WriteStream, err: err as unknown as NodeJS.WriteStream });
  return { code, ...text };
}

/** "memory: 1.4 GiB of 1.5 GiB" → bytes. */
function plannedBytes(out: string): number {
  const m = /^memory: ([\d.]+) (MiB|GiB) of/m.exec(out);
  if (!m) throw new Error(`no memory line in:\n${out}`);
  return Number(m[1]) * (m[2] === 'GiB' ? 2 ** 30 : 2 ** 20);
}

describe('adapter-studio plan', () => {
  it('Llama-3.2-1B with --weights nf4: a plan at or under 1.5 GiB (seq 512, batch 4, r 8 on q,v)', async () => {
    const dir = configFolder('Llama-3.2-1B');
    const r = await plan(['--model', dir, '--weights', 'nf4', '--batch-size', '4', '--max-length', '512', '--gpu-memory', '1.5']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/LlamaForCausalLM|llama/);
    expect(r.out).toMatch(/1235\.8M parameters/);
    expect(r.out).toMatch(/Base weights: 4-bit NF4, as set/);
    expect(r.out).toMatch(/^run: batch 4 = micro-batch \d × \d, 512 tokens per row.*weights nf4$/m);
    expect(r.out).toMatch(/^fits: yes$/m);
    expect(plannedBytes(r.out)).toBeLessThanOrEqual(1.5 * 2 ** 30);
  });

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
});
