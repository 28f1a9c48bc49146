/**
 * The recommended layout of trainable state: every LoRA A and B tensor packed into one flat f32
 * buffer (and likewise one flat gradient, m and v buffer at the same offsets), so that the
 * gradient norm and AdamW take one or two dispatches however many tensors there are. Each
 * tensor starts at a multiple of `alignElements` (64 f32 = 256 bytes, WebGPU's usual
 * minStorageBufferOffsetAlignment) so kernels can bind it on its own with a buffer offset.
 * The padding between tensors holds zeros; zero params with zero grads stay zero under AdamW.
 */
export interface FlatTensor {
  name: string;
  shape: number[];
}

export interface FlatEntry extends FlatTensor {
  /** First element in the flat buffers. */
  offset: number;
  numel: number;
}

export interface FlatLayout {
  entries: FlatEntry[];
  byName: Map<string, FlatEntry>;
  /** Elements of each flat buffer, padding included. */
  total: number;
}

export class FlatLayoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FlatLayoutError';
  }
}

export function planFlatLayout(tensors: FlatTensor[], alignElements = 64): FlatLayout {
  const entries: FlatEntry[] = [];
  const byName = new Map<string, FlatEntry>();
  let offset = 0;
  for (const t of tensors) {
    if (byName.has(t.name)) throw new FlatLayoutError(`tensor "${t.name}" appears twice in the flat parameter layout`);
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (!Number.isInteger(numel) || numel < 0) throw new FlatLayoutError(`tensor "${t.name}" has a bad shape [${t.shape.join(', ')}]`);
    const entry = { ...t, offset, numel };
    entries.push(entry);
    byName.set(t.name, entry);
    offset = Math.ceil((offset + numel) / alignElements) * alignElements;
  }
  return { entries, byName, total: offset };
}
