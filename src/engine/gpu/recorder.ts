import type { Gpu } from './device';
import { GpuError } from './errors';
import { pipelineKey, type Kernel, type KernelConstants } from './pipelines';
import type { GpuTimer } from './timer';
import { Uniforms } from './uniforms';

export type Binding = GPUBuffer | { buffer: GPUBuffer; offset?: number; size?: number };

export interface Dispatch {
  kernel: Kernel;
  constants?: KernelConstants;
  entryPoint?: string;
  /** Bound at @binding(0) of @group(0) as a uniform struct. */
  uniforms?: Uniforms | ArrayBuffer;
  /** Storage buffers bound at @binding(1), @binding(2)… in order. Every one must be used by the shader. */
  bindings: Binding[];
  workgroups: readonly [number, number?, number?];
  /** Names the dispatch in timings and errors; defaults to the kernel name. */
  label?: string;
}

const UNIFORM_CHUNK = 64 * 1024;

/** A dispatch's uniform struct as bytes, or null without one. */
function uniformBytes(d: Dispatch): ArrayBuffer | null {
  if (!d.uniforms) return null;
  return d.uniforms instanceof Uniforms ? d.uniforms.bytes() : d.uniforms;
}

/**
 * Records many dispatches into one command encoder and submits them at once. Dispatches share a
 * compute pass unless a timer is attached, in which case each gets its own timed pass.
 * Uniforms of all dispatches go into a few arena buffers written just before the submit.
 */
/** A pipeline a recording would use: what PipelineCache.prepare compiles ahead of time. */
export interface PipelineWant {
  kernel: Kernel;
  constants: KernelConstants;
  entryPoint: string;
  /** Its first dispatch's uniform bytes and number of storage bindings: what a compile helper binds (warm.ts). */
  probe?: { uniforms: ArrayBuffer | null; bindings: number };
}

export class Recorder {
  private encoder: GPUCommandEncoder;
  /** Set on a collecting recorder: the pipelines its dispatches would use, and nothing is recorded. */
  private wants: Map<string, PipelineWant> | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private arenas: { buffer: GPUBuffer; data: Uint8Array; used: number }[] = [];
  private submitted = false;
  dispatches = 0;

  constructor(
    readonly gpu: Gpu,
    readonly label = 'recorder',
    readonly timer?: GpuTimer,
  ) {
    gpu.assertAlive();
    this.encoder = gpu.device.createCommandEncoder({ label });
  }

  /**
   * A recorder that records nothing: every dispatch only notes the pipeline it would use. Recording a
   * step into it lists the kernels to compile ahead of the step (PipelineCache.prepare).
   */
  static collecting(gpu: Gpu, label = 'pipeline collection'): Recorder {
    const rec = new Recorder(gpu, label);
    rec.wants = new Map();
    return rec;
  }

  /** The pipelines a collecting recorder saw, once each, in the order of their first dispatch. */
  get collected(): PipelineWant[] {
    return [...(this.wants?.values() ?? [])];
  }

  private uniformBinding(bytes: ArrayBuffer): GPUBufferBinding {
    const align = Math.max(256, this.gpu.limits.minUniformBufferOffsetAlignment || 256);
    let arena = this.arenas[this.arenas.length - 1];
    const offset = arena ? Math.ceil(arena.used / align) * align : 0;
    if (!arena || offset + bytes.byteLength > UNIFORM_CHUNK) {
      const buffer = this.gpu.device.createBuffer({
        label: `${this.label} uniforms #${this.arenas.length}`,
        size: UNIFORM_CHUNK,
        usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      });
      arena = { buffer, data: new Uint8Array(UNIFORM_CHUNK), used: 0 };
      this.arenas.push(arena);
      return this.uniformBinding(bytes);
    }
    arena.data.set(new Uint8Array(bytes), offset);
    arena.used = offset + bytes.byteLength;
    return { buffer: arena.buffer, offset, size: bytes.byteLength };
  }

  dispatch(d: Dispatch): void {
    if (this.submitted) throw new GpuError(`recorder "${this.label}" was already submitted`, this.label);
    const label = d.label ?? d.kernel.name;
    const [x, y = 1, z = 1] = d.workgroups;
    const max = this.gpu.limits.maxComputeWorkgroupsPerDimension;
    if (x > max || y > max || z > max) {
      throw new GpuError(`dispatch "${label}": workgroup grid [${x}, ${y}, ${z}] exceeds maxComputeWorkgroupsPerDimension ${max}`, label);
    }
    if (x === 0 || y === 0 || z === 0) return;
    if (this.wants) {
      const entryPoint = d.entryPoint ?? d.kernel.entryPoint ?? 'main';
      const constants = d.constants ?? {};
      const key = pipelineKey(d.kernel, constants, entryPoint);
      if (!this.wants.has(key)) {
        this.wants.set(key, { kernel: d.kernel, constants, entryPoint, probe: { uniforms: uniformBytes(d), bindings: d.bindings.length } });
      }
      return;
    }
    const pipeline = this.gpu.pipelines.get(d.kernel, d.constants ?? {}, d.entryPoint ?? d.kernel.entryPoint ?? 'main');
    const entries: GPUBindGroupEntry[] = [];
    const bytes = uniformBytes(d);
    if (bytes) {
      entries.push({ binding: 0, resource: this.uniformBinding(bytes) });
    }
    d.bindings.forEach((b, i) => {
      entries.push({ binding: i + 1, resource: 'buffer' in b ? b : { buffer: b } });
    });
    const bindGroup = this.gpu.device.createBindGroup({ label, layout: pipeline.getBindGroupLayout(0), entries });
    let pass: GPUComputePassEncoder;
    if (this.timer) {
      this.endPass();
      pass = this.encoder.beginComputePass({ label, timestampWrites: this.timer.passWrites(label) });
    } else {
      this.pass ??= this.encoder.beginComputePass({ label: this.label });
      pass = this.pass;
    }
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    if (this.timer) pass.end();
    this.dispatches++;
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  copy(source: GPUBuffer, sourceOffset: number, destination: GPUBuffer, destinationOffset: number, size: number): void {
    if (this.wants) return;
    this.endPass();
    this.encoder.copyBufferToBuffer(source, sourceOffset, destination, destinationOffset, size);
  }

  clear(buffer: GPUBuffer, offset = 0, size?: number): void {
    if (this.wants) return;
    this.endPass();
    this.encoder.clearBuffer(buffer, offset, size);
  }

  /** Finishes and submits; uniform arenas are written first and freed after. */
  submit(): void {
    if (this.submitted) return;
    this.submitted = true;
    if (this.wants) return;
    this.endPass();
    this.timer?.resolve(this.encoder);
    for (const arena of this.arenas) {
      this.gpu.device.queue.writeBuffer(arena.buffer, 0, arena.data.buffer, 0, Math.ceil(arena.used / 4) * 4);
    }
    this.gpu.device.queue.submit([this.encoder.finish()]);
    for (const arena of this.arenas) arena.buffer.destroy();
    this.arenas = [];
  }

  /** Submits and waits until the GPU has finished the work. */
  async done(): Promise<void> {
    this.submit();
    await this.gpu.device.queue.onSubmittedWorkDone();
    this.gpu.assertAlive();
  }
}
