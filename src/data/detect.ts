/**
 * Schema detection from a preview of the first rows. Each row is classified by its columns; the file's schema is
 * the one every previewed row agrees on. Detection is "sure" only when the canonical column names are present in
 * every previewed row; otherwise it returns candidates and the UI asks the user for a column mapping.
 */
import type { ColumnMapping, SchemaKind } from './schema';

export interface Detection {
  /** The mapping to use, when one was found. */
  mapping?: ColumnMapping;
  /** True when the mapping can be used without asking the user. */
  sure: boolean;
  /** Every plausible mapping, best first (for the UI's picker). */
  candidates: ColumnMapping[];
  /** Column names seen in the previewed rows, in first-seen order. */
  columns: string[];
  /** Why detection is unsure, or what it found. */
  reason: string;
  /** How many previewed rows each schema matched (mixed files show more than one). */
  rowKinds: Partial<Record<SchemaKind, number>>;
}

const has = (v: Record<string, unknown>, k: string): boolean => v[k] !== undefined && v[k] !== null;

const OUTPUT_NAMES = ['output', 'response', 'answer'];
const INPUT_NAMES = ['input', 'context'];
const TEXT_NAMES = ['text', 'content', 'sentence', 'document'];
const LABEL_NAMES = ['label', 'labels', 'category', 'class', 'target'];

function isMessageList(x: unknown, role: string, content: string): boolean {
  if (!Array.isArray(x) || x.length === 0) return false;
  const m = x[0];
  return m !== null && typeof m === 'object' && role in (m as object) && content in (m as object);
}

/** The mapping a single row fits best, by its own columns (undefined when it fits none). */
export function classifyRow(v: Record<string, unknown>): ColumnMapping | undefined {
  for (const key of ['messages', 'conversations', 'conversation', 'chat']) {
    if (!has(v, key)) continue;
    const x = v[key];
    if (isMessageList(x, 'role', 'content')) return { kind: 'chat', messages: key, role: 'role', content: 'content' };
    if (isMessageList(x, 'from', 'value')) return { kind: 'chat', messages: key, role: 'from', content: 'value' };
    if (Array.isArray(x)) return { kind: 'chat', messages: key, role: key === 'messages' ? 'role' : 'from', content: key === 'messages' ? 'content' : 'value' };
  }
  if (has(v, 'instruction')) {
    const output = OUTPUT_NAMES.find((k) => has(v, k));
    if (output) {
      const input = INPUT_NAMES.find((k) => k in v);
      return { kind: 'alpaca', instruction: 'instruction', output, ...(input ? { input } : {}), ...('system' in v ? { system: 'system' } : {}) };
    }
  }
  if (has(v, 'prompt') && has(v, 'completion')) return { kind: 'prompt_completion', prompt: 'prompt', completion: 'completion' };
  const text = TEXT_NAMES.find((k) => typeof v[k] === 'string');
  if (text) {
    const label = LABEL_NAMES.find((k) => has(v, k));
    if (label) return { kind: 'text_label', text, label };
    return { kind: 'text', text };
  }
  return undefined;
}

/** Identity of a mapping by its required columns; alpaca's optional input/system columns are merged across rows. */
function key(m: ColumnMapping): string {
  return m.kind === 'alpaca' ? JSON.stringify([m.kind, m.instruction, m.output]) : JSON.stringify(m);
}

function merge(a: ColumnMapping, b: ColumnMapping): ColumnMapping {
  if (a.kind !== 'alpaca' || b.kind !== 'alpaca') return a;
  const input = a.input ?? b.input;
  const system = a.system ?? b.system;
  return { ...a, ...(input ? { input } : {}), ...(system ? { system } : {}) };
}

/** Mappings a user might mean for columns that fit no known schema (string columns in order). */
function guesses(columns: string[]): ColumnMapping[] {
  const out: ColumnMapping[] = [];
  if (columns.length >= 2) {
    out.push({ kind: 'prompt_completion', prompt: columns[0], completion: columns[1] });
    out.push({ kind: 'alpaca', instruction: columns[0], output: columns[1] });
    out.push({ kind: 'text_label', text: columns[0], label: columns[1] });
  }
  for (const c of columns) out.push({ kind: 'text', text: c });
  return out;
}

export function detectSchema(rows: Record<string, unknown>[]): Detection {
  const columns: string[] = [];
  const seenCols = new Set<string>();
  for (const r of rows)
    for (const k of Object.keys(r))
      if (!seenCols.has(k)) {
        seenCols.add(k);
        columns.push(k);
      }
  if (rows.length === 0) return { sure: false, candidates: [], columns, reason: 'no rows to look at', rowKinds: {} };

  const counts = new Map<string, { m: ColumnMapping; n: number; firstRow: number }>();
  const rowKinds: Partial<Record<SchemaKind, number>> = {};
  let unmatched = 0;
  rows.forEach((r, i) => {
    const m = classifyRow(r);
    if (!m) {
      unmatched++;
      return;
    }
    rowKinds[m.kind] = (rowKinds[m.kind] ?? 0) + 1;
    const k = key(m);
    const c = counts.get(k);
    if (c) {
      c.n++;
      c.m = merge(c.m, m);
    } else counts.set(k, { m, n: 1, firstRow: i + 1 });
  });
  const ranked = [...counts.values()].sort((a, b) => b.n - a.n);
  const candidates = ranked.map((c) => c.m);
  for (const g of guesses(columns)) if (!candidates.some((c) => key(c) === key(g))) candidates.push(g);

  if (ranked.length === 0) {
    return {
      sure: false,
      candidates,
      columns,
      rowKinds,
      reason: `columns ${columns.map((c) => `"${c}"`).join(', ')} match no known schema (alpaca, chat, prompt/completion, text, text + label); choose a column mapping`,
    };
  }
  const best = ranked[0];
  const kinds = Object.keys(rowKinds);
  if (kinds.length > 1) {
    const parts = ranked.map((c) => `${c.n} like ${c.m.kind} (first at row ${c.firstRow})`);
    return {
      mapping: best.m,
      sure: false,
      candidates,
      columns,
      rowKinds,
      reason: `rows of mixed schemas: of ${rows.length} previewed rows, ${parts.join(', ')}; rows that do not fit the chosen mapping will be rejected`,
    };
  }
  if (unmatched > 0 || best.n < rows.length) {
    return {
      mapping: best.m,
      sure: false,
      candidates,
      columns,
      rowKinds,
      reason: `${best.n} of ${rows.length} previewed rows look like ${best.m.kind}; ${rows.length - best.n} do not (missing columns?)`,
    };
  }
  return { mapping: best.m, sure: true, candidates, columns, rowKinds, reason: `every previewed row looks like ${best.m.kind}` };
}
