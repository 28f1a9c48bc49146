import type { Gpu } from '../../gpu/device';
import type { Binding } from '../../gpu/recorder';
import { GpuError } from '../../gpu/errors';

export interface Chunk {
  /** First element of the chunk in the whole buffer. */
  start: number;
  length: number;
}

/**
 * Splits `count` f32 elements into chunks that each fit one storage binding and start at an
 * offset the device accepts for a binding (minStorageBufferOffsetAlignment), so a flat buffer
 * larger than maxStorageBufferBindingSize is processed in a few dispatches.
 */
export function bindingChunks(gpu: Gpu, count: number, maxBindingBytes = Infinity): Chunk[] {
  const alignElements = Math.max(1, gpu.limits.minStorageBufferOffsetAlignment / 4);
  const maxBytes = Math.min(maxBindingBytes, gpu.limits.maxStorageBufferBindingSize);
  const perChunk = Math.floor(maxBytes / 4 / alignElements) * alignElements;
  if (perChunk < 1) throw new GpuError(`binding limit ${maxBytes} bytes is below one aligned chunk of ${alignElements} elements`);
  const chunks: Chunk[] = [];
  for (let start = 0; start < count; start += perChunk) chunks.push({ start, length: Math.min(perChunk, count - start) });
  return chunks;
}

/** The binding of one chunk of a flat f32 buffer (the whole buffer when a single chunk covers it). */
export function chunkBinding(buffer: GPUBuffer, chunk: Chunk, single: boolean): Binding {
  if (single && chunk.start === 0) return buffer;
  return { buffer, offset: chunk.start * 4, size: chunk.length * 4 };
}
