/**
 * Dataset benchmark (issue 6, item 7): tokenization throughput and peak memory while streaming a generated JSONL
 * file through the whole data pipeline (read → parse → schema check → render through the chat template →
 * tokenize → statistics). Two file sizes show whether memory stays flat as the file grows.
 *
 *   npx tsx bench/data.ts                       # 100 MB and 500 MB, one row in 25 tokenized
 *   npx tsx bench/data.ts --sizes 20,100 --tokenize-every 1   # every row tokenized
 *   node --expose-gc --import tsx bench/data.ts                # also reports the live heap after forced GCs
 *
 * The files are generated into a temporary folder and deleted afterwards; nothing is committed.
 * `npm run bench` calls runDataBench() through bench/main.ts.
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { classifyRow } from '../src/data/detect';
import { DatasetError } from '../src/data/errors';
import { fromPath } from '../src/data/nodeSource';
import { nodeFiles } from '../src/formats/nodeSource';
import { normalizeRow } from '../src/data/normalize';
import { readRows } from '../src/data/readers/index';
import { StatsCollector } from '../src/data/stats';
import { loadTokenizer, renderExample } from '../src/data/tokenize';

export interface DataBenchOptions {
  /** File sizes in MB (10^6 bytes). Default [100, 500]; [20, 100] when `quick`. */
  sizesMB?: number[];
  /** Smaller files for a quick run of the whole benchmark suite. */
  quick?: boolean;
  /** Render and tokenize one row in this many (default 25; 1 = every row, about 25 minutes for 600 MB on a 2-core VM). Rows not tokenized are still read, parsed and checked. */
  tokenizeEvery?: number;
  /** Tokenizer folder. Default public/models/demo. */
  tokenizerDir?: string;
  maxLength?: number;
  log?: (line: string) => void;
}

export interface DataBenchSize {
  sizeMB: number;
  rows: number;
  rowsTokenized: number;
  tokens: number;
  seconds: number;
  mbPerSecond: number;
  /** Tokens per second of rendering + tokenizing time (the tokenizer's own speed in this pipeline). */
  tokensPerSecond: number;
  /** Seconds spent rendering + tokenizing. */
  tokenizeSeconds: number;
  /** Peak resident set size and V8 heap while streaming, MiB. */
  peakRssMiB: number;
  peakHeapMiB: number;
  /** Resident set size before the run, MiB. */
  startRssMiB: number;
  /** Largest heap still in use right after a forced GC (every 20,000 rows), MiB; needs node --expose-gc, else null. */
  liveHeapMiB: number | null;
}

const WORDS =
  'the model learns from every example you give it so choose them with care data quality matters more than quantity small adapters train fast on a laptop gpu in a browser tab without any upload'.split(
    ' ',
  );

/** A deterministic chat row of ~0.5–2 KB with varied words and numbers. */
function chatRow(i: number): string {
  let s = (i * 2654435761) >>> 0;
  const words = (n: number): string => {
    const out: string[] = [];
    for (let k = 0; k < n; k++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      out.push(s % 11 === 0 ? String(s % 997) : WORDS[s % WORDS.length]);
    }
    return out.join(' ');
  };
  s = (Math.imul(s, 1103515245) + 12345) >>> 0;
  const turns = 1 + (s % 3);
  const messages: { role: string; content: string }[] = [{ role: 'system', content: 'You are a helpful assistant.' }];
  for (let t = 0; t < turns; t++) {
    messages.push({ role: 'user', content: `${words(8 + (s % 30))}?` });
    messages.push({ role: 'assistant', content: `${words(20 + (s % 90))}.` });
  }
  return JSON.stringify({ id: i, messages });
}

async function writeJsonl(path: string, bytes: number): Promise<number> {
  const out = createWriteStream(path, { highWaterMark: 1 << 20 });
  let written = 0;
  let rows = 0;
  let buf: string[] = [];
  let bufLen = 0;
  while (written < bytes) {
    const line = chatRow(rows++) + '\n';
    buf.push(line);
    bufLen += line.length;
    written += line.length;
    if (bufLen > 1 << 20) {
      if (!out.write(buf.join(''))) await once(out, 'drain');
      buf = [];
      bufLen = 0;
    }
  }
  out.end(buf.join(''));
  await once(out, 'finish');
  return rows;
}

const MiB = 2 ** 20;

export async function runDataBench(opts: DataBenchOptions = {}): Promise<{ name: string; sizes: DataBenchSize[]; memoryFlat: boolean; note: string }> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const sizes = opts.sizesMB ?? (opts.quick ? [20, 100] : [100, 500]);
  const every = Math.max(1, Math.floor(opts.tokenizeEvery ?? 25));
  const maxLength = opts.maxLength ?? 2048;
  const tokDir = opts.tokenizerDir ?? fileURLToPath(new URL('../public/models/demo', import.meta.url));
  const tok = await loadTokenizer(nodeFiles(tokDir));
  const dir = await mkdtemp(join(tmpdir(), 'data-bench-'));
  const results: DataBenchSize[] = [];
  try {
    for (const mb of sizes) {
      const path = join(dir, `chat-${mb}MB.jsonl`);
      log(`data bench: generating ${mb} MB of chat JSONL…`);
      await writeJsonl(path, mb * 1e6);
      const source = await fromPath(path);
      const mapping = { kind: 'chat', messages: 'messages', role: 'role', content: 'content' } as const;
      const stats = new StatsCollector(maxLength);
      let peakRss = 0;
      let peakHeap = 0;
      const sample = () => {
        const m = process.memoryUsage();
        peakRss = Math.max(peakRss, m.rss);
        peakHeap = Math.max(peakHeap, m.heapUsed);
      };
      const startRss = process.memoryUsage().rss;
      const timer = setInterval(sample, 25);
      const t0 = performance.now();
      let rows = 0;
      let tokenized = 0;
      let tokTime = 0;
      const gc = (globalThis as { gc?: () => void }).gc;
      let liveHeap = 0;
      for await (const r of readRows(source)) {
        rows++;
        if (!r.ok) throw r.error;
        const where = { file: source.name, line: r.line, row: r.row };
        if (rows === 1 && classifyRow(r.value)?.kind !== 'chat') throw new Error('generator and mapping disagree');
        const norm = normalizeRow(r.value, mapping, where);
        if (rows % every !== 0) continue;
        try {
          const a = performance.now();
          const out = renderExample(tok, norm, { maxLength }, where);
          tokTime += performance.now() - a;
          let targets = 0;
          for (let t = 1; t < out.example.lossMask.length; t++) targets += out.example.lossMask[t];
          stats.example(out.fullLength, out.example.ids.length, targets, out.truncated);
          tokenized++;
        } catch (e) {
          if (e instanceof DatasetError) stats.reject(e);
          else throw e;
        }
        if (tokenized % 2000 === 0) sample();
        if (gc && rows % 20_000 === 0) {
          gc();
          liveHeap = Math.max(liveHeap, process.memoryUsage().heapUsed);
        }
      }
      const seconds = (performance.now() - t0) / 1000;
      clearInterval(timer);
      sample();
      if (gc) {
        gc();
        liveHeap = Math.max(liveHeap, process.memoryUsage().heapUsed);
      }
      const s = stats.result();
      const res: DataBenchSize = {
        sizeMB: mb,
        rows,
        rowsTokenized: tokenized,
        tokens: s.tokens,
        seconds: +seconds.toFixed(2),
        mbPerSecond: +(mb / seconds).toFixed(1),
        tokensPerSecond: tokTime > 0 ? Math.round(s.tokens / (tokTime / 1000)) : 0,
        tokenizeSeconds: +(tokTime / 1000).toFixed(2),
        peakRssMiB: Math.round(peakRss / MiB),
        peakHeapMiB: Math.round(peakHeap / MiB),
        startRssMiB: Math.round(startRss / MiB),
        liveHeapMiB: gc ? Math.round(liveHeap / MiB) : null,
      };
      results.push(res);
      log(
        `data bench: ${mb} MB, ${rows} rows (${tokenized} tokenized), ${s.tokens} tokens in ${res.seconds} s: ` +
          `${res.mbPerSecond} MB/s, ${res.tokensPerSecond} tokens/s (over ${res.tokenizeSeconds} s of rendering + tokenizing), peak RSS ${res.peakRssMiB} MiB, peak heap ${res.peakHeapMiB} MiB` +
          (res.liveHeapMiB !== null ? `, live heap after GC ≤ ${res.liveHeapMiB} MiB` : ''),
      );
      await rm(path);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const first = results[0];
  const last = results[results.length - 1];
  // Flat: the largest file's peak RSS is within 25% (or 64 MiB) of the smallest file's.
  const memoryFlat = last.peakRssMiB <= Math.max(first.peakRssMiB * 1.25, first.peakRssMiB + 64);
  const note =
    every === 1
      ? 'every row read, parsed, rendered through the chat template and tokenized'
      : `every row read, parsed and schema-checked; one row in ${every} rendered and tokenized (tokens/s counts tokenized rows only)`;
  log(`data bench: memory ${memoryFlat ? 'stays flat' : 'GROWS'} from ${first.sizeMB} MB (${first.peakRssMiB} MiB) to ${last.sizeMB} MB (${last.peakRssMiB} MiB); ${note}`);
  return { name: 'data', sizes: results, memoryFlat, note };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const arg = (name: string): string | undefined => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const sizes = arg('sizes')?.split(',').map(Number);
  const every = arg('tokenize-every');
  const result = await runDataBench({ sizesMB: sizes, tokenizeEvery: every ? Number(every) : undefined });
  console.log(JSON.stringify(result, null, 2));
}
