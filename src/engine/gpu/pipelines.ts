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
export function specialize(kernel: Kernel, given: KernelConstants, options: { unroll?: boolean } = {}): string {
  const constants = kernel.expand ? { ...given, ...kernel.expand(given) } : given;
  const code = fillPlaceholders(kernel, constants);
  return options.unroll ? unrollLoops(code, kernel.name) : code;
}

function fillPlaceholders(kernel: Kernel, constants: KernelConstants): string {
  return kernel.source.replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
    const value = constants[name];
    if (value === undefined) throw new GpuError(`kernel "${kernel.name}": no value for compile-time constant {{${name}}}`, kernel.name);
    return typeof value === 'boolean' ? (value ? 'true' : 'false') : String(value);
  });
}

const UNROLL_MARK = /\/\/ @unroll[^\n]*\n(\s*)for \(var (\w+) = 0u; \2 < (\w+); \2\+\+\) \{/;

/**
 * Writes out every loop marked `// @unroll` on the line before it (for adapters whose compiler does
 * not unroll, `Gpu.unrollInSource`; elsewhere the mark is a comment). The loop must have the form
 * `for (var i = 0u; i < BOUND; i++) { … }` with BOUND a literal or a `const BOUND = <n>u;` of the
 * shader; each copy of the body gets its own braces, with `i` replaced by the literal. Some
 * drivers (SwiftShader) do not unroll, so a small register array indexed in a loop stays a
 * dynamically indexed array in memory (docs/performance.md measured 2.5× on the matmul).
 */
export function unrollLoops(code: string, name = 'shader'): string {
  const consts = new Map<string, number>();
  for (const m of code.matchAll(/\bconst (\w+) = (\d+)u?;/g)) consts.set(m[1], Number(m[2]));
  for (let m = UNROLL_MARK.exec(code); m; m = UNROLL_MARK.exec(code)) {
    const [whole, indent, index, boundName] = m;
    const bound = /^\d+u?$/.test(boundName) ? parseInt(boundName, 10) : consts.get(boundName);
    if (bound === undefined) throw new GpuError(`kernel "${name}": @unroll loop bound ${boundName} is not a literal or an integer const`, name);
    const open = m.index + whole.length; // just after the loop's "{"
    let depth = 1;
    let close = open;
    for (; close < code.length && depth > 0; close++) {
      if (code[close] === '{') depth++;
      else if (code[close] === '}') depth--;
    }
    if (depth !== 0) throw new GpuError(`kernel "${name}": unbalanced braces in an @unroll loop`, name);
    const body = code.slice(open, close - 1);
    const copies = Array.from({ length: bound }, (_, k) => `{${body.replace(new RegExp(`\\b${index}\\b`, 'g'), `${k}u`)}}`);
    code = code.slice(0, m.index) + `// unrolled ×${bound}\n${indent}` + copies.join(`\n${indent}`) + code.slice(close);
  }
  if (code.includes('// @unroll')) throw new GpuError(`kernel "${name}": an @unroll mark is not followed by a loop of the form for (var i = 0u; i < N; i++) {`, name);
  return code;
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
      const code = specialize(kernel, constants, { unroll: this.gpu.unrollInSource });
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
    const code = specialize(kernel, constants, { unroll: this.gpu.unrollInSource });
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
