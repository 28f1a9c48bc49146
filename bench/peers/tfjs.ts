// TensorFlow.js with its WebGPU backend, in this process on dawn.node's adapter: tf.matMul at the
// benchmark's shapes. TF.js times kernels with timestamp queries when the adapter has them
// (tf.time().kernelMs), wall clock otherwise.
import { nodeNavigatorGpu } from '../../src/engine/gpu/node';
import { median, repeatRuns, type Measurement, type RepeatOptions } from '../harness';
import { randomValues } from '../ours';
import type { MatmulCase } from '../shapes';

export type Tf = typeof import('@tensorflow/tfjs-core');

let tfPromise: Promise<{ tf: Tf; adapter: string }> | null = null;

/** tfjs-core with the webgpu backend set, on dawn.node's navigator.gpu (the same adapter as ours). */
export function loadTf(): Promise<{ tf: Tf; adapter: string }> {
  tfPromise ??= (async () => {
    const gpu = await nodeNavigatorGpu();
    const nav = (globalThis as unknown as { navigator?: Record<string, unknown> }).navigator;
    if (nav && !nav.gpu) Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true });
    else if (!nav) Object.defineProperty(globalThis, 'navigator', { value: { gpu, userAgent: 'node' }, configurable: true });
    const tf = await import('@tensorflow/tfjs-core');
    // tfjs-core registers no gradients by itself (the tfjs umbrella package does this import).
    await import('@tensorflow/tfjs-core/dist/register_all_gradients.js');
    await import('@tensorflow/tfjs-backend-webgpu');
    if (!(await tf.setBackend('webgpu'))) throw new Error('TF.js: the webgpu backend failed to initialize on dawn.node');
    await tf.ready();
    const info = (tf.backend() as unknown as { adapterInfo?: { vendor?: string; architecture?: string } }).adapterInfo;
    return { tf, adapter: [info?.vendor, info?.architecture].filter(Boolean).join(' ') || 'unknown' };
  })();
  return tfPromise;
}

/** Runs `work` under tf.time and returns its kernel ms (timestamp queries) or wall ms. */
export async function timeTf(tf: Tf, work: () => void): Promise<{ ms: number; timing: Measurement['timing'] }> {
  const info = await tf.time(work);
  const kernelMs = info.kernelMs as number | { error: string };
  if (typeof kernelMs === 'number' && kernelMs > 0) return { ms: kernelMs, timing: 'timestamp-query' };
  return { ms: info.wallMs, timing: 'wall-clock' };
}

export async function benchTfMatmul(c: MatmulCase, options: RepeatOptions): Promise<Measurement> {
  const { tf } = await loadTf();
  const { tokens: T, inF, outF } = c;
  const x = tf.tensor2d(randomValues(T * inF, 1), [T, inF]);
  const w = tf.tensor2d(randomValues(outF * inF, 2), [outF, inF]);
  const dy = tf.tensor2d(randomValues(T * outF, 3), [T, outF]);
  let timing: Measurement['timing'] = 'wall-clock';
  try {
    const samples = await repeatRuns(async () => {
      const t = await timeTf(tf, () => {
        const out =
          c.layout === 'fwd X·Wᵀ' ? tf.matMul(x, w, false, true) : c.layout === 'dX = dY·W' ? tf.matMul(dy, w) : tf.matMul(dy, x, true, false);
        out.dispose();
      });
      timing = t.timing;
      return t.ms;
    }, options);
    return { group: 'matmul', name: c.name, impl: 'tfjs', ms: median(samples), samples, timing, flops: c.flops };
  } finally {
    tf.dispose([x, w, dy]);
  }
}
