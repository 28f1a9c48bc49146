/**
 * A small, strict argument parser: `--name value`, `--name=value`, boolean `--flag` / `--no-flag`,
 * positionals. Unknown options and bad values are UsageErrors with one clear line.
 */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type OptionKind = 'string' | 'int' | 'number' | 'boolean' | 'list';

export interface OptionSpec {
  kind: OptionKind;
  help: string;
  /** Shown in help; the parser itself leaves absent options undefined. */
  default?: string | number | boolean;
  min?: number;
  max?: number;
  /** Allowed values (string options and list items). */
  choices?: readonly string[];
}

export interface CommandSpec {
  name: string;
  summary: string;
  usage: string;
  options: Record<string, OptionSpec>;
  /** Names of positional arguments, in order (all required). */
  positionals?: string[];
}

export type ParsedValue = string | number | boolean | string[];

export interface Parsed {
  options: Record<string, ParsedValue>;
  positionals: string[];
  help: boolean;
}

function convert(command: string, name: string, spec: OptionSpec, raw: string): ParsedValue {
  const where = `${command} --${name}`;
  switch (spec.kind) {
    case 'int':
    case 'number': {
      const value = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(value)) throw new UsageError(`${where} expects a number, got "${raw}"`);
      if (spec.kind === 'int' && !Number.isInteger(value)) throw new UsageError(`${where} expects a whole number, got "${raw}"`);
      if (spec.min !== undefined && value < spec.min) throw new UsageError(`${where} must be at least ${spec.min}, got ${raw}`);
      if (spec.max !== undefined && value > spec.max) throw new UsageError(`${where} must be at most ${spec.max}, got ${raw}`);
      return value;
    }
    case 'list': {
      const items = raw.split(',').map((s) => s.trim()).filter(Boolean);
      if (items.length === 0) throw new UsageError(`${where} expects a comma-separated list, got "${raw}"`);
      if (spec.choices) {
        for (const item of items) {
          if (!spec.choices.includes(item)) throw new UsageError(`${where}: "${item}" is not one of ${spec.choices.join(', ')}`);
        }
      }
      return items;
    }
    case 'boolean': {
      if (['true', '1', 'yes'].includes(raw)) return true;
      if (['false', '0', 'no'].includes(raw)) return false;
      throw new UsageError(`${where} expects true or false, got "${raw}"`);
    }
    default:
      if (spec.choices && !spec.choices.includes(raw)) throw new UsageError(`${where}: "${raw}" is not one of ${spec.choices.join(', ')}`);
      return raw;
  }
}

export function parseArgs(command: CommandSpec, argv: string[]): Parsed {
  const options: Record<string, ParsedValue> = {};
  const positionals: string[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--')) {
      if (arg.startsWith('-') && arg.length > 1 && !/^-\d/.test(arg)) throw new UsageError(`${command.name}: unknown option "${arg}" (options are written --name)`);
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    let name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    const spec = command.options[name];
    if (!spec && name.startsWith('no-') && command.options[name.slice(3)]?.kind === 'boolean') {
      if (eq >= 0) throw new UsageError(`${command.name} --${name} takes no value`);
      name = name.slice(3);
      options[name] = false;
      continue;
    }
    if (!spec) {
      const known = Object.keys(command.options);
      const close = known.find((k) => k.startsWith(name.slice(0, 3)));
      throw new UsageError(`${command.name}: unknown option --${name}${close ? ` (did you mean --${close}?)` : ''}; see adapter-studio ${command.name} --help`);
    }
    if (spec.kind === 'boolean' && eq < 0) {
      options[name] = true;
      continue;
    }
    let raw: string;
    if (eq >= 0) raw = arg.slice(eq + 1);
    else {
      if (i + 1 >= argv.length || (argv[i + 1].startsWith('--') && argv[i + 1].length > 2)) throw new UsageError(`${command.name} --${name} needs a value`);
      raw = argv[++i];
    }
    options[name] = convert(command.name, name, spec, raw);
  }
  if (!help) {
    const wanted = command.positionals ?? [];
    if (positionals.length < wanted.length) throw new UsageError(`${command.name}: missing <${wanted[positionals.length]}>; usage: ${command.usage}`);
    if (positionals.length > wanted.length) throw new UsageError(`${command.name}: unexpected argument "${positionals[wanted.length]}"; usage: ${command.usage}`);
  }
  return { options, positionals, help };
}

export function formatHelp(command: CommandSpec): string {
  const lines = [`adapter-studio ${command.name} — ${command.summary}`, '', `usage: ${command.usage}`, '', 'options:'];
  const width = Math.max(...Object.keys(command.options).map((k) => k.length)) + 4;
  for (const [name, spec] of Object.entries(command.options)) {
    const arg = spec.kind === 'boolean' ? '' : ` <${spec.kind === 'list' ? 'a,b' : spec.kind}>`;
    const def = spec.default !== undefined ? ` (default ${spec.default})` : '';
    lines.push(`  --${(name + arg).padEnd(width + 8)} ${spec.help}${def}`);
  }
  return lines.join('\n');
}

/** Typed access to parsed options with defaults. */
export class Options {
  constructor(private readonly parsed: Record<string, ParsedValue>) {}
  has(name: string): boolean {
    return name in this.parsed;
  }
  string(name: string, fallback?: string): string | undefined {
    const v = this.parsed[name];
    return v === undefined ? fallback : String(v);
  }
  required(command: string, name: string): string {
    const v = this.parsed[name];
    if (v === undefined) throw new UsageError(`${command}: --${name} is required`);
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
  list(name: string, fallback: string[]): string[] {
    const v = this.parsed[name];
    return v === undefined ? fallback : (v as string[]);
  }
}
