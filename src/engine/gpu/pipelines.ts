import { GpuError, GpuValidationError } from './errors';
import type { PipelineWant } from './recorder';
import { warmPipelines, type CompileHelpers, type WarmResult, type WarmWant } from './warm';

/** What compiling needs of a device (Gpu has both): the device, and whether to unroll in the source. */
export interface PipelineHost {
  readonly device: GPUDevice;
  readonly unrollInSource: boolean;
  /** Whether pipelines compile at their first dispatch (Gpu.compilesAtFirstDispatch); then prepare starts the compile helpers. */
  readonly compilesAtFirstDispatch?: boolean;
  readonly compileHelpers?: CompileHelpers | null;
}

export type KernelConstants = Record<string, number | string | boolean>;

/**
 * A compute kernel: WGSL text with `{{NAME}}` placeholders for true compile-time constants
 * (tile sizes, workgroup sizes, the storage type of frozen weights). Sizes belong in uniforms.
 */
export interface Kernel {
  name: string;
  source: string;
  entryPoint?: string;
}

/**
 * Replaces every `{{NAME}}` in `source` (a placeholder without a value is an error naming it), then
 * writes out the `// @unroll` loops when `options.unroll`. PipelineCache passes
 * `Gpu.unrollInSource` unless the constants carry a boolean `UNROLL` of their own.
 */
export function specialize(kernel: Kernel, given: KernelConstants, options: { unroll?: boolean } = {}): string {
  const code = fillPlaceholders(kernel, given);
  return options.unroll ? unrollLoops(code, kernel.name) : code;
}

/** The WGSL a kernel compiles to on `gpu`: placeholders filled, `// @unroll` loops written out per `Gpu.unrollInSource` (or a boolean `UNROLL` constant). */
export function shaderCode(gpu: Pick<PipelineHost, 'unrollInSource'>, kernel: Kernel, constants: KernelConstants): string {
  return specialize(kernel, constants, { unroll: typeof constants.UNROLL === 'boolean' ? constants.UNROLL : gpu.unrollInSource });
}

function fillPlaceholders(kernel: Kernel, constants: KernelConstants): string {
  return kernel.source.replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
    const value = constants[name];
    if (value === undefined) throw new GpuError(`kernel "${kernel.name}": no value for compile-time constant {{${name}}}`, kernel.name);
    return typeof value === 'boolean' ? (value ? 'true' : 'false') : String(value);
  });
}

const UNROLL_MARK = /\/\/ @unroll[^\n]*\n(\s*)for \(var (\w+) = 0u; \2 < ([^;{}]+); \2\+\+\) \{/;

/**
 * Value of an integer expression of literals (`4u`), known consts, + - * / and parentheses, as u32
 * arithmetic; undefined for anything else (floats, calls, unknown names).
 */
export function evalConstExpr(text: string, consts: ReadonlyMap<string, number>): number | undefined {
  const tokens = text.match(/\d+u?|\w+|[-+*/()]|\S/g) ?? [];
  let at = 0;
  const factor = (): number | undefined => {
    const t = tokens[at++];
    if (t === undefined) return undefined;
    if (t === '(') {
      const v = sum();
      return tokens[at++] === ')' ? v : undefined;
    }
    if (/^\d+u?$/.test(t)) return parseInt(t, 10);
    return consts.get(t);
  };
  const product = (): number | undefined => {
    let v = factor();
    while (v !== undefined && (tokens[at] === '*' || tokens[at] === '/')) {
      const op = tokens[at++];
      const r = factor();
      if (r === undefined || (op === '/' && r === 0)) return undefined;
      v = op === '*' ? v * r : Math.floor(v / r);
    }
    return v;
  };
  const sum = (): number | undefined => {
    let v = product();
    while (v !== undefined && (tokens[at] === '+' || tokens[at] === '-')) {
      const op = tokens[at++];
      const r = product();
      if (r === undefined) return undefined;
      v = op === '+' ? v + r : v - r;
    }
    return v;
  };
  const value = sum();
  return at === tokens.length ? value : undefined;
}

/**
 * Writes out every loop marked `// @unroll` on the line before it (for adapters whose compiler does
 * not unroll, `Gpu.unrollInSource`; elsewhere the mark is a comment). The loop must have the form
 * `for (var i = 0u; i < BOUND; i++) { … }` with BOUND an integer expression of literals and the
 * shader's integer consts (`TM * TN4`); each copy of the body gets its own braces, with `i` replaced by the literal. Some
 * drivers (SwiftShader) do not unroll, so a small register array indexed in a loop stays a
 * dynamically indexed array in memory (docs/performance.md measured 2.5× on the matmul).
 */
export function unrollLoops(code: string, name = 'shader'): string {
  const consts = new Map<string, number>();
  for (const m of code.matchAll(/\bconst (\w+) = ([^;]+);/g)) {
    const value = evalConstExpr(m[2], consts);
    if (value !== undefined) consts.set(m[1], value);
  }
  for (let m = UNROLL_MARK.exec(code); m; m = UNROLL_MARK.exec(code)) {
    const [whole, indent, index, boundText] = m;
    const bound = evalConstExpr(boundText, consts);
    if (bound === undefined) throw new GpuError(`kernel "${name}": @unroll loop bound ${boundText} is not an integer expression of literals and consts`, name);
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

/** What compile helpers need of pipelines (warm.ts): each one's key, its WGSL as compiled on `gpu`, entry point and probe. */
export function warmWants(gpu: Pick<PipelineHost, 'unrollInSource'>, wants: PipelineWant[]): WarmWant[] {
  return wants.map((w) => ({ label: pipelineKey(w.kernel, w.constants, w.entryPoint), code: shaderCode(gpu, w.kernel, w.constants), entryPoint: w.entryPoint, probe: w.probe }));
}

/** Compiled pipelines keyed by kernel name, entry point and compile-time constants. */
export class PipelineCache {
  private pipelines = new Map<string, GPUComputePipeline>();
  compiled = 0;
  /** The warming (warm.ts) of the last prepare where pipelines compile at first dispatch: what was dispatched, and errors. */
  warming: Promise<WarmResult> | null = null;

  constructor(private readonly gpu: PipelineHost) {}

  get size(): number {
    return this.pipelines.size;
  }

  get(kernel: Kernel, constants: KernelConstants = {}, entryPoint = kernel.entryPoint ?? 'main'): GPUComputePipeline {
    const key = pipelineKey(kernel, constants, entryPoint);
    let pipeline = this.pipelines.get(key);
    if (!pipeline) {
      const code = shaderCode(this.gpu, kernel, constants);
      const module = this.gpu.device.createShaderModule({ label: key, code });
      pipeline = this.gpu.device.createComputePipeline({ label: key, layout: 'auto', compute: { module, entryPoint } });
      this.pipelines.set(key, pipeline);
      this.compiled++;
    }
    return pipeline;
  }

  /**
   * Compiles the pipelines not yet in the cache ahead of use, all at once through the device's
   * asynchronous pipeline creation (the driver may compile them in parallel, and the caller's event
   * loop keeps running), reporting each one compiled. Where pipelines compile at their first
   * dispatch instead (lavapipe), creation compiles nothing: there each is dispatched once, on scratch
   * buffers (warm.ts) — by the device itself from the first of `wants` (the order of their first
   * use: a collecting recorder's) and by the compile helpers from the last back — and the progress
   * counts those dispatches. `queueBusyUntil` (the weights still streaming in) keeps the device's own
   * dispatches back until it settles, so that compiling on its queue thread never holds the load up.
   */
  async prepare(wants: PipelineWant[], onProgress?: (done: number, total: number) => void, queueBusyUntil?: Promise<unknown>): Promise<void> {
    const missing = wants.filter((w) => !this.pipelines.has(pipelineKey(w.kernel, w.constants, w.entryPoint)));
    const atDispatch = Boolean(this.gpu.compilesAtFirstDispatch);
    let done = 0;
    onProgress?.(0, missing.length);
    const warm = warmWants(this.gpu, missing);
    await Promise.all(warm.map(async ({ label: key, code, entryPoint }) => {
      const module = this.gpu.device.createShaderModule({ label: key, code });
      const pipeline = await this.gpu.device.createComputePipelineAsync({ label: key, layout: 'auto', compute: { module, entryPoint } });
      if (!this.pipelines.has(key)) {
        this.pipelines.set(key, pipeline);
        this.compiled++;
      }
      if (!atDispatch) onProgress?.(++done, missing.length);
    }));
    if (!atDispatch || warm.length === 0) return;
    const helpers = this.gpu.compileHelpers;
    this.warming = warmPipelines(warm, {
      own: { device: this.gpu.device, pipeline: (i) => this.pipelines.get(warm[i].label)!, after: queueBusyUntil },
      helpers: helpers && helpers.count > 0 ? helpers : null,
      onDispatched: onProgress,
    });
    await this.warming;
  }

  /** Compiles inside error scopes and throws the shader compiler's messages with the key. */
  async getChecked(kernel: Kernel, constants: KernelConstants = {}, entryPoint = kernel.entryPoint ?? 'main'): Promise<GPUComputePipeline> {
    const key = pipelineKey(kernel, constants, entryPoint);
    if (this.pipelines.has(key)) return this.pipelines.get(key)!;
    const code = shaderCode(this.gpu, kernel, constants);
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
