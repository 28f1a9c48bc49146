/**
 * The dataset schemas the studio understands and how a row's columns map onto them. A mapping is either detected
 * (detect.ts) or chosen by the user when detection is unsure.
 */
export type SchemaKind = 'alpaca' | 'chat' | 'prompt_completion' | 'text' | 'text_label';

export type ColumnMapping =
  /** Alpaca (Stanford, LLaMA-Factory): instruction, optional input, output, optional system. */
  | { kind: 'alpaca'; instruction: string; input?: string; output: string; system?: string }
  /** Chat: a list of messages. OpenAI/TRL: messages[].role/content; ShareGPT: conversations[].from/value. */
  | { kind: 'chat'; messages: string; role: string; content: string }
  /** Prompt/completion (OpenAI legacy, TRL). Either both strings, or both lists of chat messages (TRL conversational). */
  | { kind: 'prompt_completion'; prompt: string; completion: string }
  /** Plain text for continued pre-training: every token is trained. */
  | { kind: 'text'; text: string }
  /** Text with a class label: the model learns to answer the label (see templates.ts). */
  | { kind: 'text_label'; text: string; label: string };

export const SCHEMA_KINDS: SchemaKind[] = ['alpaca', 'chat', 'prompt_completion', 'text', 'text_label'];

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
  }
}
