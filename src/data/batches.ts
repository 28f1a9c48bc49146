/**
 * What the engine consumes: rendered examples, a compact store of them, and a batcher that cuts them into
 * micro-batches of B rows × T tokens, shuffled by seed per epoch, optionally packed, with a cursor to resume.
 *
 * Letters: B rows per micro-batch, T tokens per row, N examples, L one example's length.
 */
import { withRoom } from './growable';
import { epochPermutation } from './random';

/** One rendered example (EOS appended). lossMask[t] = 1 when token t is a training target. */
export interface Example {
  ids: Int32Array;
  lossMask: Uint8Array;
}

/** One micro-batch, B rows of T tokens, row-major [B*T]. */
export interface Batch {
  B: number;
  T: number;
  /** [B*T], pad id where empty. */
  inputIds: Int32Array;
  /** [B*T], next-token targets already shifted: labels[t] = ids[t+1] of the same segment, or -100 (ignore) where masked, padded, or at a segment's last token. */
  labels: Int32Array;
  /** [B*T], restart at 0 at each packed segment. */
  positionIds: Uint32Array;
  /** [B*T], distinct id per packed document within a row (0, 1, …); padding gets its own id (one past the last document). */
  segmentIds: Uint32Array;
  /** Count of labels != -100. */
  targetTokens: number;
}

export const IGNORE_INDEX = -100;

/** Random access to N examples. */
export interface TokenDataset {
  readonly length: number;
  get(i: number): Example;
  lengthOf(i: number): number;
}

/**
 * Examples stored back to back in growable typed arrays: 2 bytes a token when the vocabulary fits in 16 bits
 * (SmolLM2: 49152), else 4; plus one mask byte a token, and the file row and line each example came from (so a
 * report can name them: the longest row, a duplicate).
 */
export class TokenStore implements TokenDataset {
  private ids: Uint16Array | Int32Array;
  private mask: Uint8Array;
  private offsets: Float64Array;
  private srcRows: Uint32Array;
  private srcLines: Uint32Array;
  private n = 0;
  private used = 0;

  constructor(readonly vocabSize = 2 ** 31, capacityTokens = 1 << 16) {
    this.ids = vocabSize <= 0x10000 ? new Uint16Array(capacityTokens) : new Int32Array(capacityTokens);
    this.mask = new Uint8Array(capacityTokens);
    this.offsets = new Float64Array(1024 + 1);
    this.srcRows = new Uint32Array(1024);
    this.srcLines = new Uint32Array(1024);
  }

  get length(): number {
    return this.n;
  }

  /** Tokens held. */
  get tokens(): number {
    return this.used;
  }

  /** Bytes held by the stored arrays (their capacity). */
  get bytes(): number {
    return this.ids.byteLength + this.mask.byteLength + this.offsets.byteLength + this.srcRows.byteLength + this.srcLines.byteLength;
  }

  /** Adds an example; `row` and `line` say where in the file it came from (0 when unknown). */
  push(ex: Example, row = 0, line = 0): void {
    const L = ex.ids.length;
    if (ex.lossMask.length !== L) throw new RangeError(`example has ${L} ids but ${ex.lossMask.length} mask entries`);
    if (this.ids instanceof Uint16Array) {
      for (let t = 0; t < L; t++)
        if (ex.ids[t] < 0 || ex.ids[t] >= this.vocabSize) throw new RangeError(`token id ${ex.ids[t]} is outside the vocabulary of ${this.vocabSize}`);
    }
    this.ids = withRoom(this.ids, this.used + L, this.used);
    this.mask = withRoom(this.mask, this.used + L, this.used);
    this.offsets = withRoom(this.offsets, this.n + 2);
    this.srcRows = withRoom(this.srcRows, this.n + 1);
    this.srcLines = withRoom(this.srcLines, this.n + 1);
    this.srcRows[this.n] = row;
    this.srcLines[this.n] = line;
    this.ids.set(ex.ids, this.used);
    this.mask.set(ex.lossMask, this.used);
    this.used += L;
    this.n++;
    this.offsets[this.n] = this.used;
  }

  get(i: number): Example {
    if (i < 0 || i >= this.n) throw new RangeError(`example ${i} out of range [0, ${this.n})`);
    const a = this.offsets[i];
    const b = this.offsets[i + 1];
    return { ids: Int32Array.from(this.ids.subarray(a, b)), lossMask: this.mask.slice(a, b) };
  }

  lengthOf(i: number): number {
    return this.offsets[i + 1] - this.offsets[i];
  }

  /** The file row (1-based) example i came from; 0 when unknown. */
  rowOf(i: number): number {
    return this.srcRows[i];
  }

  /** The file line example i starts on, when known. */
  lineOf(i: number): number | undefined {
    return this.srcLines[i] || undefined;
  }

  /** The ids of example i without copying them (a view into the store). */
  idsView(i: number): Uint16Array | Int32Array {
    return this.ids.subarray(this.offsets[i], this.offsets[i + 1]);
  }

  /** A new store holding the examples at `indices`, in that order. */
  subset(indices: ArrayLike<number>): TokenStore {
    const out = new TokenStore(this.vocabSize);
    for (let k = 0; k < indices.length; k++) out.push(this.get(indices[k]), this.srcRows[indices[k]], this.srcLines[indices[k]]);
    return out;
  }
}

/** An in-memory list as a TokenDataset (tests, small data). */
export function arrayDataset(examples: Example[]): TokenDataset {
  return { length: examples.length, get: (i) => examples[i], lengthOf: (i) => examples[i].ids.length };
}

/** Where a batcher stands: the next example to consume is number `index` of epoch `epoch`'s order under `seed`. */
export interface BatchCursor {
  epoch: number;
  index: number;
  seed: number;
}

export interface BatcherOptions {
  /** B: rows per micro-batch. */
  batchSize: number;
  /** T: tokens per row. Longer examples are cut to T. */
  seqLen: number;
  /** Token id written where a row is empty. */
  padId: number;
  seed?: number;
  epochs?: number;
  /** Pack several examples into one row (segment ids and restarting positions keep them apart). Default false. */
  packing?: boolean;
  /** Shuffle each epoch (default true); false keeps file order. */
  shuffle?: boolean;
  /** Resume from a saved cursor (its seed wins over `seed`). */
  cursor?: BatchCursor;
}

export class BatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BatchError';
  }
}

/**
 * Cuts a token dataset into micro-batches. A batch never spans two epochs: the last one of an epoch may have
 * empty rows (all labels -100). Order depends only on (seed, epoch), so `cursor` resumes exactly.
 */
export class Batcher {
  readonly B: number;
  readonly T: number;
  readonly epochs: number;
  readonly packing: boolean;
  private readonly shuffle: boolean;
  private readonly padId: number;
  private seed: number;
  private epoch: number;
  private index: number;
  private perm: Uint32Array | undefined;
  private permEpoch = -1;

  constructor(private readonly data: TokenDataset, opts: BatcherOptions) {
    if (!(opts.batchSize >= 1) || !(opts.seqLen >= 2)) throw new BatchError(`batchSize must be ≥ 1 and seqLen ≥ 2 (got ${opts.batchSize}, ${opts.seqLen})`);
    if (data.length === 0) throw new BatchError('the dataset has no examples');
    this.B = opts.batchSize;
    this.T = opts.seqLen;
    this.epochs = opts.epochs ?? 1;
    this.packing = opts.packing ?? false;
    this.shuffle = opts.shuffle ?? true;
    this.padId = opts.padId;
    this.seed = opts.cursor?.seed ?? opts.seed ?? 0;
    this.epoch = opts.cursor?.epoch ?? 0;
    this.index = opts.cursor?.index ?? 0;
    if (this.index > data.length || this.index < 0) throw new BatchError(`cursor index ${this.index} is outside the dataset of ${data.length} examples`);
  }

  /** The position of the next example; save it with a checkpoint. */
  get cursor(): BatchCursor {
    return { epoch: this.epoch, index: this.index, seed: this.seed };
  }

  private order(epoch: number): Uint32Array {
    if (this.permEpoch !== epoch || !this.perm) {
      this.perm = epochPermutation(this.data.length, this.seed, epoch, this.shuffle);
      this.permEpoch = epoch;
    }
    return this.perm;
  }

  /** Micro-batches in one epoch (every epoch has the same count: packing depends only on lengths and order). */
  batchesInEpoch(epoch = this.epoch): number {
    const order = this.order(epoch);
    let batches = 0;
    let i = 0;
    while (i < order.length) {
      i = this.plan(order, i, () => {});
      batches++;
    }
    return batches;
  }

  /**
   * Which examples go in which row, starting at order[i]; calls place(row, example, offset, L) and returns the
   * index after the last example taken.
   */
  private plan(order: Uint32Array, i: number, place: (row: number, ex: number, offset: number, L: number) => void): number {
    const { B, T } = this;
    for (let row = 0; row < B && i < order.length; row++) {
      let used = 0;
      do {
        const L = Math.min(this.data.lengthOf(order[i]), T);
        if (used > 0 && used + L > T) break;
        place(row, order[i], used, L);
        used += L;
        i++;
      } while (this.packing && i < order.length && used < T);
    }
    return i;
  }

  /** The next micro-batch, or null when every epoch is done. */
  next(): Batch | null {
    if (this.index >= this.data.length) {
      this.epoch++;
      this.index = 0;
    }
    if (this.epoch >= this.epochs) return null;
    const { B, T } = this;
    const inputIds = new Int32Array(B * T).fill(this.padId);
    const labels = new Int32Array(B * T).fill(IGNORE_INDEX);
    const positionIds = new Uint32Array(B * T);
    const segmentIds = new Uint32Array(B * T);
    const segsInRow = new Uint32Array(B);
    const usedInRow = new Uint32Array(B);
    let targetTokens = 0;
    const order = this.order(this.epoch);
    this.index = this.plan(order, this.index, (row, exIndex, offset, L) => {
      const ex = this.data.get(exIndex);
      const base = row * T + offset;
      const seg = segsInRow[row]++;
      for (let j = 0; j < L; j++) {
        inputIds[base + j] = ex.ids[j];
        positionIds[base + j] = j;
        segmentIds[base + j] = seg;
        if (j + 1 < L && ex.lossMask[j + 1]) {
          labels[base + j] = ex.ids[j + 1];
          targetTokens++;
        }
      }
      usedInRow[row] = offset + L;
    });
    for (let row = 0; row < B; row++) {
      const pad = segsInRow[row];
      for (let t = usedInRow[row]; t < T; t++) segmentIds[row * T + t] = pad;
    }
    return { B, T, inputIds, labels, positionIds, segmentIds, targetTokens };
  }
}
