/**
 * Files the CLI writes, written so that nothing is ever lost: each file goes to a temporary name
 * in the same folder, is flushed to disk, read back and verified, and only then renamed over the
 * old one (a rename within a folder is atomic), so a kill or a full disk at any moment leaves the
 * previous file whole. A run folder is locked while a run writes to it.
 */
import { open, readFile, readdir, rename, rm, mkdir, stat } from 'node:fs/promises';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

export class FileError extends Error {
  constructor(
    readonly path: string,
    detail: string,
  ) {
    super(`FileError: ${path}: ${detail}`);
    this.name = 'FileError';
  }
}

/** What a file-system error means for the user, in words (ENOSPC, EACCES, …). */
export function describeFsError(error: unknown, path: string, doing: string): FileError {
  const e = error as NodeJS.ErrnoException;
  const what: Record<string, string> = {
    ENOSPC: 'the disk is full: free some space and run again',
    EDQUOT: 'the disk quota is exhausted: free some space and run again',
    EACCES: 'permission denied: choose a folder you can write to',
    EPERM: 'operation not permitted: choose a folder you can write to',
    EROFS: 'the file system is read-only: choose another folder',
    EISDIR: 'this is a folder, not a file',
    ENOTDIR: 'a part of this path is a file, not a folder',
    ENOENT: 'no such file or folder',
    EMFILE: 'too many open files: close other programs and run again',
  };
  return new FileError(path, `${doing} failed: ${what[e?.code ?? ''] ?? (e?.message ?? String(error))}`);
}

/**
 * Test hook, as a crash would: ADAPTER_STUDIO_TEST_CRASH="<file name>:<n>:<bytes>" makes the n-th
 * atomic write of a file of that name stop after `bytes` bytes and kill the process.
 */
const writes = new Map<string, number>();
function crashAfterBytes(path: string): number | null {
  const v = process.env.ADAPTER_STUDIO_TEST_CRASH;
  if (!v) return null;
  const [name, nth, bytes] = v.split(':');
  if (basename(path) !== name) return null;
  const n = (writes.get(name) ?? 0) + 1;
  writes.set(name, n);
  return n === Number(nth) ? Number(bytes) : null;
}

/**
 * Writes `data` to `path` atomically and durably: temporary file, fsync, read back and `verify`
 * (which throws on a bad copy), rename, fsync of the folder. On any failure the temporary file is
 * removed and the previous `path` is untouched.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string, verify?: (bytes: Uint8Array) => void | Promise<void>): Promise<void> {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
  try {
    const handle = await open(tmp, 'wx');
    try {
      const cut = crashAfterBytes(path);
      if (cut !== null && cut < bytes.length) {
        await handle.write(bytes, 0, Math.max(0, cut));
        await handle.sync();
        process.kill(process.pid, 'SIGKILL');
      }
      let done = 0;
      while (done < bytes.length) done += (await handle.write(bytes, done, bytes.length - done)).bytesWritten;
      await handle.sync();
    } finally {
      await handle.close();
    }
    const back = new Uint8Array(await readFile(tmp));
    if (back.length !== bytes.length) throw new FileError(path, `read back ${back.length} of ${bytes.length} bytes written`);
    if (verify) await verify(back);
    await rename(tmp, path);
    try {
      const d = await open(dir, 'r');
      await d.sync().finally(() => d.close());
    } catch {
      // Some file systems cannot fsync a folder; the rename itself is still atomic.
    }
  } catch (error) {
    await rm(tmp, { force: true }).catch(() => {});
    if (error instanceof FileError) throw error;
    if ((error as Error).name && !(error as NodeJS.ErrnoException).code) throw error;
    throw describeFsError(error, path, 'writing');
  }
}

/** Removes what a killed writer left: temporary files of writeFileAtomic in `dir` (call with the folder locked). */
export async function removeStaleTemporaries(dir: string): Promise<void> {
  for (const f of await readdir(dir).catch(() => [] as string[])) {
    if (/^\..+\.tmp-\d+-[a-z0-9]+$/.test(f)) await rm(join(dir, f), { force: true });
  }
}

/** A folder to write outputs into: created if missing; a file in its place is an error. */
export async function ensureFolder(dir: string, flag = '--out'): Promise<void> {
  try {
    const s = await stat(dir);
    if (!s.isDirectory()) throw new FileError(dir, `${flag} names a file, not a folder`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      if (error instanceof FileError) throw error;
      throw describeFsError(error, dir, 'opening the folder');
    }
    await mkdir(dir, { recursive: true }).catch((e) => {
      throw describeFsError(e, dir, 'creating the folder');
    });
  }
}

const LOCK = '.adapter-studio.lock';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Claims a run folder for this process, so that two runs never interleave their files in it.
 * A lock left by a process that no longer exists is taken over. Returns the release function.
 */
export function lockFolder(dir: string): () => void {
  const path = join(dir, LOCK);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, JSON.stringify({ pid: process.pid, since: new Date().toISOString() }), { flag: 'wx' });
      const release = () => {
        try {
          const held = JSON.parse(readFileSync(path, 'utf8')) as { pid?: number };
          if (held.pid === process.pid) rmSync(path, { force: true });
        } catch {
          // already gone
        }
      };
      process.once('exit', release);
      return release;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw describeFsError(error, path, 'locking the folder');
      let pid = 0;
      try {
        pid = Number((JSON.parse(readFileSync(path, 'utf8')) as { pid?: number }).pid) || 0;
      } catch {
        // unreadable lock: treat as stale
      }
      if (pid && pid !== process.pid && alive(pid)) {
        throw new FileError(resolve(dir), `another run (process ${pid}) is writing to this folder; choose another --out, or wait for it to finish`);
      }
      rmSync(path, { force: true });
    }
  }
  throw new FileError(resolve(dir), 'could not lock the folder');
}

/** Whether `inner` is `outer` or inside it (after resolving both). */
export function isInside(inner: string, outer: string): boolean {
  const a = resolve(inner);
  const b = resolve(outer);
  return a === b || a.startsWith(b.endsWith('/') ? b : `${b}/`);
}

export { existsSync };
