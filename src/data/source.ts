/**
 * Where dataset bytes come from. Readers only see this interface, so the same code reads a dropped File in a
 * worker and a path in Node (nodeSource.ts, kept apart so browser bundles never import node:fs).
 */
export interface DataSource {
  /** File name (with extension) as the user sees it; errors and format detection use it. */
  name: string;
  /** Size in bytes. */
  size: number;
  /** The whole file as a stream of chunks; called again for a second pass. */
  stream(): ReadableStream<Uint8Array>;
  /** Random access to bytes [start, end), for formats that need it (Parquet). */
  slice?(start: number, end: number): Promise<Uint8Array>;
}

/** A File or Blob (a File's own name wins over `name`). */
export function fromBlob(blob: Blob, name?: string): DataSource {
  const fileName = name ?? (blob as Partial<File>).name ?? 'dataset';
  return {
    name: fileName,
    size: blob.size,
    stream: () => blob.stream() as ReadableStream<Uint8Array>,
    slice: async (start, end) => new Uint8Array(await blob.slice(start, end).arrayBuffer()),
  };
}

/** Bytes already in memory (tests, small pasted datasets). Streams in chunks of `chunkSize`. */
export function fromBytes(name: string, bytes: Uint8Array, chunkSize = 64 * 1024): DataSource {
  return {
    name,
    size: bytes.length,
    stream: () => {
      let pos = 0;
      return new ReadableStream<Uint8Array>({
        pull(controller) {
          if (pos >= bytes.length) return controller.close();
          const end = Math.min(bytes.length, pos + chunkSize);
          controller.enqueue(bytes.slice(pos, end));
          pos = end;
        },
      });
    },
    slice: async (start, end) => bytes.slice(start, end),
  };
}

/** A string as a UTF-8 source. */
export function fromText(name: string, text: string, chunkSize?: number): DataSource {
  return fromBytes(name, new TextEncoder().encode(text), chunkSize);
}

/**
 * A source whose bytes come from a generator, never all in memory (tests of multi-gigabyte lines, benchmarks).
 * `size` is what the caller claims; readers use it only for progress.
 */
export function fromGenerator(name: string, size: number, make: () => AsyncIterable<Uint8Array> | Iterable<Uint8Array>): DataSource {
  return {
    name,
    size,
    stream: () => {
      let it: AsyncIterator<Uint8Array> | Iterator<Uint8Array> | undefined;
      return new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (!it) {
            const src = make();
            it = Symbol.asyncIterator in src ? (src as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]() : (src as Iterable<Uint8Array>)[Symbol.iterator]();
          }
          const r = await it.next();
          if (r.done) controller.close();
          else controller.enqueue(r.value);
        },
        async cancel() {
          await it?.return?.();
        },
      });
    },
  };
}
