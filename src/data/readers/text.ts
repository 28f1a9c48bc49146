/**
 * Plain text: documents separated by blank lines ('paragraphs'), or the whole file as one document ('file').
 * Each document becomes a row `{ text }`. Line endings inside a document are kept as '\n'.
 */
import { DatasetError } from '../errors';
import { fmtBytes } from './bytes';
import { DEFAULT_MAX_LINE_BYTES, readLines } from './lines';
import { isBlank } from './jsonl';
import type { RowItem } from './types';

export async function* readText(
  chunks: AsyncIterable<Uint8Array>,
  file: string,
  mode: 'paragraphs' | 'file' = 'paragraphs',
  maxDocBytes = DEFAULT_MAX_LINE_BYTES,
): AsyncGenerator<RowItem> {
  let row = 0;
  let doc: string[] = [];
  let docLen = 0;
  let docLine = 0;
  let overflow = false;
  const flush = (): RowItem | undefined => {
    const lines = doc;
    const tooBig = overflow;
    doc = [];
    docLen = 0;
    overflow = false;
    if (tooBig) {
      row++;
      return {
        ok: false,
        error: new DatasetError('line-too-long', `document is longer than the limit of ${fmtBytes(maxDocBytes)} (raise maxLineBytes if it is genuine)`, {
          file,
          line: docLine,
          row,
        }),
      };
    }
    // Trim blank lines at the ends of the document (whole-file mode keeps inner blank lines).
    let a = 0;
    let b = lines.length;
    while (a < b && isBlank(lines[a])) a++;
    while (b > a && isBlank(lines[b - 1])) b--;
    if (a === b) return undefined;
    row++;
    return { ok: true, row, line: docLine + a, value: { text: lines.slice(a, b).join('\n') } };
  };
  for await (const item of readLines(chunks, file, maxDocBytes)) {
    if (!item.ok) {
      row++;
      yield { ok: false, error: item.error };
      continue;
    }
    if (mode === 'paragraphs' && isBlank(item.text)) {
      const r = flush();
      if (r) yield r;
      continue;
    }
    if (doc.length === 0) docLine = item.line;
    docLen += item.text.length + 1;
    if (docLen > maxDocBytes) overflow = true;
    if (!overflow) doc.push(item.text);
  }
  const r = flush();
  if (r) yield r;
}
