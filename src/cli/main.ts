/**
 * adapter-studio: the command-line tool over the same engine the studio runs in the browser,
 * here on dawn.node. Commands: train, eval, generate, inspect, merge.
 * Bad arguments and bad files end with one clear line and a non-zero exit code.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { formatHelp, parseCommand, UsageError, type CliIo, type CommandSpec } from './args';
import { MODEL_EXPORTS } from '../formats/export/kinds';

const MODEL = { kind: 'string', help: 'base model: a folder (config.json, safetensors, tokenizer), a hub id like HuggingFaceTB/SmolLM2-135M, or the studio\'s built-in demo or demo-bert' } as const;
const ADAPTER = { kind: 'string', help: 'a PEFT adapter folder (adapter_config.json, adapter_model.safetensors)' } as const;
const GPU_MEMORY = { kind: 'number', help: 'GPU memory the run may use, in GiB (the planner fits the micro-batch and, with --weights auto, the base precision to it)', default: 4, min: 0.01 } as const;

const COMMANDS: Record<string, CommandSpec> = {
  train: {
    name: 'train',
    summary: 'fine-tune a LoRA adapter and write it as a PEFT folder',
    usage: 'adapter-studio train --model <folder|hub id> --data <file> --out <folder> [settings]',
    settings: ['lora', 'train', 'data', 'eval'],
    options: {
      model: MODEL,
      data: { kind: 'string', help: 'training data (.jsonl, .json, .csv, .tsv, .parquet, .txt, optionally .gz)' },
      out: { kind: 'string', help: 'output folder: the adapter, metrics.jsonl and checkpoint.ascp' },
      validation: { kind: 'string', help: 'a separate validation file (instead of --val-fraction)' },
      schema: { kind: 'string', help: 'the data schema, when detection finds two or none (chat, alpaca, prompt-completion, text, classification…)' },
      columns: { kind: 'string', help: 'column mapping, role=column,… (e.g. instruction=question,output=answer)' },
      'numbers-as-text': { kind: 'string', help: 'columns holding numbers to read as text on purpose, comma-separated' },
      layers: { kind: 'string', help: 'layers to adapt, e.g. 0,1,5 (default all)' },
      'init-adapter': { kind: 'string', help: 'start from an existing PEFT adapter folder (its LoRA settings are used)' },
      resume: { kind: 'string', help: 'continue a run from its checkpoint file (its settings are used)' },
      'gpu-memory': GPU_MEMORY,
    },
  },
  data: {
    name: 'data',
    summary: 'what a dataset looks like to a model: format, schema, columns, rows, tokens, truncation, split, and rows rendered with the trained tokens marked',
    usage: 'adapter-studio data --data <file> --model <folder|hub id> [--show-rows 1,2,9] [settings]',
    settings: ['data'],
    options: {
      data: { kind: 'string', help: 'the data file' },
      model: { kind: 'string', help: "the base model whose tokenizer and chat template render the rows" },
      validation: { kind: 'string', help: 'a separate validation file' },
      schema: { kind: 'string', help: 'the data schema, when detection finds two or none (chat, alpaca, prompt-completion, text, classification…)' },
      columns: { kind: 'string', help: 'column mapping, role=column,… (e.g. instruction=question,output=answer)' },
      'numbers-as-text': { kind: 'string', help: 'columns holding numbers to read as text on purpose, comma-separated' },
      'max-length': { kind: 'int', help: 'tokens per row; longer rows are cut', default: 512, min: 8 },
      'show-rows': { kind: 'string', help: 'rows to show as the model sees them, by row number (default: the first 3 and the longest)' },
      json: { kind: 'boolean', help: 'print the whole report as JSON', default: false },
    },
  },
  eval: {
    name: 'eval',
    summary: 'validation loss and perplexity of a model, with or without an adapter',
    usage: 'adapter-studio eval --model <folder> --data <file> [--adapter <folder>] [--weights auto|f32|f16|q8|nf4]',
    settings: ['train.weights'],
    options: {
      model: MODEL,
      data: { kind: 'string', help: 'data file' },
      adapter: ADAPTER,
      'micro-batch': { kind: 'int', help: 'rows per pass', default: 8, min: 1 },
      'max-length': { kind: 'int', help: 'tokens per row; longer rows are cut', default: 512, min: 2 },
      'gpu-memory': GPU_MEMORY,
    },
  },
  generate: {
    name: 'generate',
    summary: 'generate text from a prompt, with or without an adapter',
    usage: 'adapter-studio generate --model <folder> --prompt <text> [--adapter <folder>] [--weights auto|f32|f16|q8|nf4]',
    settings: ['train.weights'],
    options: {
      model: MODEL,
      adapter: ADAPTER,
      prompt: { kind: 'string', help: 'the prompt' },
      chat: { kind: 'boolean', help: "wrap the prompt in the tokenizer's chat template as a user turn", default: false },
      'max-new-tokens': { kind: 'int', help: 'tokens to generate at most', default: 128, min: 1 },
      temperature: { kind: 'number', help: 'sampling temperature (0 = greedy)', default: 0.7, min: 0 },
      'top-k': { kind: 'int', help: 'keep the k most likely tokens (0 = all)', default: 50, min: 0 },
      'top-p': { kind: 'number', help: 'nucleus sampling mass', default: 0.95, min: 0, max: 1 },
      seed: { kind: 'int', help: 'sampling seed', default: 0, min: 0 },
      'gpu-memory': GPU_MEMORY,
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
  plan: {
    name: 'plan',
    summary: 'the memory plan of a run and the planner\'s advice, from config.json alone (nothing else is downloaded)',
    usage: 'adapter-studio plan --model <folder|hub id> [settings]',
    settings: ['lora', 'train'],
    options: {
      model: MODEL,
      'gpu-memory': { kind: 'number', help: 'GPU memory the run may use, in GiB', default: 4, min: 0.01 },
      'max-buffer': { kind: 'number', help: 'the largest single GPU buffer the device allows, in GiB (WebGPU maxBufferSize)', default: 2, min: 0.001 },
      f16: { kind: 'boolean', help: 'plan for a GPU with shader-f16 (--no-f16: one without, where f16 weights are not an option)', default: true },
    },
  },
  export: {
    name: 'export',
    summary: 'export base + adapter for where models run: transformers.js/ONNX, llama.cpp/Ollama/LM Studio (GGUF), a Hugging Face folder; or a run for PyTorch on GPUs (--format pytorch)',
    usage: 'adapter-studio export --model <folder|hub id> [--adapter <folder>] --format onnx|gguf|gguf-adapter|hf --out <folder>\n       adapter-studio export --format pytorch --model <folder|hub id> --data <file> --out <folder|file.zip> [--init-adapter <folder>] [settings]',
    settings: ['lora', 'train', 'data', 'eval'],
    options: {
      model: MODEL,
      adapter: ADAPTER,
      format: { kind: 'string', help: 'onnx: a transformers.js folder; gguf: the merged model + Modelfile; gguf-adapter: the LoRA as a GGUF adapter + Modelfile; hf: the merged safetensors folder; pytorch: the run as a Transformers + PEFT project (train.py, accelerate configs, the rows as rendered) that trains the same adapter on GPUs', choices: [...Object.keys(MODEL_EXPORTS), 'pytorch'] },
      out: { kind: 'string', help: 'output folder (new or empty, or an earlier export); pytorch: a new folder or a .zip file' },
      data: { kind: 'string', help: 'pytorch: the training data, read exactly as train reads it' },
      validation: { kind: 'string', help: 'pytorch: a separate validation file (instead of --val-fraction)' },
      schema: { kind: 'string', help: 'pytorch: the data schema, when detection finds two or none' },
      columns: { kind: 'string', help: 'pytorch: column mapping, role=column,…' },
      'numbers-as-text': { kind: 'string', help: 'pytorch: columns holding numbers to read as text on purpose' },
      layers: { kind: 'string', help: 'pytorch: layers to adapt, e.g. 0,1,5 (default all)' },
      'init-adapter': { kind: 'string', help: 'pytorch: continue from a PEFT adapter folder (its LoRA settings are used; its steps come from metrics.jsonl or trainer_state.json)' },
      'bundle-model': { kind: 'boolean', help: 'pytorch: copy the local model folder into the export (model/), so train.py runs on it anywhere', default: false },
      quant: { kind: 'string', help: `${Object.entries(MODEL_EXPORTS).map(([f, k]) => `${f}: ${k.list ? 'comma-separated ' : ''}${k.quants.join(', ')} (default ${k.defaultQuant ?? 'as the base'})`).join('; ')}` },
      name: { kind: 'string', help: 'file name stem for GGUF files (default: the model folder name)' },
    },
  },
  merge: {
    name: 'merge',
    summary: 'write base + adapter merged weights (W + s·B·A) as a Hugging Face model folder (export --format hf, f32)',
    usage: 'adapter-studio merge --model <folder> --adapter <folder> --out <folder>',
    options: {
      model: MODEL,
      adapter: ADAPTER,
      out: { kind: 'string', help: 'output folder (new, or an earlier merge output)' },
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
    const parsed = parseCommand(command, rest);
    if (parsed.help) {
      io.out.write(formatHelp(command) + '\n');
      return 0;
    }
    const { runCommand } = await import('./commands');
    await runCommand(name, parsed, io);
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

