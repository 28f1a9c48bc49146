import type { Gpu } from './device';

export interface Timing {
  label: string;
  /** Milliseconds of GPU time between the pass's begin and end timestamps. */
  ms: number;
}

/**
 * Times compute passes with timestamp queries when the device has them. Without them, `timed`
 * measures wall clock around submit + onSubmittedWorkDone, which includes queue latency, so
 * benchmarks run many dispatches per measurement. `source` says which one produced the numbers.
 */
export class GpuTimer {
  readonly source: 'timestamp-query' | 'wall-clock';
  private querySet: GPUQuerySet | null = null;
  private resolveBuffer: GPUBuffer | null = null;
  private labels: string[] = [];
  private pendingRead: GPUBuffer | null = null;

  constructor(
    private readonly gpu: Gpu,
    readonly capacity = 512,
  ) {
    this.source = gpu.features.timestamps ? 'timestamp-query' : 'wall-clock';
    if (gpu.features.timestamps) {
      this.querySet = gpu.device.createQuerySet({ label: 'gpu timer', type: 'timestamp', count: capacity * 2 });
      this.resolveBuffer = gpu.device.createBuffer({
        label: 'gpu timer resolve',
        size: capacity * 16,
        usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
      });
    }
  }

  get enabled(): boolean {
    return this.querySet !== null;
  }

  /** Timestamp writes for one pass, or undefined without timestamp-query or when full. */
  passWrites(label: string): GPUComputePassTimestampWrites | undefined {
    if (!this.querySet || this.labels.length >= this.capacity) return undefined;
    const index = this.labels.length;
    this.labels.push(label);
    return { querySet: this.querySet, beginningOfPassWriteIndex: index * 2, endOfPassWriteIndex: index * 2 + 1 };
  }

  /** Called by the recorder before finishing its encoder. */
  resolve(encoder: GPUCommandEncoder): void {
    if (!this.querySet || !this.resolveBuffer || this.labels.length === 0) return;
    const count = this.labels.length * 2;
    encoder.resolveQuerySet(this.querySet, 0, count, this.resolveBuffer, 0);
    const read = this.gpu.device.createBuffer({
      label: 'gpu timer readback',
      size: count * 8,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    encoder.copyBufferToBuffer(this.resolveBuffer, 0, read, 0, count * 8);
    this.pendingRead = read;
  }

  /** Reads the timings of the passes recorded since the last call, and resets. */
  async take(): Promise<Timing[]> {
    const labels = this.labels;
    this.labels = [];
    const read = this.pendingRead;
    this.pendingRead = null;
    if (!read) return [];
    await read.mapAsync(GPUMapMode.READ);
    const stamps = new BigInt64Array(read.getMappedRange().slice(0));
    read.unmap();
    read.destroy();
    return labels.map((label, i) => ({ label, ms: Number(stamps[i * 2 + 1] - stamps[i * 2]) / 1e6 }));
  }

  /**
   * Runs `record` (which submits work) `repeats` times and returns the median time per run in ms:
   * the sum of its passes' timestamps when available, wall clock otherwise.
   */
  async median(repeats: number, record: (timer: GpuTimer | undefined) => Promise<void>): Promise<number> {
    const times: number[] = [];
    for (let i = 0; i < repeats; i++) {
      if (this.enabled) {
        await record(this);
        const timings = await this.take();
        times.push(timings.reduce((sum, t) => sum + t.ms, 0));
      } else {
        const start = performance.now();
        await record(undefined);
        await this.gpu.device.queue.onSubmittedWorkDone();
        times.push(performance.now() - start);
      }
    }
    times.sort((a, b) => a - b);
    return times[Math.floor(times.length / 2)];
  }

  destroy(): void {
    this.querySet?.destroy();
    this.resolveBuffer?.destroy();
  }
}
