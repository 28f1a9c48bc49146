import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Gpu, requestGpu, type RequestGpuOptions } from './device';
import { GpuUnavailableError } from './errors';

/** Vulkan drivers tried, in order, when the machine has no GPU of its own. */
export const SOFTWARE_ICDS = [
  { name: 'lavapipe', path: '/usr/share/vulkan/icd.d/lvp_icd.json' },
  { name: 'swiftshader', path: '/usr/lib/chromium/vk_swiftshader_icd.json' },
] as const;

export const NODE_GPU_HINT =
  'Install a Vulkan driver: a real GPU driver, or Debian\'s SwiftShader with ' +
  '`apt-get install -y chromium libvulkan1` (then VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json). ' +
  'Set ADAPTER_STUDIO_ICD=swiftshader|lavapipe|system to choose one.';

function hasHardwareGpu(): boolean {
  return ['/dev/nvidia0', '/dev/dri/renderD128', '/dev/dxg'].some((p) => existsSync(p));
}

/**
 * Picks the Vulkan ICD before dawn.node starts: the user's VK_ICD_FILENAMES if set, the system
 * driver when a GPU device node exists, otherwise a software driver (ADAPTER_STUDIO_ICD picks one).
 * Must run before the first `create()` since the Vulkan loader reads the variable once.
 */
export function chooseVulkanDriver(env: NodeJS.ProcessEnv = process.env): string {
  const wanted = env.ADAPTER_STUDIO_ICD;
  if (wanted === 'system') return 'system';
  if (env.VK_ICD_FILENAMES && !wanted) return `VK_ICD_FILENAMES=${env.VK_ICD_FILENAMES}`;
  if (!wanted && hasHardwareGpu()) return 'system';
  const candidates = wanted ? SOFTWARE_ICDS.filter((icd) => icd.name === wanted) : SOFTWARE_ICDS;
  if (wanted && candidates.length === 0) {
    throw new GpuUnavailableError(`ADAPTER_STUDIO_ICD=${wanted} is not one of system, lavapipe, swiftshader`, NODE_GPU_HINT);
  }
  for (const icd of candidates) {
    if (existsSync(icd.path)) {
      env.VK_ICD_FILENAMES = icd.path;
      return icd.name;
    }
  }
  return 'system';
}

let dawn: Promise<GPU> | null = null;

/** The dawn.node `GPU` object, created once per process. */
export function nodeNavigatorGpu(): Promise<GPU> {
  dawn ??= (async () => {
    chooseVulkanDriver();
    // XDG_RUNTIME_DIR noise from the Vulkan loader is harmless; give it a value to keep logs clean.
    process.env.XDG_RUNTIME_DIR ??= '/tmp';
    let mod: { create: (flags: string[]) => GPU; globals: Record<string, unknown> };
    try {
      mod = (await import('webgpu')) as unknown as typeof mod;
    } catch (error) {
      throw new GpuUnavailableError(`dawn.node (the "webgpu" package) failed to load: ${(error as Error).message}`, NODE_GPU_HINT);
    }
    // WebGPU's constants (GPUBufferUsage…) as in a browser.
    for (const [key, value] of Object.entries(mod.globals)) {
      if (!(key in globalThis)) (globalThis as Record<string, unknown>)[key] = value;
    }
    return mod.create([]);
  })();
  return dawn;
}

/**
 * Compile helpers (warm.ts) for a Node process: one per core beyond the first, at most 3, when
 * Mesa's shader cache is on (the helpers hand their work over through it). They only start on
 * adapters that compile at first dispatch (lavapipe).
 */
export function defaultCompileHelpers(env: NodeJS.ProcessEnv = process.env, cores = availableParallelism()): number {
  if (/^(1|true|yes)$/i.test(env.MESA_SHADER_CACHE_DISABLE ?? '')) return 0;
  return Math.max(0, Math.min(3, cores - 1));
}

/** A device in Node through dawn.node. Fails loudly (never returns null) when no adapter exists. */
export async function createNodeGpu(options: RequestGpuOptions = {}): Promise<Gpu> {
  const gpu = await nodeNavigatorGpu();
  try {
    return await requestGpu(gpu, { compileHelpers: defaultCompileHelpers(), ...options });
  } catch (error) {
    if (error instanceof GpuUnavailableError) {
      throw new GpuUnavailableError(`No WebGPU adapter in Node (${error.message.split('.')[0]})`, NODE_GPU_HINT);
    }
    throw error;
  }
}
