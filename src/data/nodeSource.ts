/** A file path as a DataSource (Node only: CLI, tests, benchmarks). Browser code must not import this module. */
import { open, stat } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import type { DataSource } from './source';

export async function fromPath(path: string, name = basename(path)): Promise<DataSource> {
  const { size } = await stat(path);
  return {
    name,
    size,
    stream: () => Readable.toWeb(createReadStream(path, { highWaterMark: 256 * 1024 })) as unknown as ReadableStream<Uint8Array>,
    slice: async (start, end) => {
      const fh = await open(path, 'r');
      try {
        const out = new Uint8Array(Math.max(0, end - start));
        let done = 0;
        while (done < out.length) {
          const { bytesRead } = await fh.read(out, done, out.length - done, start + done);
          if (bytesRead === 0) break;
          done += bytesRead;
        }
        return done === out.length ? out : out.subarray(0, done);
      } finally {
        await fh.close();
      }
    },
  };
}
