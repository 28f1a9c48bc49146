// Atomic saves: a writer killed at any byte of a save never leaves a partial file under the real
// name, and the previous file survives whole. The writer runs in a child process that the test
// hook kills mid-write (ADAPTER_STUDIO_TEST_CRASH), as a crash or a kill -9 would.
import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileError, isInside, lockFolder, removeStaleTemporaries, writeFileAtomic } from '../../../src/cli/files';

const writer = (path: string, size: number, fill: number) =>
  `import { writeFileAtomic } from ${JSON.stringify(join(process.cwd(), 'src/cli/files.ts'))};` +
  `writeFileAtomic(${JSON.stringify(path)}, new Uint8Array(${size}).fill(${fill})).catch((e) => { console.error(e); process.exit(3); });`;

describe('atomic, verified saves', () => {
  it('a save killed after N bytes, for many N, leaves the previous file whole and no partial file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'atomic-'));
    const path = join(dir, 'checkpoint.ascp');
    const old = new Uint8Array(5000).fill(1);
    writeFileSync(path, old);
    const size = 20_000;
    const cuts = [0, 1, 7, 4096, 9999, size - 1];
    for (const cut of cuts) {
      const r = spawnSync('npx', ['tsx', '-e', writer(path, size, 2)], {
        env: { ...process.env, ADAPTER_STUDIO_TEST_CRASH: `checkpoint.ascp:1:${cut}` },
        encoding: 'utf8',
      });
      // Killed (npx reports its child's SIGKILL as status 137).
      expect(r.signal === 'SIGKILL' || r.status === 137, `cut at ${cut}: status ${r.status} ${r.stderr}`).toBe(true);
      const now = readFileSync(path);
      expect(now.length, `cut at ${cut}`).toBe(old.length);
      expect(now.every((b) => b === 1), `cut at ${cut}`).toBe(true);
    }
    // The killed writers left their temporaries; the next run removes them.
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-')).length).toBe(cuts.length);
    return removeStaleTemporaries(dir).then(() => {
      expect(readdirSync(dir)).toEqual(['checkpoint.ascp']);
      // Without the hook the save goes through.
      execFileSync('npx', ['tsx', '-e', writer(path, size, 2)]);
      expect(readFileSync(path).length).toBe(size);
    });
  }, 120_000);

  it('verifies what it wrote before replacing the old file, and names the path on failure', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'atomic-'));
    const path = join(dir, 'a.bin');
    await writeFileAtomic(path, new Uint8Array([1, 2, 3]));
    await expect(writeFileAtomic(path, new Uint8Array([4, 5, 6]), () => {
      throw new Error('bad copy');
    })).rejects.toThrow(/bad copy/);
    expect([...readFileSync(path)]).toEqual([1, 2, 3]);
    expect(readdirSync(dir)).toEqual(['a.bin']);
    const e = await writeFileAtomic(join(dir, 'no', 'such', 'dir', 'x'), 'x').catch((err) => err);
    expect(e).toBeInstanceOf(FileError);
    expect(e.message).toMatch(/no\/such\/dir\/x: writing failed: no such file or folder/);
  });

  it('locks a run folder against a second run; a dead process’s lock is taken over', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lock-'));
    const release = lockFolder(dir);
    // The same process locking again is a second run in this folder.
    writeFileSync(join(dir, '.adapter-studio.lock'), JSON.stringify({ pid: process.ppid }));
    expect(() => lockFolder(dir)).toThrow(/another run \(process \d+\) is writing to this folder/);
    writeFileSync(join(dir, '.adapter-studio.lock'), JSON.stringify({ pid: 2 ** 22 + 12345 }));
    const again = lockFolder(dir);
    again();
    release();
    expect(existsSync(join(dir, '.adapter-studio.lock'))).toBe(false);
    expect(isInside('/a/b/c', '/a/b')).toBe(true);
    expect(isInside('/a/bc', '/a/b')).toBe(false);
  });
});
