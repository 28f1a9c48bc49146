// The API object the worker exposes. Kept out of workers/ so its type can be imported by the UI
// (`import type { WorkerApi }`) without pulling in the worker's code.
import { requestGpu, type Gpu, type GpuFeatures, type GpuLimits, type AdapterDescription } from '../engine/gpu/device';
import { GpuUnavailableError } from '../engine/gpu/errors';
import { createBuffer, readF32, uploadBuffer } from '../engine/gpu/buffers';
import { Recorder } from '../engine/gpu/recorder';
import { matmul } from '../engine/kernels/matmul/matmul';

export type GpuStatus =
  | { ok: true; adapter: AdapterDescription; features: GpuFeatures; limits: GpuLimits }
  | { ok: false; reason: string; hint: string };

let gpuPromise: Promise<Gpu> | null = null;

function getGpu(): Promise<Gpu> {
  gpuPromise ??= requestGpu((self.navigator as Navigator & { gpu?: GPU }).gpu);
  return gpuPromise;
}

export const workerApi = {
  /** Gets a WebGPU device inside the worker and describes it, or says why there is none. */
  async gpuStatus(): Promise<GpuStatus> {
    try {
      const gpu = await getGpu();
      return { ok: true, adapter: gpu.adapter, features: gpu.features, limits: gpu.limits };
    } catch (error) {
      gpuPromise = null;
      const hint = error instanceof GpuUnavailableError ? error.hint : '';
      return { ok: false, reason: (error as Error).message, hint };
    }
  },

  /** Runs one matmul C = op(A)·op(B) on the worker's GPU (a self-check of the whole path). */
  async matmul(a: Float32Array, b: Float32Array, M: number, N: number, K: number, transB = false): Promise<Float32Array> {
    const gpu = await getGpu();
    const ga = uploadBuffer(gpu, 'self-check A', a);
    const gb = uploadBuffer(gpu, 'self-check B', b);
    const gc = createBuffer(gpu, 'self-check C', M * N * 4);
    const rec = new Recorder(gpu, 'self-check');
    matmul(rec, { a: ga, b: gb, c: gc, M, N, K, transB });
    await rec.done();
    const out = await readF32(gpu, gc, M * N);
    ga.destroy();
    gb.destroy();
    gc.destroy();
    return out;
  },
};

export type WorkerApi = typeof workerApi;
