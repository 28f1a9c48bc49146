// The CLI's standard streams for a test: main(argv, io) writes into them, `text` collects what it wrote.
import { PassThrough } from 'node:stream';
import type { CliIo } from '../../src/cli/args';

export function cliIo(): { io: CliIo; text: { out: string; err: string } } {
  const out = new PassThrough();
  const err = new PassThrough();
  const text = { out: '', err: '' };
  out.on('data', (d) => (text.out += d));
  err.on('data', (d) => (text.err += d));
  return { io: { out: out as unknown as NodeJS.WriteStream, err: err as unknown as NodeJS.WriteStream }, text };
}
