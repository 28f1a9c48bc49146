/**
 * One row of columns into one example to render: chat messages, a prompt/response pair, plain text, or a
 * classification example. Every problem (missing column, wrong type, unknown role, empty response, a row of another
 * schema) throws a DatasetError naming the row and column; nothing turns silently into an empty example, and a
 * number or an object where text is expected is an error unless the mapping reads that column's numbers as text on
 * purpose (`numbersAsText`).
 */
import { rowMatches } from './detect';
import { DatasetError, type DatasetErrorCode, type DatasetErrorWhere } from './errors';
import { describeMapping, type ColumnMapping } from './schema';
import { alpacaPrompt, labelPrompt } from './templates';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
}

/** A classification label as the row holds it (resolved to ids once every row is read; see classify.ts). */
export type RawLabel = string | number | (string | number)[];

export type Normalized =
  /** Assistant messages at index >= trainFrom are trained (trainFrom > 0 for conversational prompt/completion). */
  | { kind: 'chat'; messages: ChatMessage[]; trainFrom: number }
  /** `prompt` already rendered through its template; `response` is trained. */
  | { kind: 'pair'; prompt: string; response: string; system?: string; instruction?: string }
  /** Every token trained. */
  | { kind: 'text'; text: string }
  /** Sequence classification: a text (or a pair) and its label. */
  | { kind: 'classify'; text: string; textPair?: string; label: RawLabel };

const ROLE_ALIASES: Record<string, ChatMessage['role']> = {
  system: 'system',
  user: 'user',
  human: 'user',
  assistant: 'assistant',
  gpt: 'assistant',
  model: 'assistant',
  bot: 'assistant',
  chatgpt: 'assistant',
  function_call: 'assistant',
  tool: 'tool',
  function: 'tool',
  ipython: 'tool',
  observation: 'tool',
};

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  return `a ${typeof v}`;
}

function numberText(v: number): string {
  return Number.isFinite(v) ? ` (${v})` : ` (${v}: the file's number is too large for a 64-bit float, as 1e999 is)`;
}

export function normalizeRow(value: Record<string, unknown>, mapping: ColumnMapping, where: DatasetErrorWhere): Normalized {
  const fail = (code: DatasetErrorCode, reason: string, column?: string, hint?: string): never => {
    throw new DatasetError(code, reason, column ? { ...where, column } : where, hint);
  };
  const missing = (col: string): never => {
    const other = rowMatches(value).find((m) => m.kind !== mapping.kind);
    const cols = Object.keys(value).join(', ') || 'none';
    if (other) fail('mixed-schema', `row looks like ${other.kind} (columns: ${cols}) but the file is read as ${describeMapping(mapping)}`, undefined, 'split the file by schema, or skip such rows');
    return fail('missing-column', `missing column "${col}" (row has: ${cols})`, undefined, 'add the column, or choose another column mapping');
  };
  const asText = new Set(mapping.numbersAsText ?? []);
  const str = (col: string, required: boolean): string | undefined => {
    const v = value[col];
    if (v === undefined || v === null) return required ? missing(col) : undefined;
    if (typeof v === 'string') return v;
    if ((typeof v === 'number' || typeof v === 'boolean') && asText.has(col)) {
      if (typeof v === 'number' && !Number.isFinite(v)) fail('wrong-type', `column "${col}" holds a number that is not finite${numberText(v)}`, col, 'fix the value in the file');
      return String(v);
    }
    if (typeof v === 'number' || typeof v === 'boolean') {
      return fail(
        'wrong-type',
        `column "${col}" should be text, got ${typeName(v)}${typeof v === 'number' ? numberText(v) : ` (${v})`}`,
        col,
        `quote the value in the file, or read this column's numbers as text on purpose (numbersAsText: ["${col}"]; CLI: --numbers-as-text ${col})`,
      );
    }
    return fail('wrong-type', `column "${col}" should be text, got ${typeName(v)}`, col, 'choose a column that holds text, or flatten this one');
  };
  const nonEmpty = (s: string, what: string, col: string, code: 'empty-response' | 'empty-text' = 'empty-response'): string => {
    if (s.trim() === '') fail(code, `${what} is empty; an empty ${code === 'empty-text' ? 'text' : 'response'} would train nothing`, col, 'fill it in or delete the row');
    return s;
  };

  switch (mapping.kind) {
    case 'alpaca': {
      const instruction = nonEmpty(str(mapping.instruction, true)!, `column "${mapping.instruction}" (instruction)`, mapping.instruction, 'empty-text');
      const input = mapping.input ? str(mapping.input, false) : undefined;
      const system = mapping.system ? str(mapping.system, false) : undefined;
      const response = nonEmpty(str(mapping.output, true)!, `column "${mapping.output}" (response)`, mapping.output);
      return { kind: 'pair', prompt: alpacaPrompt(instruction, input, system), response, system, instruction: input ? `${instruction}\n\n${input}` : instruction };
    }
    case 'prompt_completion': {
      const p = value[mapping.prompt];
      const c = value[mapping.completion];
      if (p === undefined || p === null) return missing(mapping.prompt);
      if (c === undefined || c === null) return missing(mapping.completion);
      if (Array.isArray(p) || Array.isArray(c)) {
        if (!Array.isArray(p) || !Array.isArray(c)) fail('wrong-type', `"${mapping.prompt}" and "${mapping.completion}" must both be text or both be message lists`, undefined, 'make both columns the same kind');
        const prompt = messages(p as unknown[], mapping.prompt, 'role', 'content', fail);
        const completion = messages(c as unknown[], mapping.completion, 'role', 'content', fail);
        if (!completion.some((m) => m.role === 'assistant' && m.content.trim() !== '')) fail('empty-response', `"${mapping.completion}" has no non-empty assistant message`, undefined, 'add the assistant reply, or delete the row');
        return { kind: 'chat', messages: [...prompt, ...completion], trainFrom: prompt.length };
      }
      const prompt = str(mapping.prompt, true)!;
      const response = nonEmpty(str(mapping.completion, true)!, `column "${mapping.completion}" (completion)`, mapping.completion);
      return { kind: 'pair', prompt, response, instruction: prompt };
    }
    case 'chat': {
      const raw = value[mapping.messages];
      if (raw === undefined || raw === null) return missing(mapping.messages);
      if (!Array.isArray(raw)) return fail('wrong-type', `column "${mapping.messages}" should be a list of messages, got ${typeName(raw)}`, mapping.messages, 'each row needs [{"role": ..., "content": ...}, ...]');
      const msgs = messages(raw, mapping.messages, mapping.role, mapping.content, fail);
      if (msgs.length === 0) fail('empty-response', `"${mapping.messages}" is an empty conversation`, undefined, 'delete the row');
      const assistant = msgs.filter((m) => m.role === 'assistant');
      if (assistant.length === 0) fail('empty-response', `conversation has no assistant message to train on`, undefined, 'add the assistant reply, or delete the row');
      const emptyAt = msgs.findIndex((m) => m.role === 'assistant' && m.content.trim() === '');
      if (emptyAt >= 0) fail('empty-response', `assistant message ${emptyAt + 1} is empty`, undefined, 'write the reply, or delete the row');
      return { kind: 'chat', messages: msgs, trainFrom: 0 };
    }
    case 'text': {
      const text = nonEmpty(str(mapping.text, true)!, `column "${mapping.text}"`, mapping.text, 'empty-text');
      return { kind: 'text', text };
    }
    case 'text_label': {
      const text = nonEmpty(str(mapping.text, true)!, `column "${mapping.text}"`, mapping.text, 'empty-text');
      const label = nonEmpty(labelText(value[mapping.label], mapping.label, fail) ?? missing(mapping.label), `label column "${mapping.label}"`, mapping.label);
      const t = labelPrompt(text);
      return { kind: 'pair', prompt: t.prompt, response: t.response(label), instruction: text };
    }
    case 'classification': {
      const text = nonEmpty(str(mapping.text, true)!, `column "${mapping.text}"`, mapping.text, 'empty-text');
      const textPair = mapping.textPair ? nonEmpty(str(mapping.textPair, true)!, `column "${mapping.textPair}"`, mapping.textPair, 'empty-text') : undefined;
      const raw = value[mapping.label];
      if (raw === undefined || raw === null) return missing(mapping.label);
      return { kind: 'classify', text, ...(textPair !== undefined ? { textPair } : {}), label: rawLabel(raw, mapping.label, fail) };
    }
  }
}

type Fail = (code: DatasetErrorCode, reason: string, column?: string, hint?: string) => never;

/** A label for the text + label template: text, or a finite number or boolean (labels are names, numbers included). */
function labelText(v: unknown, col: string, fail: Fail): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) fail('bad-label', `label column "${col}" holds a number that is not finite${numberText(v)}`, col, 'fix the value in the file');
    return String(v);
  }
  return fail('bad-label', `label column "${col}" should be a name or a number, got ${typeName(v)}`, col, 'one label per row (for several labels per row, use a classification mapping)');
}

/** A classification label: a name, a number (class id or regression target), or a list of either (multi-label). */
function rawLabel(v: unknown, col: string, fail: Fail): RawLabel {
  if (Array.isArray(v)) {
    return v.map((x, i) => {
      if (typeof x === 'string' && x.trim() !== '') return x;
      if (typeof x === 'number' && Number.isFinite(x)) return x;
      return fail('bad-label', `label column "${col}"[${i}] should be a name or a number, got ${typeName(x)}`, col, 'a multi-label row lists names or ids, e.g. ["sports", "politics"]');
    });
  }
  if (typeof v === 'string') {
    if (v.trim() === '') fail('bad-label', `label column "${col}" is empty`, col, 'fill it in or delete the row');
    return v.trim();
  }
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) fail('bad-label', `label column "${col}" holds a number that is not finite${numberText(v)}`, col, 'fix the value in the file');
    return v;
  }
  return fail('bad-label', `label column "${col}" should be a name, a number or a list, got ${typeName(v)}`, col, 'one label (or a list of labels) per row');
}

function messages(raw: unknown[], col: string, roleKey: string, contentKey: string, fail: Fail): ChatMessage[] {
  return raw.map((m, i) => {
    if (m === null || typeof m !== 'object' || Array.isArray(m)) fail('wrong-type', `${col}[${i}] should be an object with "${roleKey}" and "${contentKey}"`, col, `write each message as {"${roleKey}": ..., "${contentKey}": ...}`);
    const o = m as Record<string, unknown>;
    const r = o[roleKey];
    if (typeof r !== 'string') fail('missing-column', `${col}[${i}] has no "${roleKey}" (keys: ${Object.keys(o).join(', ')})`, col, 'give every message a role, or choose the role key in the mapping');
    const role = ROLE_ALIASES[(r as string).toLowerCase()];
    if (!role) fail('bad-role', `${col}[${i}] has unknown role "${r}" (expected system, user, assistant, tool; or ShareGPT human, gpt)`, col, 'rename the role');
    return { role, content: content(o[contentKey], `${col}[${i}].${contentKey}`, col, fail) };
  });
}

/** Message content: a string, or OpenAI content parts of type "text". */
function content(c: unknown, where: string, col: string, fail: Fail): string {
  if (typeof c === 'string') return c;
  if (c === undefined || c === null) return fail('missing-column', `${where} is missing`, col, 'give every message its text');
  if (Array.isArray(c)) {
    return c
      .map((part, k) => {
        const p = part as Record<string, unknown>;
        if (p && p.type === 'text' && typeof p.text === 'string') return p.text;
        return fail('wrong-type', `${where}[${k}] is a content part of type ${JSON.stringify(p?.type)}; only text parts can be trained`, col, 'drop the non-text parts');
      })
      .join('');
  }
  return fail('wrong-type', `${where} should be text, got ${typeName(c)}${typeof c === 'number' ? numberText(c) : ''}`, col, 'quote the value in the file');
}
