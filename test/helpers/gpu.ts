import { createNodeGpu } from '../../src/engine/gpu/node';
import type { Gpu, RequestGpuOptions } from '../../src/engine/gpu/device';

const cache = new Map<string, Promise<Gpu>>();

/**
 * The GPU for a test file: the machine's adapter, or a software Vulkan driver (DESIGN.md §5).
 * Never skips: with no adapter this throws GpuUnavailableError, whose message says how to get one.
 * The adapter's name goes to the log so every run shows what the GPU tests ran on.
 */
export function testGpu(options: RequestGpuOptions = {}): Promise<Gpu> {
  const key = JSON.stringify(options);
  let gpu = cache.get(key);
  if (!gpu) {
    gpu = createNodeGpu(options).then((g) => {
      const f = g.features;
      console.log(
        `[gpu] adapter: ${g.adapter.name}; f16=${f.f16} subgroups=${f.subgroups} timestamps=${f.timestamps}; ` +
          `maxStorageBufferBindingSize=${g.limits.maxStorageBufferBindingSize}`,
      );
      return g;
    });
    cache.set(key, gpu);
  }
  return gpu;
}
