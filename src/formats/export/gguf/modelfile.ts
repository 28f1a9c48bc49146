/**
 * An Ollama Modelfile for the GGUF download. Ollama's TEMPLATE is a Go template, not Jinja: the
 * chat formats it can be written for exactly (ChatML, Llama 3) get a TEMPLATE; for any other, the
 * Modelfile leaves TEMPLATE out, and Ollama falls back on the template it recognizes from the
 * GGUF's tokenizer.chat_template (or the user writes one).
 */

export interface ModelfileOptions {
  /** FROM: a GGUF path relative to the Modelfile ("./model-f16.gguf") or an Ollama model name. */
  from: string;
  /** ADAPTER: the LoRA GGUF, when the base is not merged. */
  adapter?: string;
  /** The Jinja chat template of the tokenizer (tokenizer_config.json), if any. */
  chatTemplate: string | null;
  /** Token texts that end a turn (EOS and friends): PARAMETER stop lines. */
  stop: string[];
  /** Comment lines written first (without the "# "). */
  comments?: string[];
}

const CHATML = `{{- range .Messages }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ end }}<|im_start|>assistant
`;

const LLAMA3 = `{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>

{{ .Content }}<|eot_id|>
{{- end }}<|start_header_id|>assistant<|end_header_id|>

`;

/** The Go template of a known Jinja chat format, or null. */
export function ollamaTemplate(chatTemplate: string | null): string | null {
  if (!chatTemplate) return null;
  if (chatTemplate.includes('<|im_start|>') && chatTemplate.includes('<|im_end|>')) return CHATML;
  if (chatTemplate.includes('<|start_header_id|>') && chatTemplate.includes('<|eot_id|>')) return LLAMA3;
  return null;
}

export function ollamaModelfile(options: ModelfileOptions): string {
  const lines = [...(options.comments ?? []).map((c) => `# ${c}`), `FROM ${options.from}`];
  if (options.adapter) lines.push(`ADAPTER ${options.adapter}`);
  const template = ollamaTemplate(options.chatTemplate);
  if (template) lines.push(`TEMPLATE """${template}"""`);
  else if (options.chatTemplate) lines.push('# The chat template is not ChatML or Llama 3: Ollama uses the one it recognizes from the GGUF metadata; write a TEMPLATE here if it does not.');
  for (const s of options.stop) lines.push(`PARAMETER stop ${JSON.stringify(s)}`);
  return lines.join('\n') + '\n';
}
