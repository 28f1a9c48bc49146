/**
 * One row of columns into one example to render: chat messages, a prompt/response pair, or plain text. Every
 * problem (missing column, wrong type, unknown role, empty response, a row of another schema) throws a
 * DatasetError naming the row; nothing turns silently into an empty example.
 */
import { classifyRow } from './detect';
import { DatasetError, type DatasetErrorWhere } from './errors';
import { describeMapping, type ColumnMapping } from './schema';
import { alpacaPrompt, labelPrompt } from './templates';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
}

export type Normalized =
  /** Assistant messages at index >= trainFrom are trained (trainFrom > 0 for conversational prompt/completion). */
  | { kind: 'chat'; messages: ChatMessage[]; trainFrom: number }
  /** `prompt` already rendered through its template; `response` is trained. */
  | { kind: 'pair'; prompt: string; response: string; system?: string; instruction?: string }
  /** Every token trained. */
  | { kind: 'text'; text: string };

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

export function normalizeRow(value: Record<string, unknown>, mapping: ColumnMapping, where: DatasetErrorWhere): Normalized {
  const fail = (code: ConstructorParameters<typeof DatasetError>[0], reason: string): never => {
    throw new DatasetError(code, reason, where);
  };
  const missing = (col: string): never => {
    const cls = classifyRow(value);
    const cols = Object.keys(value).join(', ') || 'none';
    if (cls && cls.kind !== mapping.kind) fail('mixed-schema', `row looks like ${cls.kind} (columns: ${cols}) but the file is read as ${describeMapping(mapping)}`);
    return fail('missing-column', `missing column "${col}" (row has: ${cols})`);
  };
  const str = (col: string, required: boolean): string | undefined => {
    const v = value[col];
    if (v === undefined || v === null) return required ? missing(col) : undefined;
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    return fail('wrong-type', `column "${col}" should be text, got ${Array.isArray(v) ? 'an array' : typeof v}`);
  };
  const nonEmpty = (s: string, what: string, code: 'empty-response' | 'empty-text' = 'empty-response'): string => {
    if (s.trim() === '') fail(code, `${what} is empty; an empty ${code === 'empty-text' ? 'text' : 'response'} would train nothing`);
    return s;
  };

  switch (mapping.kind) {
    case 'alpaca': {
      const instruction = nonEmpty(str(mapping.instruction, true)!, `column "${mapping.instruction}" (instruction)`, 'empty-text');
      const input = mapping.input ? str(mapping.input, false) : undefined;
      const system = mapping.system ? str(mapping.system, false) : undefined;
      const response = nonEmpty(str(mapping.output, true)!, `column "${mapping.output}" (response)`);
      return { kind: 'pair', prompt: alpacaPrompt(instruction, input, system), response, system, instruction: input ? `${instruction}\n\n${input}` : instruction };
    }
    case 'prompt_completion': {
      const p = value[mapping.prompt];
      const c = value[mapping.completion];
      if (p === undefined || p === null) return missing(mapping.prompt);
      if (c === undefined || c === null) return missing(mapping.completion);
      if (Array.isArray(p) || Array.isArray(c)) {
        if (!Array.isArray(p) || !Array.isArray(c)) fail('wrong-type', `"${mapping.prompt}" and "${mapping.completion}" must both be text or both be message lists`);
        const prompt = messages(p as unknown[], mapping.prompt, 'role', 'content', fail);
        const completion = messages(c as unknown[], mapping.completion, 'role', 'content', fail);
        if (!completion.some((m) => m.role === 'assistant' && m.content.trim() !== '')) fail('empty-response', `"${mapping.completion}" has no non-empty assistant message`);
        return { kind: 'chat', messages: [...prompt, ...completion], trainFrom: prompt.length };
      }
      const prompt = str(mapping.prompt, true)!;
      const response = nonEmpty(str(mapping.completion, true)!, `column "${mapping.completion}" (completion)`);
      return { kind: 'pair', prompt, response, instruction: prompt };
    }
    case 'chat': {
      const raw = value[mapping.messages];
      if (raw === undefined || raw === null) return missing(mapping.messages);
      if (!Array.isArray(raw)) return fail('wrong-type', `column "${mapping.messages}" should be a list of messages, got ${typeof raw}`);
      const msgs = messages(raw, mapping.messages, mapping.role, mapping.content, fail);
      if (msgs.length === 0) fail('empty-response', `"${mapping.messages}" is an empty conversation`);
      const assistant = msgs.filter((m) => m.role === 'assistant');
      if (assistant.length === 0) fail('empty-response', `conversation has no assistant message to train on`);
      const emptyAt = msgs.findIndex((m) => m.role === 'assistant' && m.content.trim() === '');
      if (emptyAt >= 0) fail('empty-response', `assistant message ${emptyAt + 1} is empty`);
      return { kind: 'chat', messages: msgs, trainFrom: 0 };
    }
    case 'text': {
      const text = nonEmpty(str(mapping.text, true)!, `column "${mapping.text}"`, 'empty-text');
      return { kind: 'text', text };
    }
    case 'text_label': {
      const text = nonEmpty(str(mapping.text, true)!, `column "${mapping.text}"`, 'empty-text');
      const label = nonEmpty(str(mapping.label, true)!, `label column "${mapping.label}"`);
      const t = labelPrompt(text);
      return { kind: 'pair', prompt: t.prompt, response: t.response(label), instruction: text };
    }
  }
}

function messages(
  raw: unknown[],
  col: string,
  roleKey: string,
  contentKey: string,
  fail: (code: 'wrong-type' | 'bad-role' | 'missing-column', reason: string) => never,
): ChatMessage[] {
  return raw.map((m, i) => {
    if (m === null || typeof m !== 'object' || Array.isArray(m)) fail('wrong-type', `${col}[${i}] should be an object with "${roleKey}" and "${contentKey}"`);
    const o = m as Record<string, unknown>;
    const r = o[roleKey];
    if (typeof r !== 'string') fail('missing-column', `${col}[${i}] has no "${roleKey}" (keys: ${Object.keys(o).join(', ')})`);
    const role = ROLE_ALIASES[(r as string).toLowerCase()];
    if (!role) fail('bad-role', `${col}[${i}] has unknown role "${r}" (expected system, user, assistant, tool; or ShareGPT human, gpt)`);
    return { role, content: content(o[contentKey], `${col}[${i}].${contentKey}`, fail) };
  });
}

/** Message content: a string, or OpenAI content parts of type "text". */
function content(c: unknown, where: string, fail: (code: 'wrong-type' | 'missing-column', reason: string) => never): string {
  if (typeof c === 'string') return c;
  if (c === undefined || c === null) return fail('missing-column', `${where} is missing`);
  if (Array.isArray(c)) {
    return c
      .map((part, k) => {
        const p = part as Record<string, unknown>;
        if (p && p.type === 'text' && typeof p.text === 'string') return p.text;
        return fail('wrong-type', `${where}[${k}] is a content part of type ${JSON.stringify(p?.type)}; only text parts can be trained`);
      })
      .join('');
  }
  return fail('wrong-type', `${where} should be text, got ${typeof c}`);
}
