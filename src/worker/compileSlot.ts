// The worker's one background compile at a time (the engine's compileRun: a run's pipelines compiled
// before Start). A compile builds a run's trainer — its workspace and optimizer — for as long as it
// compiles, so two never overlap and a run waits for the one in flight before it allocates its own.
//
// The engine cannot stop a compile once its pipelines are being created, so cancelling one only
// lets its caller go: the compile itself runs on until its workspace is freed, and whatever comes
// next (a compile of other settings, a run) waits for that. Its pipelines stay in the device's
// cache, so the wait is rarely wasted.
import { CancelledError } from './cancel';

export type CompileProgress = (done: number, total: number) => void;

interface Flight<T> {
  key: string;
  /** The work's own result. */
  result: Promise<T>;
  /** Settles (never rejects) once the work has ended and the slot is free again. */
  ended: Promise<void>;
  /** The signal the work was started under: aborted, the work ends early and its joiners start again. */
  signal: AbortSignal | undefined;
  last: [number, number] | null;
  listeners: Set<CompileProgress>;
}

/** Resolves as `promise` does, or rejects with CancelledError as soon as `signal` aborts. */
function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined, what: string): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(new CancelledError(what));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new CancelledError(what));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

export class CompileSlot<T> {
  private current: Flight<T> | null = null;

  /** The key of the compile in flight (null when none is). */
  get inFlight(): string | null {
    return this.current?.key ?? null;
  }

  /**
   * Runs `work` under `key` once the compile in flight has ended — or joins that one when it has
   * the same key. `onProgress` hears the compile it waits for, then its own. `mayStart` runs just
   * before the work would start and throws to refuse it (a run began meanwhile). An aborted
   * `signal` rejects at once with CancelledError; a work this call started gets the same signal.
   */
  async run(key: string, work: (onProgress: CompileProgress, signal: AbortSignal | undefined) => Promise<T>, opts: { onProgress?: CompileProgress; signal?: AbortSignal; mayStart?: () => void } = {}): Promise<T> {
    const { onProgress, signal } = opts;
    for (;;) {
      let flight = this.current;
      if (flight && flight.key !== key) {
        await this.waitFor(flight, onProgress, signal);
        continue;
      }
      if (!flight) {
        if (signal?.aborted) throw new CancelledError('compiling the GPU kernels');
        opts.mayStart?.();
        flight = this.start(key, work, signal);
      }
      try {
        return await this.follow(flight, onProgress, signal);
      } catch (error) {
        // A compile cancelled by the call that started it: one that joined it and still wants it starts it again.
        if (flight.signal?.aborted && flight.signal !== signal && !signal?.aborted) {
          await flight.ended;
          continue;
        }
        throw error;
      }
    }
  }

  /** Waits until no compile is in flight, `onProgress` hearing each one waited for; never rejects except on `signal`. */
  async settle(onProgress?: CompileProgress, signal?: AbortSignal): Promise<void> {
    for (let flight = this.current; flight; flight = this.current) await this.waitFor(flight, onProgress, signal);
  }

  /** Until `flight` has ended and left the slot, whatever its outcome (rejects only on `signal`). */
  private async waitFor(flight: Flight<T>, onProgress: CompileProgress | undefined, signal: AbortSignal | undefined): Promise<void> {
    await this.follow(flight, onProgress, signal).catch((error) => {
      if (signal?.aborted) throw error;
    });
    await unlessAborted(flight.ended, signal, 'compiling the GPU kernels');
  }

  private start(key: string, work: (onProgress: CompileProgress, signal: AbortSignal | undefined) => Promise<T>, signal: AbortSignal | undefined): Flight<T> {
    const flight: Flight<T> = { key, result: null as unknown as Promise<T>, ended: null as unknown as Promise<void>, signal, last: null, listeners: new Set() };
    const report: CompileProgress = (done, total) => {
      flight.last = [done, total];
      for (const listener of flight.listeners) listener(done, total);
    };
    // The work starts synchronously, so nothing else can slip into the slot before it holds it.
    flight.result = (async () => work(report, signal))();
    flight.ended = flight.result.then(
      () => {},
      () => {},
    ).then(() => {
      if (this.current === flight) this.current = null;
    });
    this.current = flight;
    return flight;
  }

  /** The flight's result, its progress forwarded to `onProgress` meanwhile (the latest at once). */
  private async follow(flight: Flight<T>, onProgress: CompileProgress | undefined, signal: AbortSignal | undefined): Promise<T> {
    if (onProgress) {
      flight.listeners.add(onProgress);
      if (flight.last) onProgress(...flight.last);
    }
    try {
      return await unlessAborted(flight.result, signal, 'compiling the GPU kernels');
    } finally {
      if (onProgress) flight.listeners.delete(onProgress);
    }
  }
}
