import type { Gpu } from './device';
import { GpuError } from './errors';

export const STORAGE = 0x80 | 0x04 | 0x08; // STORAGE | COPY_SRC | COPY_DST
const MAP_READ = 0x0001;
const COPY_DST = 0x0008;
const COPY_SRC = 0x0004;

/** Rounds up to WebGPU's 4-byte size granularity (and at least 4 bytes). */
export function alignSize(bytes: number, alignment = 4): number {
  return Math.max(alignment, Math.ceil(bytes / alignment) * alignment);
}

/** A labelled storage buffer. Sizes above the device's limits are refused with the label named. */
export function createBuffer(gpu: Gpu, label: string, byteLength: number, usage: number = STORAGE): GPUBuffer {
  gpu.assertAlive();
  const size = alignSize(byteLength);
  if (size > gpu.limits.maxBufferSize) {
    throw new GpuError(
      `buffer "${label}" needs ${size} bytes but this adapter's maxBufferSize is ${gpu.limits.maxBufferSize}`,
      label,
    );
  }
  return gpu.device.createBuffer({ label, size, usage });
}

/** Same as createBuffer, awaited inside error scopes: out-of-memory becomes GpuOutOfMemoryError naming the label. */
export function createBufferChecked(gpu: Gpu, label: string, byteLength: number, usage: number = STORAGE): Promise<GPUBuffer> {
  return gpu.checked(label, () => createBuffer(gpu, label, byteLength, usage));
}

export type TypedArray = Float32Array | Uint32Array | Int32Array | Uint16Array | Uint8Array | Float64Array;

/** A labelled storage buffer holding `data` (padded with zeros to 4 bytes). */
export function uploadBuffer(gpu: Gpu, label: string, data: TypedArray | ArrayBuffer, usage: number = STORAGE): GPUBuffer {
  const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const buffer = createBuffer(gpu, label, bytes.byteLength, usage | COPY_DST);
  writeBuffer(gpu, buffer, bytes);
  return buffer;
}

/** queue.writeBuffer that accepts any length (pads the tail to 4 bytes). */
export function writeBuffer(gpu: Gpu, buffer: GPUBuffer, data: TypedArray | ArrayBuffer, byteOffset = 0): void {
  const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const whole = bytes.byteLength - (bytes.byteLength % 4);
  if (whole > 0) gpu.device.queue.writeBuffer(buffer, byteOffset, bytes.buffer, bytes.byteOffset, whole);
  if (whole < bytes.byteLength) {
    const tail = new Uint8Array(4);
    tail.set(bytes.subarray(whole));
    gpu.device.queue.writeBuffer(buffer, byteOffset + whole, tail);
  }
}

/** Copies `byteLength` bytes of a buffer back to the CPU. */
export async function readBuffer(gpu: Gpu, source: GPUBuffer, byteOffset = 0, byteLength = source.size - byteOffset): Promise<ArrayBuffer> {
  gpu.assertAlive();
  const size = alignSize(byteLength);
  const staging = gpu.device.createBuffer({ label: `readback of ${source.label}`, size, usage: MAP_READ | COPY_DST });
  const encoder = gpu.device.createCommandEncoder({ label: `readback of ${source.label}` });
  encoder.copyBufferToBuffer(source, byteOffset, staging, 0, Math.min(size, source.size - byteOffset));
  gpu.device.queue.submit([encoder.finish()]);
  try {
    await staging.mapAsync(MAP_READ);
  } catch (error) {
    gpu.assertAlive();
    throw new GpuError(`reading back "${source.label}" failed: ${(error as Error).message}`, source.label);
  }
  const copy = staging.getMappedRange(0, size).slice(0, byteLength);
  staging.unmap();
  staging.destroy();
  return copy;
}

export async function readF32(gpu: Gpu, source: GPUBuffer, count?: number, offsetElements = 0): Promise<Float32Array> {
  const bytes = count === undefined ? source.size - offsetElements * 4 : count * 4;
  return new Float32Array(await readBuffer(gpu, source, offsetElements * 4, bytes));
}

export async function readU32(gpu: Gpu, source: GPUBuffer, count?: number, offsetElements = 0): Promise<Uint32Array> {
  const bytes = count === undefined ? source.size - offsetElements * 4 : count * 4;
  return new Uint32Array(await readBuffer(gpu, source, offsetElements * 4, bytes));
}

export { COPY_DST, COPY_SRC, MAP_READ };
