/**
 * adapter-studio: the command-line tool over the same engine the studio runs in the browser,
 * here on dawn.node. Commands: train, eval, generate, inspect, merge.
 * Bad arguments and bad files end with one clear line and a non-zero exit code.
 */
import { existsSync, statSync } from 'node:fs';
import { mkdir, readFile, writeFile, appendFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Options, UsageError, formatHelp, parseArgs, type CommandSpec } from './args';
import { SCHEDULES } from '../engine/train/schedule';
import { LORA_MODULES, type LoraModule } from '../engine/model/lora';

const COMMANDS: Record<string, CommandSpec> = {
  train: {
    name: 'train',
    summary: 'fine-tune a LoRA adapter and write it as a PEFT folder',
    usage: 'adapter-studio train --model <folder|hub id> --data <file> --out <folder> [options]',
    options: {
      model: { kind: 'string', help: 'base model folder (config.json, model.safetensors, tokenizer) or a hub id' },
      data: { kind: 'string', help: 'training data (.jsonl, .json, .csv, .parquet, .txt)' },
      out: { kind: 'string', help: 'output folder for the adapter, metrics.jsonl and the checkpoint' },
      validation: { kind: 'string', help: 'a validation file' },
      'val-fraction': { kind: 'number', help: 'hold out this fraction of the data for validation', min: 0, max: 0.9 },
      rank: { kind: 'int', help: 'LoRA rank r', default: 8, min: 1, max: 1024 },
      alpha: { kind: 'number', help: 'LoRA alpha', default: 16, min: 1e-6 },
      dropout: { kind: 'number', help: 'LoRA dropout', default: 0.05, min: 0, max: 0.99 },
      targets: { kind: 'list', help: 'projections to adapt', default: 'q_proj,v_proj', choices: LORA_MODULES },
      layers: { kind: 'string', help: 'layers to adapt, e.g. 0,1,5 (default all)' },
      rslora: { kind: 'boolean', help: 'scale by alpha/√r (rsLoRA)', default: false },
      lr: { kind: 'number', help: 'peak learning rate', default: 1e-4, min: 1e-12 },
      epochs: { kind: 'number', help: 'passes over the data', default: 3, min: 1 },
      steps: { kind: 'int', help: 'stop after this many optimizer steps (overrides --epochs)', min: 1 },
      batch: { kind: 'int', help: 'rows per micro-batch', default: 16, min: 1 },
      'grad-accum': { kind: 'int', help: 'micro-batches per optimizer step', default: 1, min: 1 },
      'max-length': { kind: 'int', help: 'tokens per row; longer examples are cut', default: 512, min: 2 },
      schedule: { kind: 'string', help: 'learning-rate schedule', default: 'linear', choices: SCHEDULES },
      warmup: { kind: 'int', help: 'warmup steps', min: 0 },
      'warmup-ratio': { kind: 'number', help: 'warmup as a fraction of all steps', default: 0, min: 0, max: 1 },
      'weight-decay': { kind: 'number', help: 'AdamW weight decay', default: 0.01, min: 0 },
      'max-grad-norm': { kind: 'number', help: 'global gradient-norm clip (0 = off)', default: 1, min: 0 },
      seed: { kind: 'int', help: 'seed for the adapter init, shuffling and dropout', default: 42, min: 0 },
      shuffle: { kind: 'boolean', help: 'shuffle every epoch (--no-shuffle keeps file order)', default: true },
      packing: { kind: 'boolean', help: 'pack several examples per row', default: false },
      'gradient-checkpointing': { kind: 'boolean', help: 'recompute activations per layer to save memory', default: false },
      'init-adapter': { kind: 'string', help: 'start from an existing PEFT adapter folder' },
      resume: { kind: 'string', help: 'continue a run from its checkpoint file (out/checkpoint.ascp)' },
      'save-every': { kind: 'int', help: 'write the checkpoint every N steps', default: 50, min: 1 },
      'log-every': { kind: 'int', help: 'print a line every N steps when not on a terminal', default: 10, min: 1 },
      'eval-every': { kind: 'int', help: 'validation loss every N steps (needs validation data)', min: 1 },
      'gpu-memory': { kind: 'number', help: 'GPU memory budget in GiB for the memory planner', default: 4, min: 0.01 },
      'f32-weights': { kind: 'boolean', help: 'keep frozen weights f32 even where the GPU has shader-f16', default: false },
    },
  },
  eval: {
    name: 'eval',
    summary: 'validation loss and perplexity of a model, with or without an adapter',
    usage: 'adapter-studio eval --model <folder> --data <file> [--adapter <folder>]',
    options: {
      model: { kind: 'string', help: 'base model folder or hub id' },
      data: { kind: 'string', help: 'data file' },
      adapter: { kind: 'string', help: 'PEFT adapter folder' },
      batch: { kind: 'int', help: 'rows per batch', default: 8, min: 1 },
      'max-length': { kind: 'int', help: 'tokens per row', default: 512, min: 2 },
      'f32-weights': { kind: 'boolean', help: 'keep frozen weights f32', default: false },
    },
  },
  generate: {
    name: 'generate',
    summary: 'generate text from a prompt, with or without an adapter',
    usage: 'adapter-studio generate --model <folder> --prompt <text> [--adapter <folder>]',
    options: {
      model: { kind: 'string', help: 'base model folder or hub id' },
      adapter: { kind: 'string', help: 'PEFT adapter folder' },
      prompt: { kind: 'string', help: 'the prompt' },
      chat: { kind: 'boolean', help: "wrap the prompt in the tokenizer's chat template as a user turn", default: false },
      'max-new-tokens': { kind: 'int', help: 'tokens to generate at most', default: 128, min: 1 },
      temperature: { kind: 'number', help: 'sampling temperature (0 = greedy)', default: 0.7, min: 0 },
      'top-k': { kind: 'int', help: 'keep the k most likely tokens (0 = all)', default: 50, min: 0 },
      'top-p': { kind: 'number', help: 'nucleus sampling mass', default: 0.95, min: 0, max: 1 },
      seed: { kind: 'int', help: 'sampling seed', default: 0, min: 0 },
      'f32-weights': { kind: 'boolean', help: 'keep frozen weights f32', default: false },
    },
  },
  inspect: {
    name: 'inspect',
    summary: 'summarize and validate a safetensors file, a model folder or an adapter folder',
    usage: 'adapter-studio inspect <file|folder> [--model <folder>]',
    positionals: ['path'],
    options: {
      model: { kind: 'string', help: 'base model, to validate an adapter against it' },
    },
  },
  merge: {
    name: 'merge',
    summary: 'write base + adapter merged weights (W + s·B·A) as a Hugging Face model folder',
    usage: 'adapter-studio merge --model <folder> --adapter <folder> --out <folder>',
    options: {
      model: { kind: 'string', help: 'base model folder or hub id' },
      adapter: { kind: 'string', help: 'PEFT adapter folder' },
      out: { kind: 'string', help: 'output folder' },
    },
  },
};

const MAIN_HELP = [
  'adapter-studio — LoRA fine-tuning on WebGPU (the studio engine, in Node through dawn.node)',
  '',
  'commands:',
  ...Object.values(COMMANDS).map((c) => `  ${c.name.padEnd(9)} ${c.summary}`),
  '',
  'adapter-studio <command> --help shows the options of a command.',
].join('\n');

export interface CliIo {
  out: NodeJS.WriteStream;
  err: NodeJS.WriteStream;
}

/** Runs the CLI; returns the exit code (0 ok, 1 failure, 2 usage error). Never throws. */
export async function main(argv: string[], io: CliIo = { out: process.stdout, err: process.stderr }): Promise<number> {
  const [name, ...rest] = argv;
  try {
    if (!name || name === '--help' || name === '-h' || name === 'help') {
      io.out.write(MAIN_HELP + '\n');
      return name ? 0 : 2;
    }
    const command = COMMANDS[name];
    if (!command) throw new UsageError(`unknown command "${name}"; commands are ${Object.keys(COMMANDS).join(', ')}`);
    const parsed = parseArgs(command, rest);
    if (parsed.help) {
      io.out.write(formatHelp(command) + '\n');
      return 0;
    }
    const opts = new Options(parsed.options);
    const { runCommand } = await import('./commands');
    await runCommand(name, opts, parsed.positionals, io);
    return 0;
  } catch (error) {
    return reportError(error, io);
  }
}

/** One line: the error's message (first line) prefixed by "error:"; the stack only with ADAPTER_STUDIO_DEBUG=1. */
export function reportError(error: unknown, io: CliIo): number {
  const e = error instanceof Error ? error : new Error(String(error));
  if (e.name === 'AbortError') {
    io.err.write('error: stopped\n');
    return 130;
  }
  // One line: the first line, plus the first detail line when the message lists several problems.
  const lines = e.message.split('\n').map((l) => l.trim()).filter(Boolean);
  let message = lines[0].replace(/^(\w+Error): /, '');
  if (lines.length > 1) message = `${message.replace(/:$/, '')}; first: ${lines[1].replace(/^- /, '')}`;
  const kind = e.name && e.name !== 'Error' ? `${e.name}: ` : '';
  io.err.write(`error: ${kind}${message}\n`);
  if (process.env.ADAPTER_STUDIO_DEBUG === '1' && e.stack) io.err.write(e.stack + '\n');
  return e instanceof UsageError ? 2 : 1;
}

export { COMMANDS };

// Run when executed directly (node dist/cli/main.js or tsx src/cli/main.ts).
const invoked = process.argv[1] ? pathToFileURL(resolve(process.argv[1])).href : '';
if (import.meta.url === invoked) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}

// Helpers shared with commands.ts.
export async function ensureDir(dir: string): Promise<void> {
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new UsageError(`${dir} exists and is not a folder`);
  await mkdir(dir, { recursive: true });
}
export { readFile, writeFile, appendFile, join };
export type { LoraModule };
