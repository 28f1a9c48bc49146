/**
 * Schema detection from a preview of the first rows. Each row is matched against every schema by its canonical
 * column names; a row that matches two schemas that do not contain one another (question + answer + a boilerplate
 * "text"; instruction + output + text; messages + text) is ambiguous, and a file with an ambiguous row is refused
 * until the caller chooses: detection never picks one of two readings silently. Otherwise the file's schema is the
 * one every previewed row agrees on; detection is "sure" only then, and the result carries, for the studio's picker
 * and the CLI's flags alike, every candidate with the rows it fits, why, and the flags that select it.
 */
import { describeMapping, mappingColumns, mappingFlags, type ClassificationTask, type ColumnMapping, type SchemaKind } from './schema';

/** What the model will learn: next tokens (a causal LM) or a label (an encoder with a classification head). */
export type Objective = 'causal-lm' | 'classification';

export interface Candidate {
  mapping: ColumnMapping;
  /** describeMapping(mapping), for a picker's label. */
  label: string;
  /** Previewed rows this mapping fits. */
  rows: number;
  /** Why it is a candidate ("12 of 12 previewed rows have instruction and output"; "guess from column order"). */
  why: string;
  /** The CLI flags that choose it. */
  flags: string;
}

export interface Detection {
  /** The mapping to use, when one was found (undefined when ambiguous or nothing fits). */
  mapping?: ColumnMapping;
  /** True when the mapping can be used without asking the user. */
  sure: boolean;
  /** True when rows match two schemas: the caller must choose (schema-ambiguous). */
  ambiguous: boolean;
  /** Every plausible mapping, best first (for the UI's picker). */
  candidates: ColumnMapping[];
  /** The same candidates with the rows they fit, why, and CLI flags. */
  candidateDetails: Candidate[];
  /** Column names seen in the previewed rows, in first-seen order. */
  columns: string[];
  /** Why detection is unsure, or what it found. */
  reason: string;
  /** What to do when unsure (a sentence for the studio and the CLI). */
  hint?: string;
  /** How many previewed rows each schema matched (mixed files show more than one). */
  rowKinds: Partial<Record<SchemaKind, number>>;
  /** For classification mappings: the task the previewed labels suggest (loading decides on every row). */
  task?: ClassificationTask;
}

export interface DetectOptions {
  /** 'causal-lm' (default): text + label becomes the text_label template; 'classification': a classification mapping. */
  objective?: Objective;
}

const present = (v: Record<string, unknown>, k: string): boolean => v[k] !== undefined && v[k] !== null;
const isText = (v: Record<string, unknown>, k: string): boolean => typeof v[k] === 'string';

const OUTPUT_NAMES = ['output', 'response', 'answer'];
const INPUT_NAMES = ['input', 'context'];
const TEXT_NAMES = ['text', 'content', 'sentence', 'document'];
const LABEL_NAMES = ['label', 'labels', 'category', 'class', 'target'];
/** Text pairs of GLUE-style classification sets (MRPC/RTE, QNLI, MNLI, QQP, generic). */
const PAIR_NAMES: [string, string][] = [
  ['sentence1', 'sentence2'],
  ['question', 'sentence'],
  ['premise', 'hypothesis'],
  ['question1', 'question2'],
  ['text', 'text_pair'],
  ['sentence_a', 'sentence_b'],
];

function isMessageList(x: unknown, role: string, content: string): boolean {
  if (!Array.isArray(x) || x.length === 0) return false;
  const m = x[0];
  return m !== null && typeof m === 'object' && role in (m as object) && content in (m as object);
}

/** Every mapping one row fits by its canonical columns, before removing the ones another contains. */
function allMatches(v: Record<string, unknown>, objective: Objective): ColumnMapping[] {
  const out: ColumnMapping[] = [];
  for (const key of ['messages', 'conversations', 'conversation', 'chat']) {
    if (!present(v, key)) continue;
    const x = v[key];
    if (isMessageList(x, 'role', 'content')) out.push({ kind: 'chat', messages: key, role: 'role', content: 'content' });
    else if (isMessageList(x, 'from', 'value')) out.push({ kind: 'chat', messages: key, role: 'from', content: 'value' });
    else if (Array.isArray(x)) out.push({ kind: 'chat', messages: key, role: key === 'messages' ? 'role' : 'from', content: key === 'messages' ? 'content' : 'value' });
  }
  const label = LABEL_NAMES.find((k) => present(v, k));
  if (present(v, 'instruction')) {
    const output = OUTPUT_NAMES.find((k) => present(v, k));
    if (output) {
      const input = INPUT_NAMES.find((k) => k in v);
      out.push({ kind: 'alpaca', instruction: 'instruction', output, ...(input ? { input } : {}), ...('system' in v ? { system: 'system' } : {}) });
    }
  } else if (present(v, 'question') && present(v, 'answer') && !label) {
    // Question answering: the Alpaca template with the question as the instruction (and a context as its input).
    out.push({ kind: 'alpaca', instruction: 'question', output: 'answer', ...('context' in v ? { input: 'context' } : {}) });
  }
  if (present(v, 'prompt') && present(v, 'completion')) out.push({ kind: 'prompt_completion', prompt: 'prompt', completion: 'completion' });
  if (label) {
    const pair = PAIR_NAMES.find(([a, b]) => isText(v, a) && isText(v, b));
    if (pair) out.push({ kind: 'classification', text: pair[0], textPair: pair[1], label });
    else
      for (const t of TEXT_NAMES.filter((k) => isText(v, k)))
        out.push(objective === 'classification' ? { kind: 'classification', text: t, label } : { kind: 'text_label', text: t, label });
  }
  for (const t of TEXT_NAMES.filter((k) => isText(v, k))) out.push({ kind: 'text', text: t });
  return out;
}

/** Keeps the matches whose columns no other match contains (text + label wins over text alone). */
function maximal(ms: ColumnMapping[]): ColumnMapping[] {
  const cols = ms.map((m) => new Set(mappingColumns(m).required));
  return ms.filter((_, i) => !cols.some((c, j) => j !== i && c.size > cols[i].size && [...cols[i]].every((x) => c.has(x))));
}

/** The mappings one row fits; more than one means the row is ambiguous. */
export function rowMatches(v: Record<string, unknown>, opts: DetectOptions = {}): ColumnMapping[] {
  return maximal(allMatches(v, opts.objective ?? 'causal-lm'));
}

/** The mapping a single row fits, when exactly one does. */
export function classifyRow(v: Record<string, unknown>, opts: DetectOptions = {}): ColumnMapping | undefined {
  const m = rowMatches(v, opts);
  return m.length === 1 ? m[0] : undefined;
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

/** Mappings a user might mean for columns that fit no known schema (columns in order). */
function guesses(columns: string[], objective: Objective): ColumnMapping[] {
  const out: ColumnMapping[] = [];
  if (columns.length >= 2) {
    out.push({ kind: 'alpaca', instruction: columns[0], output: columns[1] });
    out.push({ kind: 'prompt_completion', prompt: columns[0], completion: columns[1] });
    out.push(objective === 'classification' ? { kind: 'classification', text: columns[0], label: columns[1] } : { kind: 'text_label', text: columns[0], label: columns[1] });
  }
  for (const c of columns) out.push({ kind: 'text', text: c });
  return out;
}

/** The classification task the labels of some rows suggest. */
export function guessTask(labels: unknown[]): ClassificationTask {
  if (labels.some((l) => Array.isArray(l))) return 'multi_label';
  const nums = labels.map((l) => (typeof l === 'number' ? l : typeof l === 'string' && l.trim() !== '' && Number.isFinite(Number(l)) ? Number(l) : NaN));
  if (labels.length && nums.every((x) => !Number.isNaN(x)) && nums.some((x) => !Number.isInteger(x))) return 'regression';
  return 'single_label';
}

const CHOOSE = 'choose a mapping (studio: the column mapping picker; CLI: one of the --schema/--columns flags listed)';

export function detectSchema(rows: Record<string, unknown>[], opts: DetectOptions = {}): Detection {
  const objective = opts.objective ?? 'causal-lm';
  const columns: string[] = [];
  const seenCols = new Set<string>();
  for (const r of rows)
    for (const k of Object.keys(r))
      if (!seenCols.has(k)) {
        seenCols.add(k);
        columns.push(k);
      }
  const detail = (m: ColumnMapping, n: number, why: string): Candidate => ({ mapping: m, label: describeMapping(m), rows: n, why, flags: mappingFlags(m) });
  if (rows.length === 0) return { sure: false, ambiguous: false, candidates: [], candidateDetails: [], columns, reason: 'no rows to look at', rowKinds: {} };

  const counts = new Map<string, { m: ColumnMapping; n: number; firstRow: number }>();
  const rowKinds: Partial<Record<SchemaKind, number>> = {};
  let unmatched = 0;
  let ambiguousAt = -1;
  let ambiguousSet: ColumnMapping[] = [];
  rows.forEach((r, i) => {
    const ms = rowMatches(r, { objective });
    if (ms.length === 0) {
      unmatched++;
      return;
    }
    if (ms.length > 1 && ambiguousAt < 0) {
      ambiguousAt = i + 1;
      ambiguousSet = ms;
    }
    for (const m of ms) {
      if (ms.length === 1) rowKinds[m.kind] = (rowKinds[m.kind] ?? 0) + 1;
      const k = key(m);
      const c = counts.get(k);
      if (c) {
        c.n++;
        c.m = merge(c.m, m);
      } else counts.set(k, { m, n: 1, firstRow: i + 1 });
    }
  });
  const ranked = [...counts.values()].sort((a, b) => b.n - a.n || a.firstRow - b.firstRow);
  const details = ranked.map((c) => detail(c.m, c.n, `${c.n} of ${rows.length} previewed rows have its columns (${mappingColumns(c.m).required.join(', ')})`));
  for (const g of guesses(columns, objective)) if (!details.some((c) => key(c.mapping) === key(g))) details.push(detail(g, 0, 'a guess from the column names; check it in the preview'));
  const candidates = details.map((d) => d.mapping);
  const task = (m: ColumnMapping | undefined) => (m?.kind === 'classification' ? guessTask(rows.map((r) => r[m.label]).filter((x) => x !== undefined && x !== null)) : undefined);

  if (ambiguousAt > 0) {
    const both = ambiguousSet.map(describeMapping).join(' and ');
    const first = ambiguousSet.map((m) => details.find((d) => key(d.mapping) === key(m))!);
    return {
      sure: false,
      ambiguous: true,
      candidates: [...first.map((d) => d.mapping), ...candidates.filter((c) => !first.some((d) => key(d.mapping) === key(c)))],
      candidateDetails: [...first, ...details.filter((d) => !first.includes(d))],
      columns,
      rowKinds,
      reason: `rows match ${ambiguousSet.length} schemas (previewed row ${ambiguousAt} and others): ${both}; reading either one silently could train on the wrong columns`,
      hint: `${CHOOSE}: ${first.map((d) => d.flags).join('  or  ')}`,
    };
  }
  if (ranked.length === 0) {
    return {
      sure: false,
      ambiguous: false,
      candidates,
      candidateDetails: details,
      columns,
      rowKinds,
      reason: `columns ${columns.map((c) => `"${c}"`).join(', ')} match no known schema (alpaca, chat, prompt/completion, text, text + label, classification)`,
      hint: CHOOSE,
    };
  }
  const best = ranked[0];
  const kinds = Object.keys(rowKinds);
  if (kinds.length > 1) {
    const parts = ranked.map((c) => `${c.n} like ${c.m.kind} (first at previewed row ${c.firstRow})`);
    return {
      mapping: best.m,
      sure: false,
      ambiguous: false,
      candidates,
      candidateDetails: details,
      columns,
      rowKinds,
      task: task(best.m),
      reason: `rows of mixed schemas: of ${rows.length} previewed rows, ${parts.join(', ')}; rows that do not fit the chosen mapping will be rejected`,
      hint: 'split the file by schema, or skip the other rows (onBadRows: skip; CLI: --on-bad-rows skip)',
    };
  }
  if (unmatched > 0 || best.n < rows.length) {
    return {
      mapping: best.m,
      sure: false,
      ambiguous: false,
      candidates,
      candidateDetails: details,
      columns,
      rowKinds,
      task: task(best.m),
      reason: `${best.n} of ${rows.length} previewed rows look like ${best.m.kind}; ${rows.length - best.n} do not (missing columns?)`,
      hint: 'confirm the mapping; rows that do not fit it will be listed as bad rows',
    };
  }
  return {
    mapping: best.m,
    sure: true,
    ambiguous: false,
    candidates,
    candidateDetails: details,
    columns,
    rowKinds,
    task: task(best.m),
    reason: `every previewed row looks like ${best.m.kind}: ${describeMapping(best.m)}`,
  };
}
