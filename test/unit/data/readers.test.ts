import { gzipSync } from 'node:zlib';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { describe, expect, it } from 'vitest';
import { DatasetError } from '../../../src/data/errors';
import { fromPath } from '../../../src/data/nodeSource';
import { openBytes } from '../../../src/data/readers/bytes';
import { readRows, type RowItem } from '../../../src/data/readers/index';
import { findInvalidUtf8 } from '../../../src/data/readers/lines';
import { fromBlob, fromBytes, fromText, type DataSource } from '../../../src/data/source';

async function rows(src: DataSource, opts = {}): Promise<RowItem[]> {
  const out: RowItem[] = [];
  for await (const r of readRows(src, opts)) out.push(r);
  return out;
}
async function values(src: DataSource, opts = {}): Promise<Record<string, unknown>[]> {
  const rs = await rows(src, opts);
  const bad = rs.filter((r) => !r.ok);
  expect(bad.map((r) => (r.ok ? '' : r.error.message))).toEqual([]);
  return rs.map((r) => (r.ok ? r.value : {}));
}
const enc = new TextEncoder();
const ALPACA = [
  { instruction: 'Add 2 and 3', input: '', output: '5' },
  { instruction: 'Translate', input: 'chat → français', output: 'chat (le) — "cat", with a comma, and\na newline' },
  { instruction: 'Emoji 🦙', input: 'x', output: 'ünïcödé ✓' },
];

describe('JSONL', () => {
  const text = ALPACA.map((r) => JSON.stringify(r)).join('\r\n') + '\r\n\r\n';
  // Chunk sizes 1..7 put every line break, CRLF and multi-byte character across chunk boundaries.
  for (const chunk of [1, 2, 3, 7, 65536]) {
    it(`reads rows, CRLF, blank lines, UTF-8 with ${chunk}-byte chunks`, async () => {
      const rs = await rows(fromText('a.jsonl', text, chunk));
      expect(rs.map((r) => (r.ok ? r.value : r.error.message))).toEqual(ALPACA);
      expect(rs.map((r) => (r.ok ? [r.row, r.line] : []))).toEqual([
        [1, 1],
        [2, 2],
        [3, 3],
      ]);
    });
  }
  it('drops a UTF-8 BOM', async () => {
    expect(await values(fromBytes('b.jsonl', new Uint8Array([0xef, 0xbb, 0xbf, ...enc.encode('{"text":"x"}')]), 2))).toEqual([{ text: 'x' }]);
  });
  it('.ndjson and .json holding lines read the same', async () => {
    expect(await values(fromText('a.ndjson', text))).toEqual(ALPACA);
    expect(await values(fromText('a.json', text))).toEqual(ALPACA);
  });
  it('keeps reading after a bad row and numbers rows and lines', async () => {
    const rs = await rows(fromText('a.jsonl', '{"a":1}\n\n{oops\n{"a":3}\n'));
    expect(rs.map((r) => (r.ok ? `ok ${r.row}@${r.line}` : `${r.error.code} ${r.error.row}@${r.error.line}`))).toEqual(['ok 1@1', 'invalid-json 2@3', 'ok 3@4']);
  });
  it('the line cap reports a long line and resumes at the next one', async () => {
    const long = `{"text":"${'x'.repeat(5000)}"}`;
    const rs = await rows(fromText('a.jsonl', `${long}\n{"text":"short"}\n`, 100), { maxRecordBytes: 1000 });
    expect(rs[0].ok ? 'ok' : rs[0].error.code).toBe('record-too-large');
    expect(rs[0].ok ? 0 : [rs[0].error.line, rs[0].error.row]).toEqual([1, 1]);
    expect(rs[1]).toMatchObject({ ok: true, value: { text: 'short' }, line: 2 });
  });
});

describe('JSON array', () => {
  const pretty = JSON.stringify(ALPACA, null, 2);
  const minified = JSON.stringify(ALPACA);
  for (const chunk of [1, 5, 65536]) {
    it(`streams a pretty-printed and a minified array (${chunk}-byte chunks)`, async () => {
      expect(await values(fromText('a.json', pretty, chunk))).toEqual(ALPACA);
      expect(await values(fromText('a.json', `\ufeff  ${minified}  \n`, chunk))).toEqual(ALPACA);
    });
  }
  it('gives each element its starting line', async () => {
    const rs = await rows(fromText('a.json', pretty));
    expect(rs.map((r) => (r.ok ? r.line : 0))).toEqual([2, 7, 12]);
  });
  it('handles brackets, braces and escaped quotes inside strings', async () => {
    const v = [{ text: 'a ] b } c [ { \\" "' }, { text: '\\' }];
    expect(await values(fromText('a.json', JSON.stringify(v), 3))).toEqual(v);
  });
  it('a bad element is a row error; reading continues', async () => {
    const rs = await rows(fromText('a.json', '[{"a":1}, 7, {"a":2}, "s", [1]]'));
    expect(rs.map((r) => (r.ok ? 'ok' : r.error.code))).toEqual(['ok', 'not-an-object', 'ok', 'not-an-object', 'not-an-object']);
  });
  it('an element over the record cap is reported without holding it', async () => {
    const rs = await rows(fromText('a.json', `[{"t":"${'x'.repeat(3000)}"}, {"t":"y"}]`, 64), { maxRecordBytes: 1000 });
    expect(rs.map((r) => (r.ok ? r.value : r.error.code))).toEqual(['record-too-large', { t: 'y' }]);
  });
  it('an empty array has no rows', async () => {
    await expect(rows(fromText('a.json', '[ ]'))).rejects.toMatchObject({ code: 'no-rows' });
  });
  it('text after the closing bracket is an error', async () => {
    await expect(rows(fromText('a.json', '[{"a":1}] x'))).rejects.toMatchObject({ code: 'invalid-json' });
  });
});

describe('CSV and TSV', () => {
  const csv =
    'instruction,input,output\r\n' +
    'Add 2 and 3,,5\r\n' +
    'Translate,chat → français,"chat (le) — ""cat"", with a comma, and\r\na newline"\r\n' +
    '\r\n' +
    '"Emoji 🦙",x,ünïcödé ✓\r\n';
  for (const chunk of [1, 4, 65536]) {
    it(`RFC 4180: quotes, doubled quotes, multi-line fields, CRLF, blank lines (${chunk}-byte chunks)`, async () => {
      const rs = await rows(fromText('a.csv', csv, chunk));
      expect(rs.map((r) => (r.ok ? r.value : r.error.message))).toEqual(ALPACA);
      expect(rs.map((r) => (r.ok ? [r.row, r.line] : []))).toEqual([
        [1, 2],
        [2, 3],
        [3, 6],
      ]);
    });
  }
  it('TSV with tabs inside quotes', async () => {
    const tsv = 'text\tlabel\n"a\tb"\tpos\nplain text\tneg\n';
    expect(await values(fromText('a.tsv', tsv))).toEqual([
      { text: 'a\tb', label: 'pos' },
      { text: 'plain text', label: 'neg' },
    ]);
  });
  it('a quote inside an unquoted field is literal', async () => {
    expect(await values(fromText('a.csv', 'text,label\nsay "hi" now,x\n'))).toEqual([{ text: 'say "hi" now', label: 'x' }]);
  });
  it('a BOM before the header is dropped', async () => {
    expect(await values(fromBytes('a.csv', new Uint8Array([0xef, 0xbb, 0xbf, ...enc.encode('text\nhello\n')])))).toEqual([{ text: 'hello' }]);
  });
  it('a field count mismatch is a row error and reading goes on', async () => {
    const rs = await rows(fromText('a.csv', 'a,b\n1,2\n1\n3,4\n'));
    expect(rs.map((r) => (r.ok ? r.value : `${r.error.code}@${r.error.line}`))).toEqual([{ a: '1', b: '2' }, 'csv-field-count@3', { a: '3', b: '4' }]);
  });
  it('a header with an empty column name is refused', async () => {
    await expect(rows(fromText('a.csv', 'a,,b\n1,2,3\n'))).rejects.toMatchObject({ code: 'csv-header', line: 1 });
  });
});

describe('plain text', () => {
  const txt = '\n\nFirst document,\nline two.\n\n\n\nSecond document.\n   \nThird.\n';
  it('documents separated by blank lines', async () => {
    const rs = await rows(fromText('a.txt', txt, 3));
    expect(rs.map((r) => (r.ok ? [r.value.text, r.line] : []))).toEqual([
      ['First document,\nline two.', 3],
      ['Second document.', 8],
      ['Third.', 10],
    ]);
  });
  it('the whole file as one document', async () => {
    expect(await values(fromText('a.md', txt), { textMode: 'file' })).toEqual([{ text: 'First document,\nline two.\n\n\n\nSecond document.\n   \nThird.' }]);
  });
});

describe('Parquet', () => {
  const buf = new Uint8Array(
    parquetWriteBuffer({
      columnData: [
        { name: 'instruction', data: ALPACA.map((r) => r.instruction), type: 'STRING' },
        { name: 'input', data: ALPACA.map((r) => r.input), type: 'STRING' },
        { name: 'output', data: ALPACA.map((r) => r.output), type: 'STRING' },
        { name: 'label', data: [1n, 2n, 3n], type: 'INT64' },
        {
          name: 'messages',
          data: ALPACA.map((r) => [
            { role: 'user', content: r.instruction },
            { role: 'assistant', content: r.output },
          ]),
        },
      ],
      rowGroupSize: 2,
    }),
  );
  it('reads strings, INT64 as numbers, and nested message lists, across row groups and batches', async () => {
    const vs = await values(fromBytes('a.parquet', buf), { parquetBatchRows: 2 });
    expect(vs).toEqual(ALPACA.map((r, i) => ({ ...r, label: i + 1, messages: [{ role: 'user', content: r.instruction }, { role: 'assistant', content: r.output }] })));
  });
  it('reads through byte ranges of a Blob and of a file path', async () => {
    const viaBlob = await values(fromBlob(new Blob([buf]), 'b.parquet'));
    const dir = await mkdtemp(join(tmpdir(), 'data-'));
    try {
      await writeFile(join(dir, 'c.parquet'), buf);
      const viaPath = await values(await fromPath(join(dir, 'c.parquet')));
      expect(viaPath).toEqual(viaBlob);
      expect(viaBlob.length).toBe(3);
    } finally {
      await rm(dir, { recursive: true });
    }
  });
  const magic = enc.encode('PAR1');
  const cases: [string, Uint8Array, RegExp][] = [
    ['only the magic', magic, /only the "PAR1" magic/],
    ['the magic twice', Uint8Array.from([...magic, ...magic]), /only the "PAR1" magic/],
    ['an empty footer', Uint8Array.from([...magic, 0, 0, 0, 0, ...magic]), /declares 0 bytes of metadata/],
    ['a cut-off end', buf.subarray(0, buf.length - 3), /does not end with "PAR1"/],
    ['a footer of garbage', Uint8Array.from([...magic, 1, 2, 3, 4, 5, 6, 7, 8, 8, 0, 0, 0, ...magic]), /footer \(file metadata\) is corrupt/],
  ];
  for (const [what, bytes, says] of cases) {
    it(`a file holding ${what} is a typed error that says what to do`, async () => {
      const err = await rows(fromBytes('m.parquet', bytes)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DatasetError);
      expect(err).toMatchObject({ code: 'parquet', file: 'm.parquet' });
      expect((err as Error).message).toMatch(says);
      expect((err as Error).message).toMatch(/export it again|PAR1/);
    });
  }
  it('a row group larger than the cap is refused before decoding', async () => {
    await expect(rows(fromBytes('a.parquet', buf), { maxParquetRowGroupBytes: 10 })).rejects.toMatchObject({ code: 'parquet', row: 1, message: expect.stringMatching(/row_group_size/) });
  });
  it('a row over the record cap is a row error', async () => {
    const big = new Uint8Array(parquetWriteBuffer({ columnData: [{ name: 'text', data: ['x'.repeat(5000), 'small'], type: 'STRING' }] }));
    const rs = await rows(fromBytes('big.parquet', big), { maxRecordBytes: 1000 });
    expect(rs.map((r) => (r.ok ? r.value : [r.error.code, r.error.row]))).toEqual([['record-too-large', 1], { text: 'small' }]);
  });
});

describe('gzip', () => {
  it('reads gzip of every text format, by magic bytes whatever the name', async () => {
    const jsonlText = ALPACA.map((r) => JSON.stringify(r)).join('\n');
    expect(await values(fromBytes('a.jsonl.gz', gzipSync(enc.encode(jsonlText)), 7))).toEqual(ALPACA);
    expect(await values(fromBytes('a.json.gz', gzipSync(enc.encode(JSON.stringify(ALPACA)))))).toEqual(ALPACA);
    expect(await values(fromBytes('a.csv.gz', gzipSync(enc.encode('text,label\nhi,x\n')))).then((v) => v)).toEqual([{ text: 'hi', label: 'x' }]);
    expect(await values(fromBytes('a.tsv.gz', gzipSync(enc.encode('text\tlabel\nhi\tx\n'))))).toEqual([{ text: 'hi', label: 'x' }]);
    expect(await values(fromBytes('a.txt.gz', gzipSync(enc.encode('one\n\ntwo\n'))))).toEqual([{ text: 'one' }, { text: 'two' }]);
    expect(await values(fromBytes('named-plainly.jsonl', gzipSync(enc.encode(jsonlText))))).toEqual(ALPACA);
  });
  it('the default limits stop a gzip bomb once 16 MiB are out, measured against what the inflater consumed', async () => {
    const bomb = gzipSync(new Uint8Array(80 * 2 ** 20), { level: 9 });
    // The whole compressed file is offered at once (one chunk): the ratio must still be measured piece by piece.
    const { chunks } = await openBytes(fromBytes('bomb.gz', bomb, bomb.length));
    let inflated = 0;
    const err = await (async () => {
      for await (const c of chunks) inflated += c.length;
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetError);
    expect((err as DatasetError).code).toBe('gzip-bomb');
    expect((err as DatasetError).message).toMatch(/raise maxInflateRatio/);
    expect(inflated).toBeLessThanOrEqual(16 * 2 ** 20);
    expect(inflated).toBeGreaterThan(15 * 2 ** 20);
  });
  it('the cap on total bytes, compressed or not', async () => {
    const text = '{"text":"hello"}\n'.repeat(10_000);
    const gz = gzipSync(enc.encode(text));
    await expect(rows(fromBytes('a.jsonl.gz', gz), { maxTotalBytes: 50_000 })).rejects.toMatchObject({ code: 'too-much-data' });
    await expect(rows(fromText('a.jsonl', text), { maxTotalBytes: 50_000 })).rejects.toMatchObject({ code: 'too-much-data' });
    expect(await rows(fromText('a.jsonl', text), { maxTotalBytes: 1e6 })).toHaveLength(10_000);
  });
  it('a gzip of 1 GiB of newlines (1 MiB compressed) is refused in seconds', async () => {
    // Built from one deflate of a 16 MiB block repeated: gzip members concatenate (RFC 1952).
    const member = gzipSync(new Uint8Array(16 * 2 ** 20).fill(10), { level: 9 });
    const parts = Array.from({ length: 64 }, () => member);
    const bomb = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((o, p) => (bomb.set(p, o), o + p.length), 0);
    const t0 = performance.now();
    const err = await rows(fromBytes('newlines.jsonl.gz', bomb)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'gzip-bomb' });
    expect(performance.now() - t0).toBeLessThan(10_000);
  });
});

describe('UTF-16 and other encodings', () => {
  const utf16 = (text: string, le: boolean): Uint8Array => {
    const out = new Uint8Array(2 + text.length * 2);
    out.set(le ? [0xff, 0xfe] : [0xfe, 0xff]);
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      out[2 + 2 * i + (le ? 0 : 1)] = c & 0xff;
      out[2 + 2 * i + (le ? 1 : 0)] = c >> 8;
    }
    return out;
  };
  const text = 'text,label\r\nnaïve café 🦙,positive\r\nplain,negative\r\n';
  for (const le of [true, false]) {
    it(`decodes UTF-16${le ? 'LE' : 'BE'} with a byte-order mark (3-byte chunks split characters)`, async () => {
      expect(await values(fromBytes('u.csv', utf16(text, le), 3))).toEqual([
        { text: 'naïve café 🦙', label: 'positive' },
        { text: 'plain', label: 'negative' },
      ]);
    });
  }
  it('UTF-16 without a byte-order mark is refused with what to do', async () => {
    const noBom = utf16(text, true).subarray(2);
    await expect(rows(fromBytes('u.csv', noBom))).rejects.toMatchObject({ code: 'encoding', message: expect.stringMatching(/UTF-16LE .*save the file as UTF-8/) });
  });
  it('UTF-32 is refused', async () => {
    await expect(rows(fromBytes('u.txt', Uint8Array.from([0xff, 0xfe, 0, 0, 0x68, 0, 0, 0])))).rejects.toMatchObject({ code: 'encoding', message: expect.stringMatching(/UTF-32/) });
  });
  it('an unpaired surrogate in UTF-16 is an encoding error', async () => {
    const b = Uint8Array.from([0xff, 0xfe, 0x68, 0, 0x00, 0xd8, 0x69, 0, 0x0a, 0]);
    await expect(rows(fromBytes('u.txt', b))).rejects.toMatchObject({ code: 'encoding' });
  });
});

describe('blank lines', () => {
  it('a quoted CSV field keeps its blank lines, however the chunks fall', async () => {
    const csv = 'text,label\n"one\n\n\ntwo",x\n\n\nthree,y\n';
    for (const chunk of [1, 2, 5, 1000]) {
      expect(await values(fromText('b.csv', csv, chunk))).toEqual([
        { text: 'one\n\n\ntwo', label: 'x' },
        { text: 'three', label: 'y' },
      ]);
    }
  });
  it('line numbers count every blank line (JSONL, CSV, text)', async () => {
    const blank = '\n\r\n\n';
    const j = await rows(fromText('b.jsonl', `${blank}{"a":1}\n${blank}{"a":2}\n`, 2));
    expect(j.map((r) => (r.ok ? r.line : 0))).toEqual([4, 8]);
    const t = await rows(fromText('b.txt', `${blank}one\n${blank}two\nthree\n`, 3));
    expect(t.map((r) => (r.ok ? [r.line, r.value.text] : 0))).toEqual([
      [4, 'one'],
      [8, 'two\nthree'],
    ]);
  });
  it('10 million blank lines are passed over quickly', async () => {
    const tail = enc.encode('{"a":1}\n');
    const b = new Uint8Array(10_000_000 + tail.length).fill(10);
    b.set(tail, 10_000_000);
    const t0 = performance.now();
    const rs = await rows(fromBytes('b.jsonl', b, 1 << 20));
    expect(rs).toMatchObject([{ ok: true, line: 10_000_001 }]);
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});

describe('UTF-8', () => {
  it('findInvalidUtf8 finds overlongs, surrogates, stray continuations and truncation', () => {
    expect(findInvalidUtf8(enc.encode('héllo 🦙 ✓'))).toBe(-1);
    expect(findInvalidUtf8(Uint8Array.from([0x61, 0xc0, 0xaf]))).toBe(1); // overlong '/'
    expect(findInvalidUtf8(Uint8Array.from([0x61, 0x62, 0xed, 0xa0, 0x80]))).toBe(2); // surrogate
    expect(findInvalidUtf8(Uint8Array.from([0x80]))).toBe(0);
    expect(findInvalidUtf8(Uint8Array.from([0x61, 0xf0, 0x9f]))).toBe(1);
    expect(findInvalidUtf8(Uint8Array.from([0xf4, 0x90, 0x80, 0x80]))).toBe(0); // above U+10FFFF
  });
  it('an invalid sequence in a CSV names its byte offset and line', async () => {
    const b = new Uint8Array([...enc.encode('text\nok\nbad'), 0xff, ...enc.encode('\n')]);
    const rs = await rows(fromBytes('a.csv', b, 2));
    const e = rs.find((r) => !r.ok);
    expect(e && !e.ok && [e.error.code, e.error.byteOffset, e.error.line]).toEqual(['invalid-utf8', 11, 3]);
  });
});

describe('options', () => {
  it('format overrides the extension', async () => {
    expect(await values(fromText('export.dat', '{"text":"x"}\n'), { format: 'jsonl' })).toEqual([{ text: 'x' }]);
    expect(await values(fromText('notes.log', 'a\n\nb\n'), { format: 'text' })).toEqual([{ text: 'a' }, { text: 'b' }]);
  });
  it('maxDepth sets the nesting limit', async () => {
    const row = '{"a":{"b":{"c":{"d":1}}}}\n';
    expect((await rows(fromText('d.jsonl', row), { maxDepth: 3 }))[0]).toMatchObject({ ok: false, error: { code: 'too-deep' } });
    expect((await rows(fromText('d.jsonl', row), { maxDepth: 4 }))[0]).toMatchObject({ ok: true });
  });
  it('a File streams like any source', async () => {
    const file = new File(['{"text":"from a File"}\n'], 'drop.jsonl');
    expect(await values(fromBlob(file))).toEqual([{ text: 'from a File' }]);
    expect(fromBlob(file).name).toBe('drop.jsonl');
  });
});
