/**
 * Node-only sources: a file read by ranges through a file handle, and a model folder on disk.
 * Kept apart from the rest of src/formats so the browser bundle never imports node:fs.
 */
import { open, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { type ByteSource, checkRange } from './byteSource';
import type { ModelFiles } from './modelFolder';

/** A file on disk; each read opens the file, reads the range and closes it (no handle leaks). */
export async function fromNodeFile(path: string): Promise<ByteSource> {
  const { size } = await stat(path);
  const source: ByteSource = {
    name: basename(path),
    size,
    async read(offset, length) {
      checkRange(source, offset, length);
      const out = new Uint8Array(length);
      const handle = await open(path, 'r');
      try {
        let done = 0;
        while (done < length) {
          const { bytesRead } = await handle.read(out, done, length - done, offset + done);
          if (bytesRead === 0) throw new RangeError(`${path}: file shrank while reading (${done} of ${length} bytes at ${offset})`);
          done += bytesRead;
        }
      } finally {
        await handle.close();
      }
      return out;
    },
  };
  return source;
}

const isMissing = (e: unknown) => (e as NodeJS.ErrnoException).code === 'ENOENT';

/** A model folder on disk. */
export function nodeFiles(dir: string): ModelFiles {
  return {
    name: dir,
    async text(file) {
      try {
        return await readFile(join(dir, file), 'utf8');
      } catch (e) {
        if (isMissing(e)) return null;
        throw e;
      }
    },
    async source(file) {
      try {
        return await fromNodeFile(join(dir, file));
      } catch (e) {
        if (isMissing(e)) return null;
        throw e;
      }
    },
  };
}
