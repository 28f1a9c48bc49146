import { describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { UsageError, applySettings, formatHelp, parseCommand } from '../../../src/cli/args';
import { COMMANDS, main, reportError } from '../../../src/cli/main';
import { DEFAULT_SETTINGS, SETTING_DEFS } from '../../../src/settings/settings';

function io() {
  const out = new PassThrough();
  const err = new PassThrough();
  let o = '';
  let e = '';
  out.on('data', (d) => (o += d));
  err.on('data', (d) => (e += d));
  return { io: { out: out as unknown as NodeJS.WriteStream, err: err as unknown as NodeJS.WriteStream }, text: () => ({ out: o, err: e }) };
}

describe('CLI options (util.parseArgs, settings from the contract)', () => {
  const train = COMMANDS.train;

  it('reads every run setting from its contract flag, with its type', () => {
    const p = parseCommand(train, [
      '--model', 'm', '--data=d.jsonl', '--out', 'o', '--rank', '16', '--alpha', '32', '--dropout', '0.1', '--targets', 'down_proj,q_proj,k_proj',
      '--lr', '2e-4', '--epochs', '2', '--batch-size', '32', '--micro-batch', '8', '--max-length', '256', '--schedule', 'cosine', '--warmup-ratio', '0.1',
      '--weight-decay', '0', '--seed', '7', '--no-shuffle', '--gradient-checkpointing', 'on', '--init-adapter', 'a', '--eval-every', '5', '--train-on', 'all',
    ]);
    expect(p.options.string('data')).toBe('d.jsonl');
    expect(p.options.string('init-adapter')).toBe('a');
    const s = applySettings('train', p.settings);
    expect(s.lora).toMatchObject({ r: 16, alpha: 32, dropout: 0.1, targets: ['q_proj', 'k_proj', 'down_proj'] });
    expect(s.train).toMatchObject({ learningRate: 2e-4, epochs: 2, batchSize: 32, microBatch: 8, maxLength: 256, schedule: 'cosine', warmupRatio: 0.1, weightDecay: 0, seed: 7, shuffle: false, gradientCheckpointing: 'on' });
    expect(s.eval.evalInterval).toBe(5);
    expect(s.data.trainOn).toBe('all');
    // Untouched settings keep the recipe's defaults.
    expect(applySettings('train', parseCommand(train, []).settings)).toEqual(DEFAULT_SETTINGS);
  });

  it('refuses bad values, contradictions and unknown options with one clear line (never clamps)', () => {
    const bad = (argv: string[]) => () => applySettings('train', parseCommand(train, argv).settings);
    expect(bad(['--rank', 'eight'])).toThrow(/train --rank: Rank r: "eight" is not a number/);
    expect(bad(['--rank', '2.5'])).toThrow(/not a whole number/);
    expect(bad(['--rank', '0'])).toThrow(/0 is outside 1–512/);
    expect(bad(['--dropout', '1'])).toThrow(/outside 0–0.9/);
    expect(bad(['--lr', '10'])).toThrow(/Learning rate: 10 is outside/);
    expect(bad(['--lr', 'Infinity'])).toThrow(/not a number/);
    expect(bad(['--targets', 'q_proj,lm_head'])).toThrow(/"lm_head" is not one of q_proj/);
    expect(bad(['--schedule', 'step'])).toThrow(/"step" is not one of linear, cosine, constant/);
    expect(bad(['--batch-size', '16', '--micro-batch', '5'])).toThrow(/--micro-batch: Micro-batch: 5 does not divide the batch size 16 \(choose one of 16, 8, 4, 2, 1, or 0 for auto\)/);
    expect(bad(['--shuffle', '--no-shuffle'])).toThrow(/contradict/);
    expect(bad(['--learning-rate', '1'])).toThrow(UsageError);
    expect(bad(['--ran', '4'])).toThrow(/unknown option --ran \(did you mean --rank\?\)/);
    expect(bad(['--lr'])).toThrow(/--lr/);
    expect(() => parseCommand(COMMANDS.inspect, [])).toThrow(/missing <path>/);
    expect(() => parseCommand(COMMANDS.inspect, ['a', 'b'])).toThrow(/unexpected argument "b"/);
  });

  it('--help lists every setting of the contract with its range and the recipe default', () => {
    const help = formatHelp(train);
    for (const d of SETTING_DEFS) expect(help).toContain(`--${d.cli}`);
    expect(help).toMatch(/--rank <n> +Rank of the low-rank update A·B: more capacity, more memory\. \(default 8; 1–512\)/);
    expect(help).toMatch(/--micro-batch <n> .*\(default 0: auto \(the planner picks\); 0–1024 rows\)/);
    expect(help).toMatch(/--no-shuffle turns it off/);
  });

  it('main prints one line and returns 2 for usage errors, 1 for bad files, never a stack trace', async () => {
    let t = io();
    expect(await main(['train', '--model', 'x', '--rank', 'nope'], t.io)).toBe(2);
    expect(t.text().err).toBe('error: UsageError: train --rank: Rank r: "nope" is not a number\n');
    t = io();
    expect(await main(['fly'], t.io)).toBe(2);
    expect(t.text().err).toMatch(/^error: UsageError: unknown command "fly"; commands are train, data, eval, /);
    t = io();
    expect(await main(['inspect', 'package.json'], t.io)).toBe(1);
    expect(t.text().err.split('\n').filter(Boolean)).toHaveLength(1);
    expect(t.text().err).toMatch(/^error: SafetensorsError: /);
    t = io();
    expect(await main(['train', '--model', 'no/such/folder/here', '--data', 'x', '--out', 'y'], t.io)).toBe(2);
    expect(t.text().err).toMatch(/no such file/);
    t = io();
    expect(await main(['train', '--help'], t.io)).toBe(0);
    expect(t.text().out).toMatch(/--batch-size <n>/);
  });

  it('an error listing several problems becomes one line with the first problem', () => {
    const t = io();
    const e = new Error('stopped after 20 bad rows:\n  data.jsonl:1 (row 1): bad\n  data.jsonl:2 (row 2): bad');
    e.name = 'DatasetErrorList';
    expect(reportError(e, t.io)).toBe(1);
  });
});
