/**
 * Warming pipelines where they compile at their first dispatch (`Gpu.compilesAtFirstDispatch`:
 * lavapipe), and the compile helpers: extra devices that compile them beside the device that runs
 * them.
 *
 * llvmpipe generates a pipeline's code when it is first dispatched, on the device's queue thread
 * (asynchronous pipeline creation returns at once and compiles nothing). So PipelineCache.prepare
 * compiles a step's pipelines ahead of the step by dispatching each once, on one workgroup with
 * scratch buffers and the real dispatch's uniforms: on the device itself, walking the list from
 * its first pipeline — which overlaps the compilation with whatever the caller does meanwhile, such
 * as streaming the weights in (runTraining's `loading`) — and on helper devices, each with a queue
 * thread of its own, from its last pipeline back. What a helper compiled reaches the step's device
 * through Mesa's shader cache on disk (llvmpipe stores each compiled shader there and looks there
 * before compiling), so with the cache off (MESA_SHADER_CACHE_DISABLE) helpers only cost;
 * createNodeGpu asks for none then. The two sides meet in the middle: on two cores the compile
 * takes about half as long (docs/performance.md, "First step").
 *
 * A helper's errors stay its own: they are counted in the result, never reach the step's device;
 * the device's own probes run inside an error scope and are counted the same way.
 */
/** A pipeline to compile on a helper: its WGSL as compiled for the step's device, and its first dispatch's probe. */
export interface WarmWant {
  label: string;
  code: string;
  entryPoint: string;
  /** The first dispatch's uniform bytes and number of storage bindings (PipelineWant.probe). */
  probe?: { uniforms: ArrayBuffer | null; bindings: number };
}

/** How the engine gets a helper device: the same adapter, features and limits as its own. */
export interface CompileHelpers {
  /** Helper devices to use at once (0: none). */
  count: number;
  request(): Promise<GPUDevice>;
}

export interface WarmResult {
  /** Pipelines the helpers dispatched. */
  dispatched: number;
  /** Validation or other errors on the helpers (each names the pipeline); none is expected. */
  errors: string[];
}

/** Scratch storage per binding: the kernels' bindings are runtime-sized arrays, so any small size binds. */
const SCRATCH_BYTES = 4096;

/** The device that will run the pipelines, warming them itself: its own pipeline objects (the cache's). */
export interface OwnWarm {
  device: GPUDevice;
  /** The pipeline the step will dispatch for want `index`. */
  pipeline(index: number): GPUComputePipeline;
  /**
   * The device's queue is busy until this settles (the weights streaming in: a compile on the queue
   * thread would hold their writes up): it joins the warming then, the helpers start at once.
   */
  after?: Promise<unknown>;
}

/**
 * Dispatches every pipeline of `wants` (in the order of their first use) once, one workgroup each:
 * the device that runs them (`own`, with the pipelines it will use, so their code is generated for
 * it whether or not Mesa's disk cache is on) from the first forward, and `helpers.count` new
 * devices from the last back, from one shared list, so no pipeline is dispatched twice; the helper
 * devices are destroyed when the list is done. `onDispatched` counts each pipeline warmed.
 */
export async function warmPipelines(wants: WarmWant[], opts: { own?: OwnWarm | null; helpers?: CompileHelpers | null; onDispatched?: (done: number, total: number) => void }): Promise<WarmResult> {
  const result: WarmResult = { dispatched: 0, errors: [] };
  let lo = 0;
  let hi = wants.length - 1;
  const finished = (error: string | null) => {
    if (error) result.errors.push(error);
    else result.dispatched++;
    opts.onDispatched?.(result.dispatched + result.errors.length, wants.length);
  };
  const own = async (o: OwnWarm): Promise<void> => {
    await o.after?.catch(() => {});
    while (lo <= hi) {
      const i = lo++;
      finished(await dispatchOnce(o.device, wants[i], o.pipeline(i)));
    }
  };
  const helper = async (device: GPUDevice): Promise<void> => {
    try {
      while (lo <= hi) {
        const i = hi--;
        finished(await dispatchOnce(device, wants[i], null));
      }
    } finally {
      device.destroy();
    }
  };
  const helpers = opts.helpers;
  const count = helpers ? Math.min(helpers.count, wants.length) : 0;
  const devices = Array.from({ length: count }, () => helpers!.request());
  const work = [opts.own ? own(opts.own) : null, ...devices.map(async (d) => {
    let device: GPUDevice;
    try {
      device = await d;
    } catch (error) {
      result.errors.push(`no compile helper: ${(error as Error)?.message ?? error}`);
      return;
    }
    return helper(device);
  })];
  await Promise.all(work);
  return result;
}

async function dispatchOnce(device: GPUDevice, want: WarmWant, own: GPUComputePipeline | null): Promise<string | null> {
  const label = `${own ? 'warm' : 'compile helper'}: ${want.label}`;
  const buffers: GPUBuffer[] = [];
  const scratch = (size: number, usage: number) => {
    const buffer = device.createBuffer({ label, size, usage });
    buffers.push(buffer);
    return buffer;
  };
  device.pushErrorScope('validation');
  let thrown: string | null = null;
  try {
    const pipeline = own ?? (await device.createComputePipelineAsync({ label, layout: 'auto', compute: { module: device.createShaderModule({ label, code: want.code }), entryPoint: want.entryPoint } }));
    const entries: GPUBindGroupEntry[] = [];
    const uniforms = want.probe?.uniforms;
    if (uniforms) {
      const buffer = scratch(Math.max(16, Math.ceil(uniforms.byteLength / 16) * 16), GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
      device.queue.writeBuffer(buffer, 0, uniforms);
      entries.push({ binding: 0, resource: { buffer } });
    }
    for (let b = 0; b < (want.probe?.bindings ?? 0); b++) entries.push({ binding: b + 1, resource: { buffer: scratch(SCRATCH_BYTES, GPUBufferUsage.STORAGE) } });
    const encoder = device.createCommandEncoder({ label });
    const pass = encoder.beginComputePass({ label });
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, device.createBindGroup({ label, layout: pipeline.getBindGroupLayout(0), entries }));
    pass.dispatchWorkgroups(1);
    pass.end();
    device.queue.submit([encoder.finish()]);
    await device.queue.onSubmittedWorkDone();
  } catch (error) {
    thrown = (error as Error).message;
  }
  const scoped = await device.popErrorScope().catch((error: Error) => error);
  for (const b of buffers) b.destroy();
  const message = thrown ?? scoped?.message;
  return message ? `${label}: ${message}` : null;
}
