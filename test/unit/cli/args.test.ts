import { describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { Options, UsageError, parseArgs } from '../../../src/cli/args';
import { COMMANDS, main, reportError } from '../../../src/cli/main';

function io() {
  const out = new PassThrough();
  const err = new PassThrough();
  let o = '';
  let e = '';
  out.on('data', (d) => (o += d));
  err.on('data', (d) => (e += d));
  return { io: { out: out as unknown as NodeJS.WriteStream, err: err as unknown as NodeJS.WriteStream }, text: () => ({ out: o, err: e }) };
}

describe('CLI argument parsing', () => {
  const train = COMMANDS.train;

  it('reads every hyperparameter flag with its type', () => {
    const p = parseArgs(train, [
      '--model', 'm', '--data=d.jsonl', '--out', 'o', '--rank', '16', '--alpha', '32', '--dropout', '0.1', '--targets', 'q_proj,k_proj,down_proj',
      '--lr', '2e-4', '--epochs', '2', '--batch', '4', '--grad-accum', '8', '--max-length', '256', '--schedule', 'cosine', '--warmup', '10',
      '--weight-decay', '0', '--seed', '7', '--no-shuffle', '--gradient-checkpointing', '--init-adapter', 'a', '--resume', 'ck',
    ]);
    const o = new Options(p.options);
    expect(o.number('rank', 8)).toBe(16);
    expect(o.number('lr', 1)).toBe(2e-4);
    expect(o.list('targets', [])).toEqual(['q_proj', 'k_proj', 'down_proj']);
    expect(o.string('data')).toBe('d.jsonl');
    expect(o.bool('shuffle', true)).toBe(false);
    expect(o.bool('gradient-checkpointing', false)).toBe(true);
    expect(o.string('schedule')).toBe('cosine');
    expect(o.number('steps')).toBeUndefined();
  });

  it('refuses bad values and unknown options with one clear message', () => {
    expect(() => parseArgs(train, ['--rank', 'eight'])).toThrow(/train --rank expects a number, got "eight"/);
    expect(() => parseArgs(train, ['--rank', '2.5'])).toThrow(/whole number/);
    expect(() => parseArgs(train, ['--rank', '0'])).toThrow(/at least 1/);
    expect(() => parseArgs(train, ['--dropout', '1'])).toThrow(/at most 0.99/);
    expect(() => parseArgs(train, ['--targets', 'q_proj,lm_head'])).toThrow(/"lm_head" is not one of q_proj/);
    expect(() => parseArgs(train, ['--schedule', 'step'])).toThrow(/"step" is not one of linear, cosine, constant/);
    expect(() => parseArgs(train, ['--learning-rate', '1'])).toThrow(UsageError);
    expect(() => parseArgs(train, ['--lr'])).toThrow(/--lr needs a value/);
    expect(() => parseArgs(COMMANDS.inspect, [])).toThrow(/missing <path>/);
    expect(() => parseArgs(COMMANDS.inspect, ['a', 'b'])).toThrow(/unexpected argument "b"/);
  });

  it('main prints one line and returns 2 for usage errors, 1 for bad files, never a stack trace', async () => {
    let t = io();
    expect(await main(['train', '--model', 'x', '--rank', 'nope'], t.io)).toBe(2);
    expect(t.text().err).toBe('error: UsageError: train --rank expects a number, got "nope"\n');
    t = io();
    expect(await main(['fly'], t.io)).toBe(2);
    expect(t.text().err).toMatch(/^error: UsageError: unknown command "fly"; commands are train, eval, generate, inspect, merge\n$/);
    t = io();
    expect(await main(['inspect', 'package.json'], t.io)).toBe(1);
    expect(t.text().err.split('\n').filter(Boolean)).toHaveLength(1);
    expect(t.text().err).toMatch(/^error: SafetensorsError: /);
    t = io();
    expect(await main(['train', '--model', 'no/such/folder/here', '--data', 'x', '--out', 'y'], t.io)).toBe(2);
    expect(t.text().err).toMatch(/no such file/);
    t = io();
    expect(await main(['train', '--help'], t.io)).toBe(0);
    expect(t.text().out).toMatch(/--grad-accum <int>/);
  });

  it('an error listing several problems becomes one line with the first problem', () => {
    const t = io();
    const e = new Error('stopped after 20 bad rows:\n  data.jsonl:1 (row 1): bad\n  data.jsonl:2 (row 2): bad');
    e.name = 'DatasetErrorList';
    expect(reportError(e, t.io)).toBe(1);
  });
});
