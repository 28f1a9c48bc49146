// The benchmark runner: ours and the peers on the same adapter, medians after warm-up, a JSON
// file per run (bench/results/<date>-<adapter>.json) and a markdown table on stdout.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { execFileSync } from 'node:child_process';
import { createNodeGpu } from '../src/engine/gpu/node';
import type { Gpu } from '../src/engine/gpu/device';
import {
  BenchUsageError, formatTable, median, parseArgs, resultFileName, runTag,
  type BenchOptions, type Impl, type Measurement, type RepeatOptions, type Skipped,
} from './harness';
import { benchOursMatmul } from './ours';
import { benchTfMatmul, loadTf } from './peers/tfjs';
import { openOrtPeer, type OrtSession } from './peers/ort';
import { matmulCases, QWEN25_05B, SMOLLM2_135M } from './shapes';
import { benchOursLoraStep, benchTfLoraStep, loraStepCase } from './lora-step';
import { E2E_DEFAULT_LAYERS, formatE2eTable, runE2e, type E2eRun } from './e2e';
import type { runShapes } from './realShapes';

type ShapesRun = Awaited<ReturnType<typeof runShapes>>;
import { ENCODER_DEFAULT_LAYERS, formatEncoderTable, runEncoderBench, type EncoderBenchResult } from './encoder';

interface Run {
  gpu: Gpu;
  options: BenchOptions;
  repeat: RepeatOptions;
  measurements: Measurement[];
  skipped: Skipped[];
}

function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/** Runs one measurement; a failure becomes a recorded skip with its reason rather than ending the run. */
async function attempt(run: Run, group: string, name: string, impl: Impl, work: () => Promise<Measurement>): Promise<void> {
  const start = performance.now();
  try {
    const m = await work();
    run.measurements.push(m);
    log(`${group} | ${name} | ${impl}: ${m.ms.toFixed(2)} ms (${m.timing}, ${m.samples.length} runs, ${((performance.now() - start) / 1000).toFixed(0)} s)`);
  } catch (error) {
    const reason = (error as Error).message.split('\n')[0];
    run.skipped.push({ group, name, impl, reason });
    log(`${group} | ${name} | ${impl}: FAILED ${reason}`);
  }
}

/** Adapters match when the vendor and driver words agree (dawn.node and Chromium name them alike). */
function sameAdapter(ours: Gpu, peerAdapter: string): boolean {
  const words = (s: string) => s.toLowerCase().split(/[^a-z0-9]+/).filter((w) => w.length > 2);
  const peer = new Set(words(peerAdapter));
  return words(`${ours.adapter.vendor} ${ours.adapter.architecture}`).some((w) => peer.has(w));
}

async function benchMatmul(run: Run): Promise<void> {
  const cases = matmulCases(run.options.quick);
  let ort: OrtSession | null = null;
  let ortReason = '';
  if (run.options.peers.includes('ort-web')) {
    try {
      ort = await openOrtPeer();
      if (!sameAdapter(run.gpu, ort.adapter)) {
        ortReason = `Chromium's WebGPU adapter is "${ort.adapter}", not this run's "${run.gpu.adapter.name}": no same-adapter comparison`;
        await ort.close();
        ort = null;
      }
    } catch (error) {
      ortReason = `headless Chromium for ORT-web failed: ${(error as Error).message.split('\n')[0]}`;
    }
  }
  try {
    for (const c of cases) {
      await attempt(run, 'matmul', c.name, 'ours', () => benchOursMatmul(run.gpu, c, run.repeat));
      if (run.options.peers.includes('tfjs')) await attempt(run, 'matmul', c.name, 'tfjs', () => benchTfMatmul(c, run.repeat));
      if (ort) {
        // ORT-web runs in Chromium, whose SwiftShader build runs faster than dawn.node's; our kernel
        // runs in the same page, timed the same way, so this group compares like with like.
        await attempt(run, 'matmul-chromium', c.name, 'ours', async () => {
          const samples = await ort!.runOurs(c, run.gpu, run.repeat);
          return {
            group: 'matmul-chromium', name: c.name, impl: 'ours', ms: median(samples), samples, timing: 'wall-clock', flops: c.flops,
            where: `headless Chromium (${ort!.adapter})`,
          };
        });
        await attempt(run, 'matmul-chromium', c.name, 'ort-web', () => ort!.run(c, run.repeat));
      } else if (ortReason) run.skipped.push({ group: 'matmul-chromium', name: c.name, impl: 'ort-web', reason: ortReason });
    }
  } finally {
    await ort?.close();
  }
}

async function benchLoraStep(run: Run): Promise<void> {
  const cases = run.options.quick
    ? [loraStepCase(SMOLLM2_135M, 256, 8, ['q'], ['q'])]
    : [
        loraStepCase(SMOLLM2_135M, 256, 8, ['q', 'v']),
        loraStepCase(SMOLLM2_135M, 256, 8, ['q', 'k', 'v', 'o', 'gate', 'up', 'down']),
      ];
  for (const c of cases) {
    await attempt(run, 'lora-step', c.name, 'ours', () => benchOursLoraStep(run.gpu, c, run.repeat));
    if (run.options.peers.includes('tfjs')) await attempt(run, 'lora-step', c.name, 'tfjs', () => benchTfLoraStep(c, run.repeat));
    if (run.options.peers.includes('ort-web')) {
      run.skipped.push({ group: 'lora-step', name: c.name, impl: 'ort-web', reason: 'onnxruntime-web has no training API (removed after 1.18, DESIGN.md §1)' });
    }
  }
}

/** Kernels of the other engineers (LoRA linear, attention, LM head + CE): ours only, in GFLOP/s. */
async function benchKernels(run: Run): Promise<void> {
  const { benchLora, benchAttention, benchLmHead } = await import('./kernels');
  const q = run.options.quick;
  for (const T of q ? [256] : [256, 512]) {
    await attempt(run, 'kernels', `lora SmolLM2 q T${T}`, 'ours', () => benchLora(run.gpu, SMOLLM2_135M, 'q', T, 8, run.repeat));
  }
  if (!q) await attempt(run, 'kernels', 'lora Qwen up T256', 'ours', () => benchLora(run.gpu, QWEN25_05B, 'up', 256, 8, run.repeat));
  for (const [model, T] of q ? ([[SMOLLM2_135M, 256]] as const) : ([[SMOLLM2_135M, 256], [SMOLLM2_135M, 512], [QWEN25_05B, 512]] as const)) {
    const start = run.measurements.length;
    try {
      run.measurements.push(...(await benchAttention(run.gpu, model, T, run.repeat)));
      for (const m of run.measurements.slice(start)) log(`kernels | ${m.name} | ours: ${m.ms.toFixed(2)} ms`);
    } catch (error) {
      run.skipped.push({ group: 'kernels', name: `attention ${model.name} T${T}`, impl: 'ours', reason: (error as Error).message.split('\n')[0] });
    }
  }
  if (q) {
    run.skipped.push({ group: 'kernels', name: 'lmhead+CE', impl: 'ours', reason: 'left out of --quick (a 49k-vocabulary head is ~3.6 GFLOP even at 64 tokens)' });
  } else {
    await attempt(run, 'kernels', 'lmhead+CE SmolLM2 N64', 'ours', () => benchLmHead(run.gpu, SMOLLM2_135M, 64, run.repeat));
    // The model's chunks (lmheadChunkTokens, 64 MiB): all 256 rows in one chunk; beside it the old 16 MiB bound (85 rows, run as 64-row chunks).
    await attempt(run, 'kernels', 'lmhead+CE SmolLM2 N256', 'ours', () => benchLmHead(run.gpu, SMOLLM2_135M, 256, run.repeat));
    await attempt(run, 'kernels', 'lmhead+CE SmolLM2 N256 16 MiB chunks', 'ours', () => benchLmHead(run.gpu, SMOLLM2_135M, 256, run.repeat, 16 << 20));
  }
}

/**
 * The frozen base stored f32 / f16 / q8 / nf4: forward and dx of SmolLM2-135M's q, up and down
 * projections (bench/quant.ts), T 256 (T 64 where the register block is written out, SwiftShader,
 * which runs ~8× slower), and the streamed GPU quantization of one weight.
 */
async function benchQuant(run: Run): Promise<void> {
  const { benchLmHeadTable, benchQuantProjection, benchQuantize, QUANT_PROJECTIONS } = await import('./quant');
  const T = run.gpu.unrollInSource ? 64 : 256;
  for (const proj of run.options.quick ? (['q'] as const) : QUANT_PROJECTIONS) {
    const start = run.measurements.length;
    try {
      run.measurements.push(...(await benchQuantProjection(run.gpu, SMOLLM2_135M, proj, T, run.repeat)));
    } catch (error) {
      run.skipped.push({ group: 'quant', name: `${SMOLLM2_135M.name} ${proj} T${T}`, impl: 'ours', reason: (error as Error).message.split('\n')[0] });
    }
    for (const m of run.measurements.slice(start)) log(`quant | ${m.name} | ours: ${m.ms.toFixed(2)} ms`);
  }
  {
    // The tied LM head over a table in each format (T 64 on SwiftShader, as above).
    const start = run.measurements.length;
    try {
      run.measurements.push(...(await benchLmHeadTable(run.gpu, SMOLLM2_135M, T, run.repeat)));
    } catch (error) {
      run.skipped.push({ group: 'quant', name: 'lmhead table', impl: 'ours', reason: (error as Error).message.split('\n')[0] });
    }
    for (const m of run.measurements.slice(start)) log(`quant | ${m.name} | ours: ${m.ms.toFixed(2)} ms`);
  }
  if (!run.options.quick) {
    const start = run.measurements.length;
    try {
      run.measurements.push(...(await benchQuantize(run.gpu, SMOLLM2_135M, 'up', run.repeat)));
    } catch (error) {
      run.skipped.push({ group: 'quant', name: 'quantize', impl: 'ours', reason: (error as Error).message.split('\n')[0] });
    }
    for (const m of run.measurements.slice(start)) log(`quant | ${m.name} | ours: ${m.ms.toFixed(2)} ms`);
  }
}

/** LoRA training end to end with the real engine (bench/e2e.ts); its own table beside the kernels'. */
async function benchE2e(run: Run): Promise<E2eRun | undefined> {
  try {
    const e2e = await runE2e(
      run.gpu,
      {
        quick: run.options.quick, layers: run.options.layers ?? E2E_DEFAULT_LAYERS, maxTokens: run.options.e2eMaxTokens,
        steps: run.options.repeats, maxCaseSeconds: run.options.maxCaseSeconds, weights: run.options.weights,
      },
      log,
    );
    for (const r of e2e.results) {
      run.measurements.push({
        group: 'e2e', name: r.name, impl: 'ours', ms: r.medianStepMs, samples: r.stepMs, timing: 'wall-clock',
        note: `${r.tokensPerSecond.toFixed(1)} tokens/s; first step ${(r.firstStepMs / 1000).toFixed(1)} s; peak ${r.peakBytes} B; planned ${r.plannedBytes} B`,
      });
    }
    for (const f of e2e.failed) run.skipped.push({ group: 'e2e', name: f.name, impl: 'ours', reason: f.reason });
    return e2e;
  } catch (error) {
    run.skipped.push({ group: 'e2e', name: 'LoRA training tokens/s', impl: 'ours', reason: (error as Error).message.split('\n')[0] });
    return undefined;
  }
}

/**
 * Time to the first step (bench/first-step.ts, fresh processes): the demo model cold and warm, and
 * a Qwen2.5-0.5B checkpoint cut to 2 layers (nf4, one row of 64 tokens) loaded then run against run
 * while loading, interleaved. --quick: one run each, the demo only.
 */
async function benchFirstStep(run: Run): Promise<void> {
  try {
    const { measureFirstStep, median } = await import('./first-step');
    const runs = run.options.quick ? 1 : 2;
    const cases = [
      { label: 'demo', opts: { runs, settings: [{ helpers: undefined, overlap: false }] } },
      ...(run.options.quick ? [] : [{ label: 'Qwen2.5-0.5B 2 layers nf4 T64', opts: { runs, shape: 'Qwen2.5-0.5B', tokens: '64', batch: '1', weights: 'nf4', settings: [{ helpers: undefined, overlap: false }, { helpers: undefined, overlap: true }] } }]),
    ];
    for (const c of cases) {
      const { cold, warm } = await measureFirstStep(c.opts);
      c.opts.settings.forEach((s, k) => {
        for (const [cache, xs] of [['cold', cold[k]], ['warm', warm[k]]] as const) {
          const samples = xs.map((x) => x.loadToStepMs);
          const name = `${c.label} load → first step, ${cache} cache${c.opts.settings.length > 1 ? (s.overlap ? ', compiled while loading' : ', loaded then run') : ''}`;
          run.measurements.push({ group: 'first-step', name, impl: 'ours', ms: median(samples), samples, timing: 'wall-clock', note: `${xs[0].pipelines} pipelines, ${xs[0].weights} base; load ${(median(xs.map((x) => x.loadMs)) / 1000).toFixed(2)} s, compiling ${(median(xs.map((x) => x.compileMs)) / 1000).toFixed(2)} s` });
          log(`first-step | ${name} | ${(median(samples) / 1000).toFixed(2)} s [${samples.map((v) => (v / 1000).toFixed(2)).join(', ')}]`);
        }
      });
    }
  } catch (error) {
    run.skipped.push({ group: 'first-step', name: 'first step', impl: 'ours', reason: (error as Error).message.split('\n')[0] });
  }
}

/** Real model shapes at a cut depth (bench/realShapes.ts): load, plan, two steps, peak against plan; the planner at full depth. */
async function benchShapes(run: Run): Promise<ShapesRun | undefined> {
  const { runShapes, SHAPE_MODELS } = await import('./realShapes');
  const models = (run.options.shapeModels ?? SHAPE_MODELS) as typeof SHAPE_MODELS;
  const unknown = models.filter((m) => !SHAPE_MODELS.includes(m));
  if (unknown.length) throw new BenchUsageError(`--shape-models: ${unknown.join(', ')} not among ${SHAPE_MODELS.join(', ')}`);
  try {
    const shapes = await runShapes(run.gpu, { layers: run.options.shapeLayers ?? 2, weights: run.options.weights, seqLen: 64, batchSize: 1, models }, log);
    for (const r of shapes.results) {
      run.measurements.push({
        group: 'shapes', name: `${r.model} ${r.layers} layers T${r.seqLen} B${r.batchSize} ${r.weights} step`, impl: 'ours', ms: r.stepMs, samples: [r.stepMs], timing: 'wall-clock',
        note: `first step ${(r.firstStepMs / 1000).toFixed(1)} s; load ${r.loadSeconds.toFixed(1)} s; peak ${r.peakBytes} B; planned ${r.plannedBytes} B`,
      });
    }
    for (const f of shapes.failed) run.skipped.push({ group: 'shapes', name: f.name, impl: 'ours', reason: f.reason });
    return shapes;
  } catch (error) {
    run.skipped.push({ group: 'shapes', name: 'real shapes', impl: 'ours', reason: (error as Error).message.split('\n')[0] });
    return undefined;
  }
}

/** BERT-base-shaped sequence classification with LoRA (bench/encoder.ts): the recipe's own example. */
async function benchEncoder(run: Run): Promise<EncoderBenchResult | undefined> {
  try {
    const r = await runEncoderBench(run.gpu, { layers: run.options.encoderLayers ?? ENCODER_DEFAULT_LAYERS, steps: run.options.repeats, maxCaseSeconds: run.options.maxCaseSeconds }, log);
    run.measurements.push({
      group: 'encoder', name: r.name, impl: 'ours', ms: r.medianStepMs, samples: r.stepMs, timing: 'wall-clock',
      note: `${r.tokensPerSecond.toFixed(1)} tokens/s; first step ${(r.firstStepMs / 1000).toFixed(1)} s; peak ${r.peakBytes} B; planned ${r.plannedBytes} B`,
    });
    return r;
  } catch (error) {
    run.skipped.push({ group: 'encoder', name: 'BERT-base classification tokens/s', impl: 'ours', reason: (error as Error).message.split('\n')[0] });
    return undefined;
  }
}

async function benchData(run: Run): Promise<unknown> {
  if (!existsSync('bench/data.ts')) {
    run.skipped.push({ group: 'data', name: 'datasets', impl: 'ours', reason: 'bench/data.ts has not landed yet' });
    return undefined;
  }
  const mod = (await import('./data' as string)) as { runDataBench?: (opts: unknown) => Promise<unknown> };
  if (typeof mod.runDataBench !== 'function') {
    run.skipped.push({ group: 'data', name: 'datasets', impl: 'ours', reason: 'bench/data.ts does not export runDataBench' });
    return undefined;
  }
  return mod.runDataBench({ quick: run.options.quick, gpu: run.gpu });
}

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

export async function main(argv: string[]): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseArgs(argv);
  } catch (error) {
    if (error instanceof BenchUsageError) {
      console.error(error.message);
      return 2;
    }
    throw error;
  }
  const started = new Date();
  const gpu = await createNodeGpu();
  const repeat: RepeatOptions = { repeats: options.repeats, maxCaseSeconds: options.maxCaseSeconds, warmup: 1 };
  const run: Run = { gpu, options, repeat, measurements: [], skipped: [] };
  const f = gpu.features;
  log(`adapter: ${gpu.adapter.name}; f16=${f.f16} subgroups=${f.subgroups} timestamps=${f.timestamps}; groups: ${options.only.join(', ')}${options.quick ? ' (quick)' : ''}`);
  let tfAdapter: string | undefined;
  if (options.peers.includes('tfjs') && options.only.some((g) => g === 'matmul' || g === 'lora-step')) {
    try {
      tfAdapter = (await loadTf()).adapter;
    } catch (error) {
      log(`TF.js unavailable: ${(error as Error).message}`);
      options.peers = options.peers.filter((p) => p !== 'tfjs');
    }
  }
  let data: unknown;
  let e2e: E2eRun | undefined;
  let shapes: ShapesRun | undefined;
  let encoder: EncoderBenchResult | undefined;
  const file = resultFileName(started, gpu.adapter.name, options.outDir, runTag(options));
  mkdirSync(options.outDir, { recursive: true });
  // Written after every group (complete: false until the end), so an interrupted run keeps its numbers.
  const save = (complete: boolean) => {
    const result = {
      date: started.toISOString(),
      seconds: Math.round((Date.now() - started.getTime()) / 1000),
      complete,
      commit: gitCommit(),
      options,
      adapter: { ...gpu.adapter, features: gpu.features, limits: gpu.limits, tfjsAdapter: tfAdapter },
      host: { node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model, loadavg: loadavg() },
      measurements: run.measurements,
      skipped: run.skipped,
      data,
      e2e,
      shapes,
      encoder,
      table: formatTable(run.measurements),
    };
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  };
  if (options.only.includes('matmul')) await benchMatmul(run).finally(() => save(false));
  if (options.only.includes('lora-step')) await benchLoraStep(run).finally(() => save(false));
  if (options.only.includes('kernels')) await benchKernels(run).finally(() => save(false));
  if (options.only.includes('quant')) await benchQuant(run).finally(() => save(false));
  if (options.only.includes('e2e')) e2e = await benchE2e(run).finally(() => save(false));
  if (options.only.includes('shapes')) shapes = await benchShapes(run).finally(() => save(false));
  if (options.only.includes('first-step')) await benchFirstStep(run).finally(() => save(false));
  if (options.only.includes('encoder')) encoder = await benchEncoder(run).finally(() => save(false));
  if (options.only.includes('data')) data = await benchData(run);
  save(true);
  const table = formatTable(run.measurements);

  const limits = gpu.limits;
  console.log(`\n## Adapter Studio benchmark — ${gpu.adapter.name}\n`);
  console.log(
    `features: f16 ${f.f16}, subgroups ${f.subgroups}, timestamps ${f.timestamps}; ` +
      `maxStorageBufferBindingSize ${limits.maxStorageBufferBindingSize}, maxBufferSize ${limits.maxBufferSize}, ` +
      `maxComputeInvocationsPerWorkgroup ${limits.maxComputeInvocationsPerWorkgroup}, maxComputeWorkgroupStorageSize ${limits.maxComputeWorkgroupStorageSize}; ` +
      `host ${cpus().length} CPUs, load ${loadavg().map((l) => l.toFixed(1)).join(' ')}\n`,
  );
  console.log(table);
  console.log('\nours/peer = peer time ÷ our time (above 1: ours is faster). Times are medians after one warm-up run.');
  if (e2e?.results.length) console.log(`\n### End to end: LoRA training (${gpu.adapter.name})\n\n${formatE2eTable(e2e)}`);
  if (shapes) console.log(`\n### Real shapes (${gpu.adapter.name})\n\n${(await import('./realShapes')).formatShapesTables(shapes)}`);
  if (encoder) console.log(`\n### Sequence classification: BERT-base shape, LoRA + trained head (${gpu.adapter.name})\n\n${formatEncoderTable(encoder)}`);
  if (run.skipped.length) {
    console.log('\nNot measured:');
    for (const s of run.skipped) console.log(`- ${s.group} | ${s.name} | ${s.impl}: ${s.reason}`);
  }
  console.log(`\nwrote ${file}`);
  return 0;
}
