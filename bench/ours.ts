// Timing our kernels: GPU time from timestamp queries when the device has them (the sum of the
// recorded passes), wall clock around submit + onSubmittedWorkDone otherwise.
import type { Gpu } from '../src/engine/gpu/device';
import { createBuffer, uploadBuffer } from '../src/engine/gpu/buffers';
import { Recorder } from '../src/engine/gpu/recorder';
import { GpuTimer } from '../src/engine/gpu/timer';
import { matmulDyTX, matmulDyW, matmulXWt } from '../src/engine/kernels/matmul/matmul';
import { median, repeatRuns, type Measurement, type RepeatOptions } from './harness';
import type { MatmulCase } from './shapes';
import { mulberry32 } from '../src/formats/gen/random';

/** Deterministic values in [-1, 1) (mulberry32), so runs are repeatable. */
export function randomValues(n: number, seed: number): Float32Array {
  const next = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = next() * 2 - 1;
  return out;
}

export interface OursTiming {
  samples: number[];
  timing: Measurement['timing'];
  /** Wall clock per run (submit to done), for comparison with peers timed by wall clock. */
  wallMs: number;
}

/** Times `record` (which records dispatches into a fresh Recorder) with warm-up and repeats. */
export async function timeOurs(gpu: Gpu, label: string, record: (rec: Recorder) => void, options: RepeatOptions): Promise<OursTiming> {
  const timer = new GpuTimer(gpu);
  const walls: number[] = [];
  try {
    const samples = await repeatRuns(async () => {
      const start = performance.now();
      const rec = new Recorder(gpu, label, timer.enabled ? timer : undefined);
      record(rec);
      await rec.done();
      const wall = performance.now() - start;
      walls.push(wall);
      if (!timer.enabled) return wall;
      const timings = await timer.take();
      return timings.reduce((sum, t) => sum + t.ms, 0);
    }, options);
    return { samples, timing: timer.source, wallMs: median(walls.slice(-samples.length)) };
  } finally {
    timer.destroy();
  }
}

/** Our matmul on one case of the three training layouts. */
export async function benchOursMatmul(gpu: Gpu, c: MatmulCase, options: RepeatOptions): Promise<Measurement> {
  const { tokens: T, inF, outF } = c;
  const x = uploadBuffer(gpu, 'bench X', randomValues(T * inF, 1));
  const w = uploadBuffer(gpu, 'bench W', randomValues(outF * inF, 2));
  const dy = uploadBuffer(gpu, 'bench dY', randomValues(T * outF, 3));
  const out = createBuffer(gpu, 'bench out', 4 * Math.max(T * outF, T * inF, outF * inF));
  try {
    const t = await timeOurs(
      gpu,
      `matmul ${c.layout}`,
      (rec) => {
        if (c.layout === 'fwd X·Wᵀ') matmulXWt(rec, x, w, out, T, inF, outF);
        else if (c.layout === 'dX = dY·W') matmulDyW(rec, dy, w, out, T, outF, inF);
        else matmulDyTX(rec, dy, x, out, T, outF, inF);
      },
      options,
    );
    return { group: 'matmul', name: c.name, impl: 'ours', ms: median(t.samples), samples: t.samples, timing: t.timing, flops: c.flops, note: `wall ${t.wallMs.toFixed(1)} ms` };
  } finally {
    for (const b of [x, w, dy, out]) b.destroy();
  }
}
