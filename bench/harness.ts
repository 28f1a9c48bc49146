// The benchmark's pure logic — statistics, ratios, the markdown table, result file names and the
// command line — kept apart from the GPU so test/unit/bench/ can check it without an adapter.

/** Who ran a measurement: our kernels, or a peer library on the same adapter. */
export type Impl = 'ours' | 'tfjs' | 'ort-web';
export const IMPLS: readonly Impl[] = ['ours', 'tfjs', 'ort-web'];

/** How a time was taken: GPU timestamps around the passes, or wall clock around submit + done. */
export type TimingSource = 'timestamp-query' | 'wall-clock';

export interface Measurement {
  /** Benchmark group, e.g. "matmul", "lora-step"; `--only` selects by it. */
  group: string;
  /** The case within the group, the same string for ours and the peers so they line up. */
  name: string;
  impl: Impl;
  /** Median milliseconds per run after warm-up. */
  ms: number;
  /** Every measured run (ms), warm-up excluded. */
  samples: number[];
  timing: TimingSource;
  /** Floating-point operations per run, when the case has a natural count. */
  flops?: number;
  /** Bytes moved per run, for bandwidth-bound cases. */
  bytes?: number;
  /** Where it ran when not on dawn.node in this process (e.g. "headless chromium, swiftshader"). */
  where?: string;
  note?: string;
}

/** A case that could not run, kept in the results so the gap is visible. */
export interface Skipped {
  group: string;
  name: string;
  impl: Impl;
  reason: string;
}

/** Median of the samples (mean of the two middle values for an even count). */
export function median(samples: readonly number[]): number {
  if (samples.length === 0) throw new RangeError('median of no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Our speed relative to a peer's on the same case: peer time / our time, so 1.5 means ours runs
 * 1.5× as fast. Undefined when either side is missing or not a positive time.
 */
export function speedup(oursMs: number | undefined, peerMs: number | undefined): number | undefined {
  if (oursMs === undefined || peerMs === undefined || !(oursMs > 0) || !(peerMs > 0)) return undefined;
  return peerMs / oursMs;
}

/** GFLOP/s of `flops` done in `ms` milliseconds. */
export function gflops(flops: number, ms: number): number {
  return flops / (ms * 1e6);
}

/** FLOPs of a [M,K]·[K,N] matmul (one multiply and one add per term). */
export function matmulFlops(M: number, N: number, K: number): number {
  return 2 * M * N * K;
}

/** Formats a number for the table: three significant digits, no exponent for ordinary sizes. */
export function fmt(value: number | undefined, digits = 3): string {
  if (value === undefined || !Number.isFinite(value)) return '—';
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs >= 10 ** digits) return Math.round(value).toString();
  if (abs < 1e-3) return value.toExponential(digits - 1);
  return Number(value.toPrecision(digits)).toString();
}

export interface ComparisonRow {
  group: string;
  name: string;
  /** ms and GFLOP/s per implementation that ran this case. */
  ms: Partial<Record<Impl, number>>;
  gflops: Partial<Record<Impl, number>>;
  /** speedup(ours, peer) per peer. */
  ratio: Partial<Record<Exclude<Impl, 'ours'>, number>>;
}

/** Lines up ours and the peers per (group, name), in first-seen order. */
export function compare(measurements: readonly Measurement[]): ComparisonRow[] {
  const rows = new Map<string, ComparisonRow>();
  for (const m of measurements) {
    const key = `${m.group}\u0000${m.name}`;
    let row = rows.get(key);
    if (!row) {
      row = { group: m.group, name: m.name, ms: {}, gflops: {}, ratio: {} };
      rows.set(key, row);
    }
    row.ms[m.impl] = m.ms;
    if (m.flops !== undefined) row.gflops[m.impl] = gflops(m.flops, m.ms);
  }
  for (const row of rows.values()) {
    for (const peer of ['tfjs', 'ort-web'] as const) {
      const r = speedup(row.ms.ours, row.ms[peer]);
      if (r !== undefined) row.ratio[peer] = r;
    }
  }
  return [...rows.values()];
}

const PEER_TITLES: Record<Exclude<Impl, 'ours'>, string> = { tfjs: 'TF.js', 'ort-web': 'ORT-web' };

/** The markdown table of a run: one row per case, ms and GFLOP/s per implementation, then ours/peer. */
export function formatTable(measurements: readonly Measurement[]): string {
  const rows = compare(measurements);
  const present = IMPLS.filter((impl) => measurements.some((m) => m.impl === impl));
  const peers = present.filter((impl): impl is Exclude<Impl, 'ours'> => impl !== 'ours');
  const title = (impl: Impl) => (impl === 'ours' ? 'ours' : PEER_TITLES[impl]);
  const head = ['group', 'case', ...present.flatMap((i) => [`${title(i)} ms`, `${title(i)} GFLOP/s`])];
  if (present.includes('ours')) head.push(...peers.map((p) => `ours/${PEER_TITLES[p]}`));
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((h, i) => (i < 2 ? '---' : '---:')).join('|')}|`];
  for (const row of rows) {
    const cells = [row.group, row.name, ...present.flatMap((i) => [fmt(row.ms[i]), fmt(row.gflops[i])])];
    if (present.includes('ours')) cells.push(...peers.map((p) => (row.ratio[p] === undefined ? '—' : `${fmt(row.ratio[p], 2)}×`)));
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

/** A file-name-safe slug of an adapter's name: lower case, [a-z0-9-], at most 48 characters. */
export function adapterSlug(adapterName: string): string {
  const slug = adapterName
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 48)
    .replace(/-+$/g, '');
  return slug || 'unknown-adapter';
}

/**
 * bench/results/<YYYY-MM-DD>-<adapter>.json (the date in UTC); a partial run (--quick, --only) adds
 * its tag, e.g. …-quick.json or …-kernels.json, so it never overwrites the day's full run.
 */
export function resultFileName(date: Date, adapterName: string, dir = 'bench/results', tag = ''): string {
  const day = date.toISOString().slice(0, 10);
  const suffix = tag ? `-${adapterSlug(tag)}` : '';
  return `${dir}/${day}-${adapterSlug(adapterName)}${suffix}.json`;
}

/** The tag of a partial run for its file name: "quick", the groups run, or both; "" for a full run. */
export function runTag(options: Pick<BenchOptions, 'quick' | 'only' | 'layers'>): string {
  const full = GROUPS.filter((g) => !ON_REQUEST.includes(g));
  const isFull = full.every((g) => options.only.includes(g));
  // A model depth other than the default is a different experiment: it gets its own file.
  const depth = options.layers !== undefined && options.only.includes('e2e') ? `${options.layers}layers` : '';
  return [options.quick ? 'quick' : '', isFull ? '' : options.only.join('-'), depth].filter(Boolean).join('-');
}

export const GROUPS = ['matmul', 'lora-step', 'kernels', 'quant', 'e2e', 'shapes', 'first-step', 'data', 'encoder'] as const;
export type Group = (typeof GROUPS)[number];
/** Groups that run only when named (--only, or --data). */
const ON_REQUEST: readonly Group[] = ['data', 'encoder'];

export interface BenchOptions {
  quick: boolean;
  /** Groups to run; all but `data` when not given. */
  only: Group[];
  /** Peers to run beside ours. */
  peers: Exclude<Impl, 'ours'>[];
  /** Measured runs per case after one warm-up run (an upper bound; see maxCaseSeconds). */
  repeats: number;
  /** Stop repeating a case once its measured runs took this long (at least 3 runs are kept). */
  maxCaseSeconds: number;
  /** Where the JSON goes. */
  outDir: string;
  /** e2e: decoder layers of the SmolLM2-135M-shaped model (default 2 of 30). */
  layers?: number;
  /** e2e: only configurations with micro-batch · sequence ≤ this many tokens. */
  e2eMaxTokens?: number;
  /** e2e: base precisions to train with, one model load each (default: f16 where the adapter has shader-f16, else f32). */
  weights?: ('f32' | 'f16' | 'q8' | 'nf4')[];
  /** shapes: decoder layers of each real-shape checkpoint (default 2). */
  shapeLayers?: number;
  /** shapes: which models (default all five). */
  shapeModels?: string[];
  /** encoder: layers of the BERT-base-shaped model (default 2 of 12). */
  encoderLayers?: number;
}

export class BenchUsageError extends Error {
  override name = 'BenchUsageError';
}

export const USAGE = `npm run bench -- [--quick] [--only <group>[,<group>…]] [--data] [--no-tfjs] [--no-ort] [--repeats N] [--out DIR]
  [--layers N] [--e2e-max-tokens N] [--weights f16,nf4]   (e2e: model depth, default 2 of 30; skip configurations above N tokens per micro-batch; base precisions, also of shapes)
  [--shape-layers N] [--shape-models SmolLM2-135M,…]   (shapes: layers of each real-shape checkpoint, default 2; which models)
  [--encoder-layers N]                (encoder: BERT-base depth, default 2 of 12)
  groups: ${GROUPS.join(', ')} (data and encoder run only when asked: --data, --only data, --only encoder)`;

/** Parses the command line after `npm run bench --`. */
export function parseArgs(argv: readonly string[]): BenchOptions {
  const options: BenchOptions = {
    quick: false,
    only: GROUPS.filter((g) => !ON_REQUEST.includes(g)),
    peers: ['tfjs', 'ort-web'],
    repeats: 0,
    maxCaseSeconds: 0,
    outDir: 'bench/results',
  };
  let only: Group[] | null = null;
  let data = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new BenchUsageError(`${arg} needs a value\n${USAGE}`);
      return v;
    };
    if (arg === '--quick') options.quick = true;
    else if (arg === '--data') data = true;
    else if (arg === '--no-tfjs') options.peers = options.peers.filter((p) => p !== 'tfjs');
    else if (arg === '--no-ort') options.peers = options.peers.filter((p) => p !== 'ort-web');
    else if (arg === '--only') {
      const groups = value().split(',');
      for (const g of groups) {
        if (!(GROUPS as readonly string[]).includes(g)) throw new BenchUsageError(`--only: unknown group "${g}"\n${USAGE}`);
      }
      only = [...(only ?? []), ...(groups as Group[])];
    } else if (arg === '--repeats') {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 1) throw new BenchUsageError(`--repeats must be a positive integer\n${USAGE}`);
      options.repeats = n;
    } else if (arg === '--layers' || arg === '--e2e-max-tokens' || arg === '--encoder-layers') {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 1) throw new BenchUsageError(`${arg} must be a positive integer\n${USAGE}`);
      if (arg === '--layers') options.layers = n;
      else if (arg === '--encoder-layers') options.encoderLayers = n;
      else options.e2eMaxTokens = n;
    } else if (arg === '--weights') {
      const formats = value().split(',');
      for (const f of formats) if (!['f32', 'f16', 'q8', 'nf4'].includes(f)) throw new BenchUsageError(`--weights: "${f}" is not one of f32, f16, q8, nf4\n${USAGE}`);
      options.weights = formats as BenchOptions['weights'];
    } else if (arg === '--shape-layers') {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 1) throw new BenchUsageError(`${arg} must be a positive integer\n${USAGE}`);
      options.shapeLayers = n;
    } else if (arg === '--shape-models') options.shapeModels = value().split(',');
    else if (arg === '--out') options.outDir = value();
    else if (arg === '--help' || arg === '-h') throw new BenchUsageError(USAGE);
    else throw new BenchUsageError(`unknown argument "${arg}"\n${USAGE}`);
  }
  if (only) options.only = only;
  if (data && !options.only.includes('data')) options.only = [...options.only, 'data'];
  options.repeats ||= options.quick ? 3 : 5;
  options.maxCaseSeconds = options.quick ? 4 : 30;
  return options;
}

export interface RepeatOptions {
  repeats: number;
  maxCaseSeconds: number;
  /** Unmeasured runs first (pipeline compilation, allocation). */
  warmup?: number;
}

/**
 * Calls `run` (which returns the milliseconds of one run) `warmup` times unmeasured, then up to
 * `repeats` times, stopping early once the measured runs add up to maxCaseSeconds and at least
 * min(3, repeats) were taken. Returns the measured samples.
 */
export async function repeatRuns(run: () => Promise<number>, options: RepeatOptions): Promise<number[]> {
  for (let i = 0; i < (options.warmup ?? 1); i++) await run();
  const samples: number[] = [];
  let total = 0;
  const least = Math.min(3, options.repeats);
  while (samples.length < options.repeats) {
    const ms = await run();
    samples.push(ms);
    total += ms;
    if (samples.length >= least && total >= options.maxCaseSeconds * 1000) break;
  }
  return samples;
}
