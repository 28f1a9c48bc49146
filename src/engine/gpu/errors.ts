/** Typed GPU errors. Every message names the labelled object or operation that failed. */
export class GpuError extends Error {
  constructor(message: string, readonly label?: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** No WebGPU adapter (or device) could be had. `hint` says how to get one. */
export class GpuUnavailableError extends GpuError {
  constructor(message: string, readonly hint: string) {
    super(`${message}. ${hint}`);
  }
}

/** A WebGPU validation error caught by an error scope around a labelled operation. */
export class GpuValidationError extends GpuError {}

/** The device could not allocate memory for a labelled buffer or operation. */
export class GpuOutOfMemoryError extends GpuError {}

/** An operation was attempted on a lost device. */
export class GpuDeviceLostError extends GpuError {
  constructor(readonly reason: string, message: string) {
    super(`GPU device lost (${reason}): ${message}`);
  }
}
