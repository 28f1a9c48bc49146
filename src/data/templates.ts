/**
 * Default prompt templates for schemas that carry no chat structure. Chat rows never use these: they go through
 * the tokenizer's own chat template (apply_chat_template).
 *
 * Alpaca: the Stanford Alpaca prompt, word for word, with its two variants (with and without input). A `system`
 * column replaces the preamble sentence. Only the response is trained by default.
 *
 * Prompt/completion (strings): prompt and completion are joined as they are, no separator, as TRL does.
 *
 * Text + label: `{text}\nLabel:` is the prompt and ` {label}` the response, so the model learns to name the label.
 */
export const ALPACA_PREAMBLE_INPUT =
  'Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.';
export const ALPACA_PREAMBLE = 'Below is an instruction that describes a task. Write a response that appropriately completes the request.';

export function alpacaPrompt(instruction: string, input?: string, system?: string): string {
  const hasInput = input !== undefined && input.trim() !== '';
  const preamble = system && system.trim() !== '' ? system : hasInput ? ALPACA_PREAMBLE_INPUT : ALPACA_PREAMBLE;
  return hasInput
    ? `${preamble}\n\n### Instruction:\n${instruction}\n\n### Input:\n${input}\n\n### Response:\n`
    : `${preamble}\n\n### Instruction:\n${instruction}\n\n### Response:\n`;
}

export function labelPrompt(text: string): { prompt: string; response: (label: string) => string } {
  return { prompt: `${text}\nLabel:`, response: (label) => ` ${label}` };
}
