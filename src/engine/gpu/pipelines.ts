import type { Gpu } from './device';
import { GpuError, GpuValidationError } from './errors';

export type KernelConstants = Record<string, number | string | boolean>;

/**
 * A compute kernel: WGSL text with `{{NAME}}` placeholders for true compile-time constants
 * (tile sizes, workgroup sizes, the storage type of frozen weights). Sizes belong in uniforms.
 */
export interface Kernel {
  name: string;
  source: string;
  entryPoint?: string;
  /**
   * Derives further placeholder values (generated WGSL, such as a loop unrolled for the tile) from
   * the constants given; the pipeline is keyed by the given constants alone.
   */
  expand?: (constants: KernelConstants) => KernelConstants;
}

/** Replaces every `{{NAME}}` in `source`; a placeholder without a value is an error naming it. */
export function specialize(kernel: Kernel, given: KernelConstants): string {
  const constants = kernel.expand ? { ...given, ...kernel.expand(given) } : given;
  return kernel.source.replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
    const value = constants[name];
    if (value === undefined) throw new GpuError(`kernel "${kernel.name}": no value for compile-time constant {{${name}}}`, kernel.name);
    return typeof value === 'boolean' ? (value ? 'true' : 'false') : String(value);
  });
}

export function pipelineKey(kernel: Kernel, constants: KernelConstants, entryPoint: string): string {
  const parts = Object.keys(constants)
    .sort()
    .map((k) => `${k}=${constants[k]}`);
  return `${kernel.name}:${entryPoint}[${parts.join(',')}]`;
}

/** Compiled pipelines keyed by kernel name, entry point and compile-time constants. */
export class PipelineCache {
  private pipelines = new Map<string, GPUComputePipeline>();
  compiled = 0;

  constructor(private readonly gpu: Gpu) {}

  get size(): number {
    return this.pipelines.size;
  }

  get(kernel: Kernel, constants: KernelConstants = {}, entryPoint = kernel.entryPoint ?? 'main'): GPUComputePipeline {
    const key = pipelineKey(kernel, constants, entryPoint);
    let pipeline = this.pipelines.get(key);
    if (!pipeline) {
      const code = specialize(kernel, constants);
      const module = this.gpu.device.createShaderModule({ label: key, code });
      pipeline = this.gpu.device.createComputePipeline({ label: key, layout: 'auto', compute: { module, entryPoint } });
      this.pipelines.set(key, pipeline);
      this.compiled++;
    }
    return pipeline;
  }

  /** Compiles inside error scopes and throws the shader compiler's messages with the key. */
  async getChecked(kernel: Kernel, constants: KernelConstants = {}, entryPoint = kernel.entryPoint ?? 'main'): Promise<GPUComputePipeline> {
    const key = pipelineKey(kernel, constants, entryPoint);
    if (this.pipelines.has(key)) return this.pipelines.get(key)!;
    const code = specialize(kernel, constants);
    this.gpu.device.pushErrorScope('validation');
    const module = this.gpu.device.createShaderModule({ label: key, code });
    const pipeline = this.gpu.device.createComputePipeline({ label: key, layout: 'auto', compute: { module, entryPoint } });
    const error = await this.gpu.device.popErrorScope();
    if (error) {
      const info = await module.getCompilationInfo?.();
      const messages = info?.messages.map((m) => `${m.lineNum}:${m.linePos} ${m.type}: ${m.message}`).join('\n') ?? '';
      throw new GpuValidationError(`pipeline "${key}" failed to compile: ${error.message}\n${messages}`, key);
    }
    this.pipelines.set(key, pipeline);
    this.compiled++;
    return pipeline;
  }
}
