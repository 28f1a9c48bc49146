import type { Gpu } from './device';
import { GpuError } from './errors';
import type { Recorder } from './recorder';
import { COPY_DST, MAP_READ } from './buffers';

/**
 * A small ring of mappable buffers for reading a few bytes back per submission without stalling:
 * the copy is recorded into the submission itself, the map starts right after the submit, and the
 * CPU goes on recording the next submission while the GPU works. A slot is free again once its
 * bytes have been read.
 */
export class ReadbackRing {
  private free: GPUBuffer[] = [];
  private all: GPUBuffer[] = [];

  constructor(
    readonly gpu: Gpu,
    readonly bytes: number,
    readonly slots: number,
    readonly label = 'readback ring',
  ) {
    for (let i = 0; i < slots; i++) {
      const b = gpu.device.createBuffer({ label: `${label} #${i}`, size: Math.max(4, Math.ceil(bytes / 4) * 4), usage: MAP_READ | COPY_DST });
      this.all.push(b);
      this.free.push(b);
    }
  }

  get available(): number {
    return this.free.length;
  }

  /**
   * Records a copy of `bytes` of `source` into a free slot; call `read` with the returned slot after
   * the recorder is submitted. Throws when every slot is still waiting to be read.
   */
  capture(rec: Recorder, source: GPUBuffer, sourceOffset = 0): GPUBuffer {
    const slot = this.free.shift();
    if (!slot) throw new GpuError(`${this.label}: all ${this.slots} slots are in flight; read one back first`, this.label);
    rec.copy(source, sourceOffset, slot, 0, this.bytes);
    return slot;
  }

  /** Maps the slot once the GPU has written it, copies its bytes out and frees the slot. */
  async read(slot: GPUBuffer): Promise<ArrayBuffer> {
    try {
      await slot.mapAsync(MAP_READ);
    } catch (error) {
      this.gpu.assertAlive();
      throw new GpuError(`${this.label}: mapping "${slot.label}" failed: ${(error as Error).message}`, this.label);
    }
    const copy = slot.getMappedRange(0, this.bytes).slice(0);
    slot.unmap();
    this.free.push(slot);
    return copy;
  }

  destroy(): void {
    for (const b of this.all) b.destroy();
  }
}
