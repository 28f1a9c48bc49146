/**
 * Compile helpers: extra devices that compile a step's pipelines beside the device that runs it,
 * on adapters that compile at first dispatch (`Gpu.compilesAtFirstDispatch`: lavapipe).
 *
 * llvmpipe generates a pipeline's code when it is first dispatched, on the device's queue thread,
 * so a cold first step compiles its pipelines one after another on one core while the others idle
 * (asynchronous pipeline creation returns at once and compiles nothing). Each helper device has a
 * queue thread of its own: it dispatches the pipelines, each once on one workgroup with scratch
 * buffers and the real dispatch's uniforms, walking the list from its last pipeline back while the
 * step compiles from its first. What a helper compiled reaches the step's device through Mesa's
 * shader cache on disk (llvmpipe stores each compiled shader there and looks there before
 * compiling), so with the cache off (MESA_SHADER_CACHE_DISABLE) helpers only cost; createNodeGpu
 * asks for none then. The two sides meet in the middle: on two cores the compile takes about half
 * as long (docs/performance.md, "First step").
 *
 * A helper's errors stay its own: they are counted in the result, never reach the step's device.
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

/**
 * Dispatches `wants` (in the order of their first use) on `helpers.count` new devices, from the
 * last back to the first, one workgroup each; the devices are destroyed when the list is done.
 */
export async function warmOnHelpers(helpers: CompileHelpers, wants: WarmWant[]): Promise<WarmResult> {
  const result: WarmResult = { dispatched: 0, errors: [] };
  const queue = [...wants].reverse();
  let next = 0;
  const work = async (device: GPUDevice): Promise<void> => {
    try {
      for (let i = next++; i < queue.length; i = next++) {
        const error = await dispatchOnce(device, queue[i]);
        if (error) result.errors.push(error);
        else result.dispatched++;
      }
    } finally {
      device.destroy();
    }
  };
  const devices = await Promise.allSettled(Array.from({ length: Math.min(helpers.count, queue.length) }, () => helpers.request()));
  for (const d of devices) if (d.status === 'rejected') result.errors.push(`no compile helper: ${(d.reason as Error)?.message ?? d.reason}`);
  await Promise.all(devices.flatMap((d) => (d.status === 'fulfilled' ? [work(d.value)] : [])));
  return result;
}

async function dispatchOnce(device: GPUDevice, want: WarmWant): Promise<string | null> {
  const label = `compile helper: ${want.label}`;
  const buffers: GPUBuffer[] = [];
  const scratch = (size: number, usage: number) => {
    const buffer = device.createBuffer({ label, size, usage });
    buffers.push(buffer);
    return buffer;
  };
  device.pushErrorScope('validation');
  let thrown: string | null = null;
  try {
    const module = device.createShaderModule({ label, code: want.code });
    const pipeline = await device.createComputePipelineAsync({ label, layout: 'auto', compute: { module, entryPoint: want.entryPoint } });
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
