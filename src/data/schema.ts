/**
 * The dataset schemas the studio understands and how a row's columns map onto them. A mapping is either detected
 * (detect.ts) or chosen by the user when detection is unsure: in the studio's picker, or on the CLI with
 * `--schema KIND --columns role=column,…` (parseColumnsFlag).
 */
export type SchemaKind = 'alpaca' | 'chat' | 'prompt_completion' | 'text' | 'text_label' | 'classification';

/** What a classification label column holds: one class, several classes (a list), or a number to predict. */
export type ClassificationTask = 'single_label' | 'multi_label' | 'regression';

/** Options any mapping may carry. */
export interface MappingOptions {
  /**
   * Columns whose numbers (and booleans) are read as their text on purpose. Anywhere else a number where text is
   * expected is a wrong-type error (a JSON `"output": 1e999` would otherwise train on the text "Infinity").
   */
  numbersAsText?: string[];
}

export type ColumnMapping = (
  /** Alpaca (Stanford, LLaMA-Factory, Dolly): instruction, optional input, output, optional system. */
  | { kind: 'alpaca'; instruction: string; input?: string; output: string; system?: string }
  /** Chat: a list of messages. OpenAI/TRL: messages[].role/content; ShareGPT: conversations[].from/value. */
  | { kind: 'chat'; messages: string; role: string; content: string }
  /** Prompt/completion (OpenAI legacy, TRL). Either both strings, or both lists of chat messages (TRL conversational). */
  | { kind: 'prompt_completion'; prompt: string; completion: string }
  /** Plain text for continued pre-training: every token is trained. */
  | { kind: 'text'; text: string }
  /** Text with a class label, for a causal LM: the model learns to answer the label (see templates.ts). */
  | { kind: 'text_label'; text: string; label: string }
  /**
   * Sequence classification (an encoder with a classification head, PEFT SEQ_CLS): a text, or a pair of texts,
   * and a label column. The task is detected from the labels unless given.
   */
  | { kind: 'classification'; text: string; textPair?: string; label: string; task?: ClassificationTask }
) &
  MappingOptions;

export const SCHEMA_KINDS: SchemaKind[] = ['alpaca', 'chat', 'prompt_completion', 'text', 'text_label', 'classification'];

/** Columns a mapping reads, required first. */
export function mappingColumns(m: ColumnMapping): { required: string[]; optional: string[] } {
  switch (m.kind) {
    case 'alpaca':
      return { required: [m.instruction, m.output], optional: [m.input, m.system].filter((x): x is string => !!x) };
    case 'chat':
      return { required: [m.messages], optional: [] };
    case 'prompt_completion':
      return { required: [m.prompt, m.completion], optional: [] };
    case 'text':
      return { required: [m.text], optional: [] };
    case 'text_label':
      return { required: [m.text, m.label], optional: [] };
    case 'classification':
      return { required: [m.text, ...(m.textPair ? [m.textPair] : []), m.label], optional: [] };
  }
}

export function describeMapping(m: ColumnMapping): string {
  switch (m.kind) {
    case 'alpaca':
      return `alpaca (instruction: ${m.instruction}${m.input ? `, input: ${m.input}` : ''}, output: ${m.output}${m.system ? `, system: ${m.system}` : ''})`;
    case 'chat':
      return `chat (${m.messages}[].${m.role} / ${m.content})`;
    case 'prompt_completion':
      return `prompt/completion (${m.prompt} → ${m.completion})`;
    case 'text':
      return `text (${m.text})`;
    case 'text_label':
      return `text + label (${m.text} → ${m.label})`;
    case 'classification':
      return `classification (${m.text}${m.textPair ? ` + ${m.textPair}` : ''} → ${m.label}${m.task ? `, ${m.task.replace('_', '-')}` : ''})`;
  }
}

/** The roles of each schema, as `--columns role=column` names them (aliases after the canonical name). */
const ROLES: Record<SchemaKind, Record<string, string[]>> = {
  alpaca: { instruction: ['instruction', 'prompt'], input: ['input', 'context'], output: ['output', 'response', 'answer'], system: ['system'] },
  chat: { messages: ['messages'], role: ['role'], content: ['content'] },
  prompt_completion: { prompt: ['prompt'], completion: ['completion', 'response'] },
  text: { text: ['text'] },
  text_label: { text: ['text'], label: ['label'] },
  classification: { text: ['text', 'text_a'], textPair: ['text_pair', 'text_b', 'pair'], label: ['label'] },
};

/** The CLI flags that select a mapping (`--schema alpaca --columns instruction=question,output=answer`). */
export function mappingFlags(m: ColumnMapping): string {
  const cols: string[] = [];
  const add = (role: string, col: string | undefined) => col !== undefined && cols.push(`${role}=${col}`);
  switch (m.kind) {
    case 'alpaca':
      add('instruction', m.instruction);
      add('input', m.input);
      add('output', m.output);
      add('system', m.system);
      break;
    case 'chat':
      add('messages', m.messages);
      if (m.role !== 'role' || m.content !== 'content') {
        add('role', m.role);
        add('content', m.content);
      }
      break;
    case 'prompt_completion':
      add('prompt', m.prompt);
      add('completion', m.completion);
      break;
    case 'text':
      add('text', m.text);
      break;
    case 'text_label':
      add('text', m.text);
      add('label', m.label);
      break;
    case 'classification':
      add('text', m.text);
      add('text_pair', m.textPair);
      add('label', m.label);
      break;
  }
  return `--schema ${m.kind} --columns ${cols.join(',')}${m.numbersAsText?.length ? ` --numbers-as-text ${m.numbersAsText.join(',')}` : ''}`;
}

export class MappingFlagError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MappingFlagError';
  }
}

/**
 * A mapping from CLI flags: `schema` (optional when the roles say it) and `columns` ("role=column,role=column").
 * `--columns prompt=question,response=answer` reads as prompt/completion; add `--schema alpaca` for the Alpaca template.
 */
export function parseColumnsFlag(columns: string, schema?: string, extra: { task?: ClassificationTask; numbersAsText?: string[] } = {}): ColumnMapping {
  const pairs = new Map<string, string>();
  for (const part of columns.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0 || eq === part.length - 1) throw new MappingFlagError(`--columns: "${part}" is not role=column (e.g. instruction=question,output=answer)`);
    const role = part.slice(0, eq).trim().toLowerCase();
    if (pairs.has(role)) throw new MappingFlagError(`--columns: role "${role}" given twice`);
    pairs.set(role, part.slice(eq + 1).trim());
  }
  let kind = schema as SchemaKind | undefined;
  if (kind !== undefined && !SCHEMA_KINDS.includes(kind)) throw new MappingFlagError(`--schema ${schema}: expected one of ${SCHEMA_KINDS.join(', ')}`);
  const has = (...r: string[]) => r.some((x) => pairs.has(x));
  if (!kind) {
    if (has('messages')) kind = 'chat';
    else if (has('instruction', 'output', 'input', 'system')) kind = 'alpaca';
    else if (has('prompt') && has('completion', 'response')) kind = 'prompt_completion';
    else if (has('text_pair', 'text_b', 'pair') || extra.task) kind = 'classification';
    else if (has('label')) kind = 'text_label';
    else if (has('text')) kind = 'text';
    else throw new MappingFlagError('--columns: cannot tell the schema from these roles; add --schema');
  }
  const roles = ROLES[kind];
  const resolved: Record<string, string> = {};
  for (const [role, col] of pairs) {
    const canonical = Object.entries(roles).find(([, names]) => names.includes(role))?.[0];
    if (!canonical) throw new MappingFlagError(`--columns: "${role}" is not a role of ${kind} (roles: ${Object.values(roles).map((n) => n[0]).join(', ')})`);
    resolved[canonical] = col;
  }
  const need = (role: string): string => {
    const v = resolved[role];
    if (!v) throw new MappingFlagError(`--columns: ${kind} needs ${role}=COLUMN`);
    return v;
  };
  const opts: MappingOptions = extra.numbersAsText?.length ? { numbersAsText: extra.numbersAsText } : {};
  switch (kind) {
    case 'alpaca':
      return { kind, instruction: need('instruction'), output: need('output'), ...(resolved.input ? { input: resolved.input } : {}), ...(resolved.system ? { system: resolved.system } : {}), ...opts };
    case 'chat':
      return { kind, messages: need('messages'), role: resolved.role ?? 'role', content: resolved.content ?? 'content', ...opts };
    case 'prompt_completion':
      return { kind, prompt: need('prompt'), completion: need('completion'), ...opts };
    case 'text':
      return { kind, text: need('text'), ...opts };
    case 'text_label':
      return { kind, text: need('text'), label: need('label'), ...opts };
    case 'classification':
      return { kind, text: need('text'), ...(resolved.textPair ? { textPair: resolved.textPair } : {}), label: need('label'), ...(extra.task ? { task: extra.task } : {}), ...opts };
  }
}
