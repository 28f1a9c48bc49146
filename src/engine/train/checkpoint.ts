/**
 * Training state: everything needed to continue a run to the same result (adapter weights, Adam
 * moments, step, schedule position, data cursor, RNG state, the configuration). Serialized to one
 * byte array (IndexedDB stores it as is; the CLI writes it to a file):
 *
 *   "ASCKPT01" | u32 LE header length H | H bytes of UTF-8 JSON | pad to 4 | params | m | v (f32 LE)
 */
import type { RngState } from './rng';

export const CHECKPOINT_MAGIC = 'ASCKPT01';

export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

export interface TrainState {
  /** Optimizer steps taken (the next step's schedule position). */
  step: number;
  /** Total optimizer steps the schedule was planned for. */
  totalSteps: number;
  epoch: number;
  /** The batcher's serializable cursor (opaque here). */
  dataCursor: unknown;
  /** RNG state of the run (dropout seeds are derived from it and the step). */
  rngState: RngState;
  /** The run's configuration as JSON (training and LoRA settings, model name). */
  config: Record<string, unknown>;
  /** Steps skipped because the loss or gradient norm was not finite. */
  skippedSteps: number;
  params: Float32Array;
  m: Float32Array;
  v: Float32Array;
}

export function serializeCheckpoint(state: TrainState): Uint8Array {
  const n = state.params.length;
  if (state.m.length !== n || state.v.length !== n) {
    throw new CheckpointError(`checkpoint arrays differ in length: params ${n}, m ${state.m.length}, v ${state.v.length}`);
  }
  const header = JSON.stringify({
    step: state.step, totalSteps: state.totalSteps, epoch: state.epoch, dataCursor: state.dataCursor,
    rngState: state.rngState, config: state.config, skippedSteps: state.skippedSteps, size: n,
  });
  const json = new TextEncoder().encode(header);
  const start = Math.ceil((8 + 4 + json.length) / 4) * 4;
  const out = new Uint8Array(start + 3 * n * 4);
  out.set(new TextEncoder().encode(CHECKPOINT_MAGIC), 0);
  new DataView(out.buffer).setUint32(8, json.length, true);
  out.set(json, 12);
  const floats = new Float32Array(out.buffer, start, 3 * n);
  floats.set(state.params, 0);
  floats.set(state.m, n);
  floats.set(state.v, 2 * n);
  return out;
}

export function deserializeCheckpoint(bytes: Uint8Array, name = 'checkpoint'): TrainState {
  if (bytes.length < 12 || new TextDecoder().decode(bytes.subarray(0, 8)) !== CHECKPOINT_MAGIC) {
    throw new CheckpointError(`${name}: not an Adapter Studio checkpoint (missing "${CHECKPOINT_MAGIC}" magic)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(8, true);
  if (12 + headerLength > bytes.length) throw new CheckpointError(`${name}: header of ${headerLength} bytes runs past the end of the file (${bytes.length} bytes)`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(12, 12 + headerLength)));
  } catch (error) {
    throw new CheckpointError(`${name}: header is not valid JSON (${(error as Error).message})`);
  }
  const size = header.size;
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 0) throw new CheckpointError(`${name}: header field "size" is not a non-negative integer`);
  for (const field of ['step', 'totalSteps', 'epoch', 'skippedSteps'] as const) {
    if (typeof header[field] !== 'number' || !Number.isInteger(header[field])) throw new CheckpointError(`${name}: header field "${field}" is not an integer`);
  }
  const rng = header.rngState;
  if (!Array.isArray(rng) || rng.length !== 4 || !rng.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xffffffff)) {
    throw new CheckpointError(`${name}: header field "rngState" is not four u32 words`);
  }
  const start = Math.ceil((12 + headerLength) / 4) * 4;
  if (bytes.length !== start + 3 * size * 4) {
    throw new CheckpointError(`${name}: expected ${start + 3 * size * 4} bytes for ${size} parameters, file has ${bytes.length}`);
  }
  const floats = new Float32Array(bytes.slice(start).buffer);
  return {
    step: header.step as number,
    totalSteps: header.totalSteps as number,
    epoch: header.epoch as number,
    skippedSteps: header.skippedSteps as number,
    dataCursor: header.dataCursor ?? null,
    rngState: rng as RngState,
    config: (header.config ?? {}) as Record<string, unknown>,
    params: floats.slice(0, size),
    m: floats.slice(size, 2 * size),
    v: floats.slice(2 * size, 3 * size),
  };
}
