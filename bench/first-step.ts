// Time to the first optimizer step of the demo model, cold and warm, in fresh processes:
//
//   npx tsx bench/first-step.ts [--runs N] [--helpers N,M]   (ADAPTER_STUDIO_ICD=lavapipe|swiftshader picks the adapter)
//
// Each run is a new Node process (as a new CLI run or a reloaded tab is), timed from the start of
// the run driver (plan, pipeline compilation ahead of the step, the step) to its first step event,
// with the GPU request and the model load reported apart. "cold": an empty Mesa shader cache
// (MESA_SHADER_CACHE_DIR pointing at a new folder); "warm": the cache a previous run filled.
// SwiftShader keeps no shader cache on disk, so there every run is cold. The studio's default
// settings on rows of 64 tokens; the base precision is the planner's (auto).
// --helpers runs each setting of compile helpers (src/engine/gpu/warm.ts) in turn, interleaved
// (e.g. `--helpers 0,1`: without, then with one); by default createNodeGpu's choice.
// bench/compile-time.ts times single matmul pipelines; this times the whole first step.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { register } from 'node:module';

interface FirstStep {
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
}

async function child(): Promise<void> {
  register('./raw-hooks.mjs', import.meta.url);
  const t0 = performance.now();
  const { createNodeGpu, defaultCompileHelpers } = await import('../src/engine/gpu/node');
  const { demoStep } = await import('./demoStep');
  const helpers = process.env.FIRST_STEP_HELPERS ? Number(process.env.FIRST_STEP_HELPERS) : defaultCompileHelpers();
  const gpu = await createNodeGpu({ compileHelpers: helpers });
  const gpuMs = performance.now() - t0;
  let s0 = 0;
  let compileMs = 0;
  let pipelines = 0;
  let firstStepMs = 0;
  const { weights, loadMs } = await demoStep(gpu, {
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
  const out: FirstStep = { adapter: gpu.adapter.name, weights, gpuMs, loadMs, firstStepMs, compileMs, pipelines, helpers, warmed: warm?.dispatched ?? 0 };
  process.stdout.write(`FIRST_STEP ${JSON.stringify(out)}\n`);
  process.exit(0);
}

function run(cacheDir: string, helpers: string | undefined): FirstStep {
  const r = spawnSync(process.execPath, [...process.execArgv, new URL(import.meta.url).pathname], {
    env: { ...process.env, FIRST_STEP_CHILD: '1', MESA_SHADER_CACHE_DIR: cacheDir, MESA_SHADER_CACHE_DISABLE: 'false', ...(helpers === undefined ? {} : { FIRST_STEP_HELPERS: helpers }) },
    encoding: 'utf8',
  });
  const line = r.stdout.split('\n').find((l) => l.startsWith('FIRST_STEP '));
  if (!line) throw new Error(`first-step child failed (exit ${r.status}): ${r.stderr.split('\n').filter((l) => !l.startsWith('Warning')).slice(-5).join(' | ')}`);
  return JSON.parse(line.slice('FIRST_STEP '.length)) as FirstStep;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function parent(): Promise<void> {
  const arg = (name: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
  const runs = Number(arg('--runs') ?? 3);
  const settings = arg('--helpers')?.split(',') ?? [undefined];
  const cold = new Map<string | undefined, FirstStep[]>(settings.map((h) => [h, []]));
  const warm = new Map<string | undefined, FirstStep[]>(settings.map((h) => [h, []]));
  const warmDir = mkdtempSync(join(tmpdir(), 'first-step-warm-'));
  try {
    run(warmDir, settings[0]); // fills the warm cache
    for (let i = 0; i < runs; i++) {
      for (const h of settings) {
        const coldDir = mkdtempSync(join(tmpdir(), 'first-step-cold-'));
        try {
          cold.get(h)!.push(run(coldDir, h));
        } finally {
          rmSync(coldDir, { recursive: true, force: true });
        }
        warm.get(h)!.push(run(warmDir, h));
      }
    }
  } finally {
    rmSync(warmDir, { recursive: true, force: true });
  }
  const line = (name: string, xs: FirstStep[]) => {
    const f = (k: keyof FirstStep) => `${(median(xs.map((x) => x[k] as number)) / 1000).toFixed(2)} s [${xs.map((x) => ((x[k] as number) / 1000).toFixed(2)).join(', ')}]`;
    return `| ${name} | ${xs[0].helpers} (${xs.map((x) => x.warmed).join(', ')}) | ${xs[0].weights} | ${f('firstStepMs')} | ${f('compileMs')} | ${xs[0].pipelines} | ${f('loadMs')} | ${f('gpuMs')} |`;
  };
  const first = cold.get(settings[0])![0];
  console.log(`first step of the demo model on ${first.adapter}, ${runs} runs each (median [runs])${settings.length > 1 ? ', settings interleaved' : ''}\n`);
  console.log('| cache | compile helpers (pipelines they dispatched) | base | first step | of which compiling | pipelines | model load | GPU request |');
  console.log('|---|---|---|---:|---:|---:|---:|---:|');
  for (const h of settings) {
    console.log(line('cold', cold.get(h)!));
    console.log(line('warm', warm.get(h)!));
  }
}

if (process.env.FIRST_STEP_CHILD) await child();
else await parent();
