// Time to the first optimizer step of the demo model, cold and warm, in fresh processes:
//
//   npx tsx bench/first-step.ts [--runs N] [--helpers N,M] [--overlap 0,1] [--shape SmolLM2-360M] [--tokens T] [--batch B] [--weights nf4]
//   (ADAPTER_STUDIO_ICD=lavapipe|swiftshader picks the adapter)
//
// Each run is a new Node process (as a new CLI run or a reloaded tab is), timed from the start of
// the run driver (plan, pipeline compilation ahead of the step, the step) to its first step event,
// with the GPU request and the model load reported apart. "cold": an empty Mesa shader cache
// (MESA_SHADER_CACHE_DIR pointing at a new folder); "warm": the cache a previous run filled.
// SwiftShader keeps no shader cache on disk, so there every run is cold. The studio's default
// settings on rows of 64 tokens; the base precision is the planner's (auto).
// --helpers runs each setting of compile helpers (src/engine/gpu/warm.ts) in turn, interleaved
// (e.g. `--helpers 0,1`: without, then with one); by default createNodeGpu's choice. --overlap
// likewise: 0 loads the model and then starts the run, 1 starts the run (its compilation) while the
// weights stream in, as the CLI does; "load → step" is the span from the load's start to the first
// step. --shape trains a random checkpoint with a real model's config cut to 2 decoder layers
// (BF16 shards as the hub ships them, written once to the temp folder) instead of the demo model;
// --tokens, --batch and --weights set the run (default 64 tokens, the studio's batch, auto).
// bench/compile-time.ts times single matmul pipelines; this times the whole first step.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { register } from 'node:module';
import { pathToFileURL } from 'node:url';

export interface FirstStep {
  adapter: string;
  weights: string;
  gpuMs: number;
  loadMs: number;
  /** runTraining called → first step event: plan, compilation, the first step. */
  firstStepMs: number;
  /** Of those, until the compile events said every pipeline was ready. */
  compileMs: number;
  pipelines: number;
  /** Compile helpers asked for, and the pipelines they dispatched in all. */
  helpers: number;
  warmed: number;
  /** The run compiled while the weights loaded. */
  overlap: boolean;
  /** Load start → first step event. */
  loadToStepMs: number;
}

async function child(): Promise<void> {
  register('./raw-hooks.mjs', import.meta.url);
  const t0 = performance.now();
  const { createNodeGpu, defaultCompileHelpers } = await import('../src/engine/gpu/node');
  const { demoStep } = await import('./demoStep');
  const helpers = process.env.FIRST_STEP_HELPERS ? Number(process.env.FIRST_STEP_HELPERS) : defaultCompileHelpers();
  const overlap = process.env.FIRST_STEP_OVERLAP === '1';
  const gpu = await createNodeGpu({ compileHelpers: helpers });
  const gpuMs = performance.now() - t0;
  let s0 = 0;
  let compileMs = 0;
  let pipelines = 0;
  let firstStepMs = 0;
  const { weights, loadMs, loadToStepMs } = await demoStep(gpu, {
    dir: process.env.FIRST_STEP_MODEL || undefined,
    T: process.env.FIRST_STEP_TOKENS ? Number(process.env.FIRST_STEP_TOKENS) : undefined,
    batch: process.env.FIRST_STEP_BATCH ? Number(process.env.FIRST_STEP_BATCH) : undefined,
    weights: (process.env.FIRST_STEP_WEIGHTS || undefined) as never,
    overlap,
    onStart: () => (s0 = performance.now()),
    onEvent: (e) => {
      if (e.type === 'compile' && e.done === e.total) {
        compileMs = performance.now() - s0;
        pipelines = e.total;
      }
      if (e.type === 'step' && e.report.step === 1) firstStepMs = performance.now() - s0;
    },
  });
  const warm = await gpu.pipelines.warming;
  if (warm?.errors.length) throw new Error(`compile helpers failed: ${warm.errors.join('; ')}`);
  const out: FirstStep = { adapter: gpu.adapter.name, weights, gpuMs, loadMs, firstStepMs, compileMs, pipelines, helpers, warmed: warm?.dispatched ?? 0, overlap, loadToStepMs };
  process.stdout.write(`FIRST_STEP ${JSON.stringify(out)}\n`);
  process.exit(0);
}

const arg = (name: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);

/** One setting of the interleaved runs: compile helpers (undefined: the default) and overlap. */
export interface Setting {
  helpers: string | undefined;
  overlap: boolean;
}

function run(cacheDir: string, s: Setting, model: string | undefined, opts: FirstStepOptions): FirstStep {
  const r = spawnSync(process.execPath, [...process.execArgv, new URL(import.meta.url).pathname], {
    env: {
      ...process.env, FIRST_STEP_CHILD: '1', MESA_SHADER_CACHE_DIR: cacheDir, MESA_SHADER_CACHE_DISABLE: 'false', FIRST_STEP_OVERLAP: s.overlap ? '1' : '0', FIRST_STEP_MODEL: model ?? '',
      FIRST_STEP_TOKENS: opts.tokens ?? '', FIRST_STEP_BATCH: opts.batch ?? '', FIRST_STEP_WEIGHTS: opts.weights ?? '',
      ...(s.helpers === undefined ? {} : { FIRST_STEP_HELPERS: s.helpers }),
    },
    encoding: 'utf8',
  });
  const line = r.stdout.split('\n').find((l) => l.startsWith('FIRST_STEP '));
  if (!line) throw new Error(`first-step child failed (exit ${r.status}): ${r.stderr.split('\n').filter((l) => !l.startsWith('Warning')).slice(-5).join(' | ')}`);
  return JSON.parse(line.slice('FIRST_STEP '.length)) as FirstStep;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export interface FirstStepOptions {
  runs: number;
  settings: Setting[];
  /** A real model's config cut to 2 layers (realConfigs.ts); default the demo model. */
  shape?: string;
  tokens?: string;
  batch?: string;
  weights?: string;
}

/** Each setting's cold and warm runs, interleaved (one fresh process per run). */
export async function measureFirstStep(opts: FirstStepOptions): Promise<{ cold: FirstStep[][]; warm: FirstStep[][] }> {
  const { settings, shape } = opts;
  let model: string | undefined;
  if (shape) {
    const { cutConfig } = await import('../src/formats/gen/realConfigs');
    const { writeRandomCheckpoint } = await import('../src/formats/nodeCheckpoint');
    model = join(tmpdir(), 'adapter-studio-shapes', `${shape}-2layers`);
    await writeRandomCheckpoint(model, cutConfig(shape as never, 2), { seed: 1, maxShardBytes: 64 << 20 });
  }
  const cold = settings.map((): FirstStep[] => []);
  const warm = settings.map((): FirstStep[] => []);
  const warmDir = mkdtempSync(join(tmpdir(), 'first-step-warm-'));
  try {
    run(warmDir, settings[0], model, opts); // fills the warm cache
    for (let i = 0; i < opts.runs; i++) {
      settings.forEach((s, k) => {
        const coldDir = mkdtempSync(join(tmpdir(), 'first-step-cold-'));
        try {
          cold[k].push(run(coldDir, s, model, opts));
        } finally {
          rmSync(coldDir, { recursive: true, force: true });
        }
        warm[k].push(run(warmDir, s, model, opts));
      });
    }
  } finally {
    rmSync(warmDir, { recursive: true, force: true });
  }
  return { cold, warm };
}

async function parent(): Promise<void> {
  const runs = Number(arg('--runs') ?? 3);
  const settings: Setting[] = (arg('--helpers')?.split(',') ?? [undefined]).flatMap((helpers) => (arg('--overlap')?.split(',') ?? ['0']).map((o) => ({ helpers, overlap: o === '1' })));
  const shape = arg('--shape');
  const { cold, warm } = await measureFirstStep({ runs, settings, shape, tokens: arg('--tokens'), batch: arg('--batch'), weights: arg('--weights') });
  const line = (name: string, xs: FirstStep[]) => {
    const f = (k: keyof FirstStep) => `${(median(xs.map((x) => x[k] as number)) / 1000).toFixed(2)} s [${xs.map((x) => ((x[k] as number) / 1000).toFixed(2)).join(', ')}]`;
    return `| ${name} | ${xs[0].overlap ? 'yes' : 'no'} | ${xs[0].helpers} (${xs.map((x) => x.warmed).join(', ')}) | ${xs[0].weights} | ${f('loadToStepMs')} | ${f('loadMs')} | ${f('firstStepMs')} | ${f('compileMs')} | ${xs[0].pipelines} | ${f('gpuMs')} |`;
  };
  const first = cold[0][0];
  console.log(`first step of ${shape ? `${shape} cut to 2 layers` : 'the demo model'} on ${first.adapter}, ${runs} runs each (median [runs])${settings.length > 1 ? ', settings interleaved' : ''}\n`);
  console.log('| cache | compiled while loading | compile helpers (pipelines they and the device warmed) | base | load → first step | load | run → first step | of which compiling | pipelines | GPU request |');
  console.log('|---|---|---|---|---:|---:|---:|---:|---:|---:|');
  settings.forEach((_, k) => {
    console.log(line('cold', cold[k]));
    console.log(line('warm', warm[k]));
  });
}

if (process.env.FIRST_STEP_CHILD) await child();
else if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await parent();
