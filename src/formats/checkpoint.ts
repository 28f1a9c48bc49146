/**
 * Training state: everything needed to continue a run to the same result (adapter weights, Adam
 * moments, step, schedule position, data cursor, counters, the run's settings and identity).
 * Serialized to one verified byte array (IndexedDB stores it as is; the CLI writes it to a file):
 *
 *   "ASCKPT02" | u32 LE header length H | u32 LE CRC-32 of everything after this field |
 *   H bytes of UTF-8 JSON header | zero pad to 4 | params | m | v (f32 LE, `size` each)
 *
 * Reading checks the magic, the checksum, every header field's type and range, the sizes against
 * the header, and that every value is finite (and v ≥ 0), so a damaged or forged file is a typed
 * error and never a run.
 */
import { crc32 } from './crc32';

export const CHECKPOINT_MAGIC = 'ASCKPT02';
const PREFIX = 16;

export class CheckpointError extends Error {
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`CheckpointError: ${file}: ${detail}`);
    this.name = 'CheckpointError';
  }
}

export interface TrainState {
  /** Optimizer steps taken (the next step's schedule position). */
  step: number;
  /** Total optimizer steps the schedule was planned for. */
  totalSteps: number;
  /** The batcher's serializable cursor (opaque here). */
  dataCursor: unknown;
  /** Steps whose update was not applied (non-finite loss, norm or update). */
  skippedSteps: number;
  /** Of those, updates refused because they would have made a parameter non-finite. */
  rolledBackSteps: number;
  /** The run's identity and settings as JSON (which model, data and settings it belongs to). */
  run: Record<string, unknown>;
  params: Float32Array;
  m: Float32Array;
  v: Float32Array;
}

export function serializeCheckpoint(state: TrainState): Uint8Array {
  const n = state.params.length;
  if (state.m.length !== n || state.v.length !== n) {
    throw new CheckpointError('checkpoint', `arrays differ in length: params ${n}, m ${state.m.length}, v ${state.v.length}`);
  }
  const header = JSON.stringify({
    step: state.step, totalSteps: state.totalSteps, dataCursor: state.dataCursor, skippedSteps: state.skippedSteps,
    rolledBackSteps: state.rolledBackSteps, run: state.run, size: n,
  });
  const json = new TextEncoder().encode(header);
  const start = Math.ceil((PREFIX + json.length) / 4) * 4;
  const out = new Uint8Array(start + 3 * n * 4);
  out.set(new TextEncoder().encode(CHECKPOINT_MAGIC), 0);
  const view = new DataView(out.buffer);
  view.setUint32(8, json.length, true);
  out.set(json, PREFIX);
  const floats = new Float32Array(out.buffer, start, 3 * n);
  floats.set(state.params, 0);
  floats.set(state.m, n);
  floats.set(state.v, 2 * n);
  view.setUint32(12, crc32(out.subarray(PREFIX)), true);
  return out;
}

function isCount(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

export function deserializeCheckpoint(bytes: Uint8Array, file = 'checkpoint'): TrainState {
  const fail = (detail: string): never => {
    throw new CheckpointError(file, detail);
  };
  if (bytes.length < PREFIX) fail(`${bytes.length} bytes is too short for a checkpoint (truncated?)`);
  const magic = new TextDecoder().decode(bytes.subarray(0, 8));
  if (magic === 'ASCKPT01') fail('written by an older version of Adapter Studio (format 1, unverified): start the run again');
  if (magic !== CHECKPOINT_MAGIC) fail(`not an Adapter Studio checkpoint (missing "${CHECKPOINT_MAGIC}" magic)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(8, true);
  if (PREFIX + headerLength > bytes.length) fail(`header of ${headerLength} bytes runs past the end of the file (${bytes.length} bytes): the file is truncated`);
  const stored = view.getUint32(12, true);
  const actual = crc32(bytes.subarray(PREFIX));
  if (stored !== actual) fail(`checksum mismatch (stored ${stored.toString(16)}, computed ${actual.toString(16)}): the file is damaged or truncated; resume from an earlier checkpoint or start again`);
  let header: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(PREFIX, PREFIX + headerLength)));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) fail('header is not a JSON object');
    header = parsed as Record<string, unknown>;
  } catch (error) {
    if (error instanceof CheckpointError) throw error;
    fail(`header is not valid JSON (${(error as Error).message})`);
  }
  const { size, step, totalSteps, skippedSteps, rolledBackSteps } = header;
  if (!isCount(size)) fail('header field "size" is not a non-negative integer');
  for (const [name, v] of [['step', step], ['totalSteps', totalSteps], ['skippedSteps', skippedSteps], ['rolledBackSteps', rolledBackSteps]] as const) {
    if (!isCount(v)) fail(`header field "${name}" is ${JSON.stringify(v)}, not a non-negative integer`);
  }
  const s = step as number;
  if ((totalSteps as number) < 1) fail('header field "totalSteps" is 0');
  if (s > (totalSteps as number)) fail(`header says step ${s} of ${totalSteps as number}`);
  if ((skippedSteps as number) > s) fail(`header says ${skippedSteps as number} skipped steps after ${s} steps`);
  if ((rolledBackSteps as number) > (skippedSteps as number)) fail(`header says ${rolledBackSteps as number} rolled-back steps but only ${skippedSteps as number} skipped`);
  const cursor = header.dataCursor;
  if (typeof cursor !== 'object' || cursor === null || !['epoch', 'index', 'seed'].every((k) => isCount((cursor as Record<string, unknown>)[k]))) {
    fail('header field "dataCursor" is not {epoch, index, seed} of non-negative integers');
  }
  const run = header.run;
  if (typeof run !== 'object' || run === null || Array.isArray(run)) fail('header field "run" is not an object');
  const start = Math.ceil((PREFIX + headerLength) / 4) * 4;
  const n = size as number;
  if (bytes.length !== start + 3 * n * 4) fail(`expected ${start + 3 * n * 4} bytes for ${n} parameters, the file has ${bytes.length}`);
  const floats = new Float32Array(bytes.slice(start).buffer);
  for (let i = 0; i < floats.length; i++) {
    const x = floats[i];
    if (!Number.isFinite(x) || (i >= 2 * n && x < 0)) {
      const which = i < n ? 'params' : i < 2 * n ? 'm' : 'v';
      fail(`tensor "${which}" holds ${x} at index ${i % Math.max(1, n)}: a checkpoint never holds that; the file was not written by a healthy run`);
    }
  }
  return {
    step: s,
    totalSteps: totalSteps as number,
    dataCursor: cursor,
    skippedSteps: skippedSteps as number,
    rolledBackSteps: rolledBackSteps as number,
    run: run as Record<string, unknown>,
    params: floats.slice(0, n),
    m: floats.slice(n, 2 * n),
    v: floats.slice(2 * n, 3 * n),
  };
}
