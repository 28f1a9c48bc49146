/**
 * Dataset benchmark (issues 6 and 16): tokens per second through the data pipeline, and peak memory while
 * streaming a generated chat JSONL file of each size through it. Two measurements:
 *
 * 1. compare: the same rows rendered and tokenized by the reference path (renderExampleByPieces: the chat
 *    template rendered 2 × turns + 1 times, pieces encoded separately with tokenizers.js) and by the pipeline's
 *    path (renderExample: one render, one encode with offsets), interleaved row by row so machine load hits both
 *    alike; ids and masks must be identical. Tokens/s over the render + tokenize time of each.
 * 2. pipeline: each file end to end through analyzeDataset (read, parse, detect, normalize, render, tokenize,
 *    statistics), every row tokenized; tokens/s over the wall time, peak RSS and heap. Two sizes show whether
 *    memory stays flat as the file grows.
 *
 *   npx tsx bench/data.ts                          # compare on 5 MB, pipeline on 20 and 100 MB
 *   npx tsx bench/data.ts --sizes 20,200 --compare-mb 10
 *   node --expose-gc --import tsx bench/data.ts    # also reports the live heap after forced GCs
 *
 * The files are generated into a temporary folder and deleted afterwards; nothing is committed.
 * `npx tsx bench/run.ts --only data` calls runDataBench() through bench/main.ts.
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { analyzeDataset } from '../src/data/dataset';
import { fromPath } from '../src/data/nodeSource';
import { normalizeRow } from '../src/data/normalize';
import { readRows } from '../src/data/readers/index';
import { loadTokenizer, prepareTokenizer, renderExample, renderExampleByPieces } from '../src/data/tokenize';
import { nodeFiles } from '../src/formats/nodeSource';

export interface DataBenchOptions {
  /** Pipeline file sizes in MB (10^6 bytes). Default [20, 100]; [5, 20] when `quick`. */
  sizesMB?: number[];
  /** Size of the file both render paths are compared on. Default 5 MB; 2 when `quick`. */
  compareMB?: number;
  quick?: boolean;
  /** Tokenizer folder. Default public/models/demo. */
  tokenizerDir?: string;
  maxLength?: number;
  log?: (line: string) => void;
}

export interface DataBenchCompare {
  sizeMB: number;
  rows: number;
  tokens: number;
  /** Reference path: tokens/s over its render + tokenize time. */
  beforeTokensPerSecond: number;
  /** Pipeline path: tokens/s over its render + tokenize time. */
  afterTokensPerSecond: number;
  /** The same over CPU time (process.cpuUsage), which other processes' load disturbs less than wall time. */
  beforeTokensPerCpuSecond: number;
  afterTokensPerCpuSecond: number;
  speedup: number;
  /** Rows whose ids or masks differ between the two paths (must be 0 on this data). */
  mismatches: number;
  encoder: string;
}

export interface DataBenchSize {
  sizeMB: number;
  rows: number;
  tokens: number;
  seconds: number;
  mbPerSecond: number;
  /** Tokens per second of wall time, everything included (read, parse, render, tokenize, statistics). */
  tokensPerSecond: number;
  /** Tokens per second of this process's CPU time (user + system). */
  tokensPerCpuSecond: number;
  peakRssMiB: number;
  peakHeapMiB: number;
  startRssMiB: number;
  /** Largest heap still in use right after a forced GC (every 2 s); needs node --expose-gc, else null. */
  liveHeapMiB: number | null;
}

const WORDS =
  'the model learns from every example you give it so choose them with care data quality matters more than quantity small adapters train fast on a laptop gpu in a browser tab without any upload'.split(
    ' ',
  );

/** A deterministic chat row of ~0.5–2 KB with varied words and numbers (1–3 turns, a system message). */
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
const MAPPING = { kind: 'chat', messages: 'messages', role: 'role', content: 'content' } as const;

function same(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export async function runDataBench(opts: DataBenchOptions = {}): Promise<{ name: string; compare: DataBenchCompare; sizes: DataBenchSize[]; memoryFlat: boolean; note: string }> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const sizes = opts.sizesMB ?? (opts.quick ? [5, 20] : [20, 100]);
  const compareMB = opts.compareMB ?? (opts.quick ? 2 : 5);
  const maxLength = opts.maxLength ?? 2048;
  const tokDir = opts.tokenizerDir ?? fileURLToPath(new URL('../public/models/demo', import.meta.url));
  const tok = await loadTokenizer(nodeFiles(tokDir));
  const encoder = prepareTokenizer(tok).encoder.kind;
  const dir = await mkdtemp(join(tmpdir(), 'data-bench-'));
  const results: DataBenchSize[] = [];
  let compare: DataBenchCompare;
  try {
    // 1. Both render paths on the same rows.
    {
      const path = join(dir, `compare-${compareMB}MB.jsonl`);
      await writeJsonl(path, compareMB * 1e6);
      const source = await fromPath(path);
      let before = 0;
      let after = 0;
      let beforeCpu = 0;
      let afterCpu = 0;
      const cpu = () => {
        const u = process.cpuUsage();
        return (u.user + u.system) / 1000;
      };
      let tokens = 0;
      let rows = 0;
      let mismatches = 0;
      // Warm both paths (JIT, caches) on a few rows first.
      const warm: Parameters<typeof renderExample>[1][] = [];
      for await (const r of readRows(source)) {
        if (!r.ok) throw r.error;
        const where = { file: source.name, line: r.line, row: r.row };
        const norm = normalizeRow(r.value, MAPPING, where);
        if (warm.length < 200) {
          warm.push(norm);
          if (warm.length === 200) for (const w of warm) renderExample(tok, w, { maxLength }, where), renderExampleByPieces(tok, w, { maxLength }, where);
          continue;
        }
        const c0 = cpu();
        const t0 = performance.now();
        const a = renderExampleByPieces(tok, norm, { maxLength }, where);
        const t1 = performance.now();
        const c1 = cpu();
        const b = renderExample(tok, norm, { maxLength }, where);
        const t2 = performance.now();
        const c2 = cpu();
        before += t1 - t0;
        after += t2 - t1;
        beforeCpu += c1 - c0;
        afterCpu += c2 - c1;
        tokens += b.example.ids.length;
        rows++;
        if (!same(a.example.ids, b.example.ids) || !same(a.example.lossMask, b.example.lossMask)) mismatches++;
      }
      await rm(path);
      compare = {
        sizeMB: compareMB,
        rows,
        tokens,
        beforeTokensPerSecond: Math.round(tokens / (before / 1000)),
        afterTokensPerSecond: Math.round(tokens / (after / 1000)),
        beforeTokensPerCpuSecond: Math.round(tokens / (beforeCpu / 1000)),
        afterTokensPerCpuSecond: Math.round(tokens / (afterCpu / 1000)),
        speedup: +(before / after).toFixed(2),
        mismatches,
        encoder,
      };
      log(
        `data bench: compare on ${compareMB} MB (${rows} chat rows, ${tokens} tokens): reference path ${compare.beforeTokensPerSecond} tokens/s ` +
          `(${compare.beforeTokensPerCpuSecond} per CPU second), pipeline path ${compare.afterTokensPerSecond} tokens/s (${compare.afterTokensPerCpuSecond} per CPU second), ` +
          `${compare.speedup}×, ${encoder} encoder, ${mismatches} rows differ`,
      );
    }
    // 2. The whole pipeline, every row tokenized.
    for (const mb of sizes) {
      const path = join(dir, `chat-${mb}MB.jsonl`);
      log(`data bench: generating ${mb} MB of chat JSONL…`);
      await writeJsonl(path, mb * 1e6);
      const source = await fromPath(path);
      let peakRss = 0;
      let peakHeap = 0;
      const gc = (globalThis as { gc?: () => void }).gc;
      let liveHeap = 0;
      let lastGc = Date.now();
      const sample = () => {
        const m = process.memoryUsage();
        peakRss = Math.max(peakRss, m.rss);
        peakHeap = Math.max(peakHeap, m.heapUsed);
        if (gc && Date.now() - lastGc > 2000) {
          gc();
          lastGc = Date.now();
          liveHeap = Math.max(liveHeap, process.memoryUsage().heapUsed);
        }
      };
      const startRss = process.memoryUsage().rss;
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const s = await analyzeDataset(source, tok, { maxLength, mapping: MAPPING, progressEvery: 2000, onProgress: sample });
      const seconds = (performance.now() - t0) / 1000;
      const cpuUsed = process.cpuUsage(cpu0);
      const cpuSeconds = (cpuUsed.user + cpuUsed.system) / 1e6;
      sample();
      const res: DataBenchSize = {
        sizeMB: mb,
        rows: s.rows,
        tokens: s.tokens,
        seconds: +seconds.toFixed(2),
        mbPerSecond: +(mb / seconds).toFixed(1),
        tokensPerSecond: Math.round(s.tokens / seconds),
        tokensPerCpuSecond: Math.round(s.tokens / cpuSeconds),
        peakRssMiB: Math.round(peakRss / MiB),
        peakHeapMiB: Math.round(peakHeap / MiB),
        startRssMiB: Math.round(startRss / MiB),
        liveHeapMiB: gc ? Math.round(liveHeap / MiB) : null,
      };
      results.push(res);
      log(
        `data bench: pipeline ${mb} MB, ${s.rows} rows, ${s.tokens} tokens in ${res.seconds} s: ${res.tokensPerSecond} tokens/s end to end ` +
          `(${res.tokensPerCpuSecond} per CPU second), ` +
          `${res.mbPerSecond} MB/s, peak RSS ${res.peakRssMiB} MiB, peak heap ${res.peakHeapMiB} MiB` +
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
  const note = 'every row read, parsed, rendered through the chat template and tokenized (pipeline); both render paths on the same rows (compare)';
  log(`data bench: memory ${memoryFlat ? 'stays flat' : 'GROWS'} from ${first.sizeMB} MB (${first.peakRssMiB} MiB) to ${last.sizeMB} MB (${last.peakRssMiB} MiB)`);
  return { name: 'data', compare: compare!, sizes: results, memoryFlat, note };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const arg = (name: string): string | undefined => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const sizes = arg('sizes')?.split(',').map(Number);
  const compareMB = arg('compare-mb');
  const result = await runDataBench({ sizesMB: sizes, compareMB: compareMB ? Number(compareMB) : undefined });
  console.log(JSON.stringify(result, null, 2));
}
