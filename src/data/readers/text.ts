/**
 * Plain text: documents separated by blank lines ('paragraphs'), or the whole file as one document ('file').
 * Each document becomes a row `{ text }`. Line endings inside a document are kept as '\n'.
 */
import { DEFAULT_MAX_RECORD_BYTES, readLines, recordTooLarge } from './lines';
import { isBlank } from './jsonl';
import type { RowItem } from './types';

export async function* readText(
  chunks: AsyncIterable<Uint8Array>,
  file: string,
  mode: 'paragraphs' | 'file' = 'paragraphs',
  maxDocBytes = DEFAULT_MAX_RECORD_BYTES,
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
      return { ok: false, error: recordTooLarge(file, mode === 'file' ? 'the whole-file document' : 'document (paragraph)', maxDocBytes, { line: docLine, row }) };
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
  for await (const item of readLines(chunks, file, { maxRecordBytes: maxDocBytes, blank: 'runs' })) {
    if (!item.ok) {
      row++;
      yield { ok: false, error: item.error.at({ row }) };
      continue;
    }
    if (mode === 'paragraphs' && isBlank(item.text)) {
      const r = flush();
      if (r) yield r;
      continue;
    }
    if (doc.length === 0) docLine = item.line;
    const lines = item.blankRun ?? 1;
    docLen += item.text.length + lines;
    if (docLen > maxDocBytes) overflow = true;
    if (!overflow) for (let k = 0; k < lines; k++) doc.push(item.text);
  }
  const r = flush();
  if (r) yield r;
}
