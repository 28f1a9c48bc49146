/**
 * Command-line options through Node's util.parseArgs. A command's own options are listed by hand;
 * the run settings are generated from the settings contract (one flag per setting, its help line,
 * range and default), so `--help`, parsing and validation can never drift from the studio.
 * Values are checked, never clamped: a bad one is a UsageError with one clear line.
 */
import { parseArgs as nodeParseArgs } from 'node:util';
import {
  DEFAULT_SETTINGS,
  SETTING_DEFS,
  formatNumber,
  getSetting,
  parseSetting,
  validateSettings,
  withSetting,
  type RunSettings,
  type SettingDef,
  type SettingValue,
} from '../settings/settings';

/** Where a command writes: results on `out`, progress and errors on `err`. */
export interface CliIo {
  out: NodeJS.WriteStream;
  err: NodeJS.WriteStream;
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface OptionSpec {
  kind: 'string' | 'number' | 'int' | 'boolean';
  help: string;
  default?: string | number | boolean;
  min?: number;
  max?: number;
  choices?: readonly string[];
}

export interface CommandSpec {
  name: string;
  summary: string;
  usage: string;
  options: Record<string, OptionSpec>;
  /** Names of positional arguments, in order (all required). */
  positionals?: string[];
  /** Which run settings the command takes as flags: whole groups, or single settings by key ('train.weights'). */
  settings?: readonly ('lora' | 'train' | 'data' | 'eval' | `${'lora' | 'train' | 'data' | 'eval'}.${string}`)[];
}

export interface ParsedCommand {
  options: Options;
  positionals: string[];
  /** Run settings given on the command line (key → value), checked against the contract. */
  settings: Map<string, SettingValue>;
  help: boolean;
}

function settingDefs(command: CommandSpec): SettingDef[] {
  return SETTING_DEFS.filter((d) => command.settings?.includes(d.group) || command.settings?.includes(d.key as never));
}

/** util.parseArgs configuration: switches are booleans with a --no- twin; everything else a string. */
function parseConfig(command: CommandSpec) {
  const options: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' } };
  for (const [name, spec] of Object.entries(command.options)) {
    options[name] = { type: spec.kind === 'boolean' ? 'boolean' : 'string' };
    if (spec.kind === 'boolean') options[`no-${name}`] = { type: 'boolean' };
  }
  for (const d of settingDefs(command)) {
    if (options[d.cli]) throw new Error(`option --${d.cli} of ${command.name} is also a setting`);
    options[d.cli] = { type: d.kind === 'bool' ? 'boolean' : 'string' };
    if (d.kind === 'bool') options[`no-${d.cli}`] = { type: 'boolean' };
  }
  return options;
}

function checkOption(command: string, name: string, spec: OptionSpec, raw: string): string | number {
  const where = `${command} --${name}`;
  if (spec.kind === 'number' || spec.kind === 'int') {
    if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(raw.trim())) throw new UsageError(`${where} expects a number, got "${raw}"`);
    const value = Number(raw);
    if (spec.kind === 'int' && !Number.isInteger(value)) throw new UsageError(`${where} expects a whole number, got "${raw}"`);
    if (spec.min !== undefined && value < spec.min) throw new UsageError(`${where} must be at least ${spec.min}, got ${raw}`);
    if (spec.max !== undefined && value > spec.max) throw new UsageError(`${where} must be at most ${spec.max}, got ${raw}`);
    return value;
  }
  if (spec.choices && !spec.choices.includes(raw)) throw new UsageError(`${where}: "${raw}" is not one of ${spec.choices.join(', ')}`);
  return raw;
}

export function parseCommand(command: CommandSpec, argv: string[]): ParsedCommand {
  let parsed: ReturnType<typeof nodeParseArgs>;
  try {
    parsed = nodeParseArgs({ args: argv, options: parseConfig(command), allowPositionals: true, strict: true });
  } catch (error) {
    const e = error as Error & { code?: string };
    const unknown = /Unknown option '(-{1,2}[^']+)'/.exec(e.message);
    if (unknown) {
      const name = unknown[1].replace(/^-+/, '');
      const known = [...Object.keys(command.options), ...settingDefs(command).map((d) => d.cli)];
      const close = known.find((k) => k.startsWith(name.slice(0, 3)));
      throw new UsageError(`${command.name}: unknown option ${unknown[1]}${close ? ` (did you mean --${close}?)` : ''}; see adapter-studio ${command.name} --help`);
    }
    throw new UsageError(`${command.name}: ${e.message.split('\n')[0]}`);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const help = values.help === true;
  const out: Record<string, string | number | boolean> = {};
  for (const [name, spec] of Object.entries(command.options)) {
    const v = values[name];
    if (spec.kind === 'boolean') {
      if (v !== undefined && values[`no-${name}`] !== undefined) throw new UsageError(`${command.name}: --${name} and --no-${name} contradict each other`);
      if (v !== undefined) out[name] = true;
      else if (values[`no-${name}`] !== undefined) out[name] = false;
    } else if (v !== undefined) out[name] = checkOption(command.name, name, spec, String(v));
  }
  const settings = new Map<string, SettingValue>();
  for (const d of settingDefs(command)) {
    const v = values[d.cli];
    const no = values[`no-${d.cli}`];
    if (d.kind === 'bool') {
      if (v !== undefined && no !== undefined) throw new UsageError(`${command.name}: --${d.cli} and --no-${d.cli} contradict each other`);
      if (v !== undefined) settings.set(d.key, true);
      else if (no !== undefined) settings.set(d.key, false);
      continue;
    }
    if (v === undefined) continue;
    const r = parseSetting(d, String(v));
    if ('error' in r) throw new UsageError(`${command.name} --${d.cli}: ${r.error}`);
    settings.set(d.key, r.value);
  }
  const positionals = parsed.positionals;
  if (!help) {
    const wanted = command.positionals ?? [];
    if (positionals.length < wanted.length) throw new UsageError(`${command.name}: missing <${wanted[positionals.length]}>; usage: ${command.usage}`);
    if (positionals.length > wanted.length) throw new UsageError(`${command.name}: unexpected argument "${positionals[wanted.length]}"; usage: ${command.usage}`);
  }
  return { options: new Options(command.name, out), positionals, settings, help };
}

/** The run settings: the defaults (or a base such as a checkpoint's), then the flags; every rule checked. */
export function applySettings(command: string, flags: Map<string, SettingValue>, base: RunSettings = DEFAULT_SETTINGS): RunSettings {
  let s = base;
  for (const [key, value] of flags) s = withSetting(s, key, value);
  const issues = validateSettings(s);
  if (issues.length) {
    const d = SETTING_DEFS.find((x) => x.key === issues[0].key);
    throw new UsageError(`${command}${d ? ` --${d.cli}` : ''}: ${issues[0].message}`);
  }
  return s;
}

function settingArg(d: SettingDef): string {
  switch (d.kind) {
    case 'number': return d.integer ? ' <n>' : ' <x>';
    case 'bool': return '';
    case 'choice': return ` <${d.choices.join('|')}>`;
    case 'list': return ' <a,b,…>';
  }
}

function settingDefault(d: SettingDef): string {
  const v = getSetting(DEFAULT_SETTINGS, d.key);
  if (d.kind === 'number') {
    const range = `${formatNumber(d.min)}–${formatNumber(d.max)}${d.unit ? ` ${d.unit}` : ''}`;
    return `(default ${formatNumber(v as number)}${v === 0 && d.zero ? `: ${d.zero}` : ''}; ${range})`;
  }
  if (d.kind === 'bool') return `(default ${v ? 'on' : 'off'}${v ? `; --no-${d.cli} turns it off` : ''})`;
  if (d.kind === 'list') return `(default ${(v as string[]).join(',')}; of ${d.choices.join(', ')})`;
  return `(default ${String(v)})`;
}

export function formatHelp(command: CommandSpec): string {
  const lines = [`adapter-studio ${command.name} — ${command.summary}`, '', `usage: ${command.usage}`, '', 'options:'];
  const rows: [string, string][] = Object.entries(command.options).map(([name, spec]) => {
    const arg = spec.kind === 'boolean' ? '' : ` <${spec.choices ? spec.choices.join('|') : spec.kind === 'string' ? 'value' : 'n'}>`;
    const def = spec.default !== undefined ? ` (default ${spec.default})` : '';
    return [`--${name}${arg}`, `${spec.help}${def}`];
  });
  const settings = settingDefs(command);
  const width = Math.max(...rows.map((r) => r[0].length), ...settings.map((d) => d.cli.length + settingArg(d).length + 2)) + 2;
  for (const [flag, help] of rows) lines.push(`  ${flag.padEnd(width)} ${help}`);
  let group = '';
  for (const d of settings) {
    if (d.group !== group) {
      group = d.group;
      lines.push('', `${{ lora: 'LoRA', train: 'training', data: 'data', eval: 'evaluation and checkpoints' }[d.group]} settings:`);
    }
    lines.push(`  ${`--${d.cli}${settingArg(d)}`.padEnd(width)} ${d.help} ${settingDefault(d)}`);
  }
  return lines.join('\n');
}

/** Typed access to a command's own options. */
export class Options {
  constructor(
    private readonly command: string,
    private readonly parsed: Record<string, string | number | boolean>,
  ) {}
  has(name: string): boolean {
    return name in this.parsed;
  }
  string(name: string): string | undefined {
    const v = this.parsed[name];
    return v === undefined ? undefined : String(v);
  }
  required(name: string): string {
    const v = this.parsed[name];
    if (v === undefined) throw new UsageError(`${this.command}: --${name} is required`);
    return String(v);
  }
  number(name: string, fallback: number): number;
  number(name: string): number | undefined;
  number(name: string, fallback?: number): number | undefined {
    const v = this.parsed[name];
    return v === undefined ? fallback : (v as number);
  }
  bool(name: string, fallback: boolean): boolean {
    const v = this.parsed[name];
    return v === undefined ? fallback : (v as boolean);
  }
}
