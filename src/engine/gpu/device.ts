import { PipelineCache } from './pipelines';
import type { CompileHelpers } from './warm';
import { GpuDeviceLostError, GpuOutOfMemoryError, GpuUnavailableError, GpuValidationError } from './errors';

/** Limits the engine plans around; each is requested at the adapter's real maximum. */
export const LIMIT_NAMES = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxUniformBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
  'maxBindGroups',
  'maxBindingsPerBindGroup',
  'minStorageBufferOffsetAlignment',
  'minUniformBufferOffsetAlignment',
] as const;
export type LimitName = (typeof LIMIT_NAMES)[number];
export type GpuLimits = Record<LimitName, number>;

/** Optional features the engine uses when the adapter has them. */
export const OPTIONAL_FEATURES = ['shader-f16', 'subgroups', 'timestamp-query'] as const;
export type OptionalFeature = (typeof OPTIONAL_FEATURES)[number];

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
  /** One line for logs and the UI, e.g. "google swiftshader (SwiftShader driver 5.0.0)". */
  name: string;
}

export interface GpuFeatures {
  f16: boolean;
  subgroups: boolean;
  timestamps: boolean;
}

export type DeviceLostListener = (error: GpuDeviceLostError) => void;

/**
 * A WebGPU device with what the engine needs around it: the granted limits and features,
 * error scopes that throw typed errors naming a label, and a device-lost event.
 */
export class Gpu {
  readonly features: GpuFeatures;
  readonly limits: GpuLimits;
  /** Compiled pipelines, keyed by kernel name and compile-time constants. */
  readonly pipelines: PipelineCache;
  private lostListeners = new Set<DeviceLostListener>();
  private lostError: GpuDeviceLostError | null = null;
  private uncaptured: string[] = [];

  constructor(
    readonly device: GPUDevice,
    readonly adapter: AdapterDescription,
    /** Extra devices that compile a step's pipelines beside it where pipelines compile at first dispatch (warm.ts). */
    readonly compileHelpers: CompileHelpers | null = null,
  ) {
    this.features = {
      f16: device.features.has('shader-f16'),
      subgroups: device.features.has('subgroups'),
      timestamps: device.features.has('timestamp-query'),
    };
    const limits = {} as GpuLimits;
    for (const name of LIMIT_NAMES) limits[name] = Number((device.limits as unknown as Record<string, number>)[name]);
    this.limits = limits;
    this.pipelines = new PipelineCache(this);
    device.lost.then((info) => {
      this.lostError = new GpuDeviceLostError(String(info.reason), info.message || 'no message');
      for (const listener of this.lostListeners) listener(this.lostError);
    });
    device.addEventListener?.('uncapturederror', (event) => {
      const message = (event as GPUUncapturedErrorEvent).error?.message ?? String(event);
      this.uncaptured.push(message);
      if (this.uncaptured.length > 32) this.uncaptured.shift();
    });
  }

  /**
   * Whether register blocks are written out in the WGSL (loops marked `// @unroll`, the matmul's
   * generated block): SwiftShader's compiler does not unroll, so small register arrays indexed in
   * loops live in memory (2.5× on the matmul, 1.4–1.7× on attention there). lavapipe and GPU
   * compilers unroll themselves, and lavapipe took 4–14× longer to compile the written-out source
   * (docs/performance.md).
   */
  get unrollInSource(): boolean {
    const a = this.adapter;
    return /swiftshader/i.test(`${a.vendor} ${a.architecture} ${a.device} ${a.description}`);
  }

  /**
   * Whether the driver compiles a pipeline's code at its first dispatch rather than when it is
   * created: llvmpipe (lavapipe) generates its LLVM code when a pipeline is first bound, serially on
   * the queue, so every distinct pipeline a step uses costs its compile inside that step. The matmul
   * keeps small problems on a kernel that is cheap to compile there (chooseMatmulVec4Tile).
   */
  get compilesAtFirstDispatch(): boolean {
    const a = this.adapter;
    return /llvmpipe/i.test(`${a.vendor} ${a.architecture} ${a.device} ${a.description}`);
  }

  /** Subscribe to device loss; returns the unsubscribe function. Fires at once if already lost. */
  onLost(listener: DeviceLostListener): () => void {
    if (this.lostError) {
      listener(this.lostError);
      return () => {};
    }
    this.lostListeners.add(listener);
    return () => this.lostListeners.delete(listener);
  }

  get isLost(): boolean {
    return this.lostError !== null;
  }

  /** Throws if the device was lost, so callers fail with the reason rather than a validation error. */
  assertAlive(): void {
    if (this.lostError) throw this.lostError;
  }

  /** Errors no scope caught (most recent last); useful in test failure messages. */
  takeUncapturedErrors(): string[] {
    const errors = this.uncaptured;
    this.uncaptured = [];
    return errors;
  }

  /**
   * Runs `work` inside validation and out-of-memory error scopes and throws a typed error naming
   * `label` if either caught something. Use around allocations and first dispatches.
   */
  async checked<T>(label: string, work: () => T): Promise<T> {
    this.assertAlive();
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    let result: T;
    try {
      result = work();
    } finally {
      const validation = await this.device.popErrorScope();
      const oom = await this.device.popErrorScope();
      if (oom) throw new GpuOutOfMemoryError(`out of GPU memory in "${label}": ${oom.message}`, label);
      if (validation) throw new GpuValidationError(`validation error in "${label}": ${validation.message}`, label);
    }
    return result;
  }

  destroy(): void {
    this.lostListeners.clear();
    this.device.destroy();
  }
}

export function describeAdapter(info: GPUAdapterInfo | undefined, isFallback = false): AdapterDescription {
  const vendor = info?.vendor || 'unknown vendor';
  const architecture = info?.architecture || '';
  const device = info?.device || '';
  const description = info?.description || '';
  const fallback = Boolean((info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter ?? isFallback);
  const head = [vendor, architecture].filter(Boolean).join(' ');
  const name = description ? `${head} (${description})` : device ? `${head} (${device})` : head;
  return { vendor, architecture, device, description, isFallbackAdapter: fallback, name };
}

export interface RequestGpuOptions {
  powerPreference?: GPUPowerPreference;
  /** Features to leave out even if the adapter has them (tests use this to force the f32 path). */
  disableFeatures?: OptionalFeature[];
  /** Label for the device, shown in Dawn's messages. */
  label?: string;
  /**
   * Compile helper devices for adapters that compile at first dispatch (warm.ts): how many at once
   * (default 0). createNodeGpu gives one per spare core on lavapipe with Mesa's shader cache on.
   */
  compileHelpers?: number;
}

const NO_WEBGPU_HINT =
  'WebGPU is needed: use a recent Chrome, Edge or Opera on desktop (Chrome 113+), or Safari 26+; ' +
  'in Firefox enable dom.webgpu.enabled. On Linux Chrome may need --enable-unsafe-webgpu and Vulkan drivers.';

/**
 * Gets a device from a `GPU` object (navigator.gpu in a browser or worker, dawn.node's in Node),
 * asking for every limit at the adapter's real maximum and for the optional features it has.
 */
export async function requestGpu(gpu: GPU | undefined, options: RequestGpuOptions = {}): Promise<Gpu> {
  if (!gpu) throw new GpuUnavailableError('This environment has no navigator.gpu', NO_WEBGPU_HINT);
  const adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  if (!adapter) throw new GpuUnavailableError('No WebGPU adapter was found', NO_WEBGPU_HINT);

  const disabled = new Set(options.disableFeatures ?? []);
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f) && !disabled.has(f));
  const requiredLimits: Record<string, number> = {};
  for (const name of LIMIT_NAMES) {
    const value = (adapter.limits as unknown as Record<string, number>)[name];
    if (typeof value === 'number' && Number.isFinite(value)) requiredLimits[name] = value;
  }
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({
      label: options.label ?? 'adapter-studio',
      requiredFeatures: requiredFeatures as GPUFeatureName[],
      requiredLimits,
    });
  } catch (error) {
    throw new GpuUnavailableError(`The adapter refused a device: ${(error as Error).message}`, NO_WEBGPU_HINT);
  }
  const info = (adapter as { info?: GPUAdapterInfo }).info;
  const count = Math.max(0, Math.floor(options.compileHelpers ?? 0));
  const helpers: CompileHelpers | null = count > 0 ? {
    count,
    // A device of its own adapter (an adapter gives one device), with the same features and limits.
    request: async () => {
      const again = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
      if (!again) throw new GpuUnavailableError('No WebGPU adapter for a compile helper', NO_WEBGPU_HINT);
      return again.requestDevice({ label: 'adapter-studio compile helper', requiredFeatures: requiredFeatures as GPUFeatureName[], requiredLimits });
    },
  } : null;
  return new Gpu(device, describeAdapter(info, (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter), helpers);
}
