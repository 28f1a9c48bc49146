// A kill in the middle of a checkpoint save, then `train --resume`: the last good checkpoint
// survives, the resumed run ends with the same adapter as an uninterrupted one, and metrics.jsonl
// holds each step once. The killed run is a child process running the built CLI.
import { beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main';
import { deserializeCheckpoint } from '../../src/formats/checkpoint';
import { cliIo as io } from '../helpers/cliIo';

const dir = mkdtempSync(join(tmpdir(), 'adapter-studio-resume-'));
const data = join(dir, 'sample.jsonl');
const args = (out: string) => ['train', '--model', 'public/models/demo', '--data', data, '--out', out, '--steps', '6', '--batch-size', '2', '--max-length', '32',
  '--lr', '1e-2', '--targets', 'q_proj,v_proj', '--rank', '4', '--save-every', '2', '--log-every', '1', '--val-fraction', '0', '--weights', 'f32'];

beforeAll(() => {
  writeFileSync(data, Array.from({ length: 6 }, (_, i) => JSON.stringify({ text: `row ${i}: the cat sat on the mat.` })).join('\n') + '\n');
  execFileSync('node', ['scripts/build-cli.mjs'], { stdio: 'inherit' });
}, 120_000);

describe('train killed while saving a checkpoint, then resumed', () => {
  it('keeps the last good checkpoint and resumes to the uninterrupted adapter, each step logged once', async () => {
    const whole = join(dir, 'whole');
    const t = io();
    expect(await main(args(whole), t.io), t.text.err).toBe(0);
    const size = statSync(join(whole, 'checkpoint.ascp')).size;

    const cut = join(dir, 'cut');
    const killed = spawnSync('node', ['bin/adapter-studio.mjs', ...args(cut)], { env: { ...process.env, ADAPTER_STUDIO_TEST_CRASH: `checkpoint.ascp:2:${size >> 1}` }, encoding: 'utf8' });
    expect(killed.signal, killed.stderr).toBe('SIGKILL');
    const kept = deserializeCheckpoint(new Uint8Array(readFileSync(join(cut, 'checkpoint.ascp'))), 'kept');
    expect(kept.step).toBe(2); // the first save, whole; the second was cut half-way and never replaced it

    const r = io();
    expect(await main([...args(cut), '--resume', join(cut, 'checkpoint.ascp')], r.io), r.text.err).toBe(0);
    expect(r.text.err).toMatch(/resuming from .* at step 2 of 6/);
    expect(readFileSync(join(cut, 'adapter_model.safetensors')).equals(readFileSync(join(whole, 'adapter_model.safetensors')))).toBe(true);
    const steps = readFileSync(join(cut, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).step);
    expect(steps).toEqual([1, 2, 3, 4, 5, 6]);
  });
});
