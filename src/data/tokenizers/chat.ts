/**
 * Which characters of a rendered conversation belong to which message, from ONE render of the chat template.
 *
 * The template is parsed once more (with the same Jinja implementation transformers.js uses) and the body of every
 * `for` loop gets a marker at its start and at its end, read from two hidden fields of each message object (a
 * private-use character and the message's index). The markers are stripped after rendering; where they stood are the
 * message boundaries. A message's region runs from its start marker to its end marker, which includes the
 * template's end-of-turn text — the same boundaries that rendering the conversation's prefixes gives (2 × turns + 1
 * renders), which remains the fallback.
 *
 * Trust is established per template and checked per row:
 * - per template (once): the generation prompt is what `add_generation_prompt` appends; probe conversations render
 *   identically with and without markers, and their trained spans equal those of the prefix renders. A template
 *   that fails (markers inside captured blocks, messages dumped as JSON, a template that rewrites earlier turns) is
 *   never rendered this way;
 * - per row: every message has a marker, in order, in the same loop; no content contains the marker characters;
 *   each assistant region starts with the generation prompt and contains the assistant's (trimmed) text. A row that
 *   fails falls back to the prefix renders.
 */
import type { ChatMessage } from '../normalize';

/** A character range [start, end) of a rendered text. */
export interface Span {
  start: number;
  end: number;
}

/** What a chat template needs from a tokenizer (transformers.js PreTrainedTokenizer fits). */
export interface ChatTemplateHost {
  apply_chat_template(messages: { role: string; content: string }[], options: Record<string, unknown>): unknown;
  chat_template?: unknown;
  config?: Record<string, unknown>;
  get_chat_template?(options?: Record<string, unknown>): string;
  _compiled_template_cache?: Map<string, { parsed: unknown; render(items: Record<string, unknown>): string }>;
}

interface JinjaTemplate {
  parsed: { body: unknown[] };
  render(items: Record<string, unknown>): string;
}
type TemplateClass = new (source: string) => JinjaTemplate;

const START = '\uE000';
const END = '\uE002';
const CLOSE = '\uE001';
const MARKER_CHARS = /[\uE000-\uE002]/;
const MARKERS = /\uE000(\d+)\uE001|\uE002(\d+)\uE001/g;

const SPECIAL_TOKEN_ATTRIBUTES = ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token'];

/** The special tokens transformers.js passes to a template (`getTokenFromConfig` over these keys). */
function specialTokensMap(config: Record<string, unknown> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!config) return out;
  for (const key of SPECIAL_TOKEN_ATTRIBUTES) {
    const v = config[key];
    if (typeof v === 'string' && v) out[key] = v;
    else if (v && typeof v === 'object' && (v as { __type?: string }).__type === 'AddedToken') out[key] = String((v as { content: unknown }).content);
  }
  return out;
}

/** Renders a conversation as apply_chat_template does, and the region of each message in it. */
export class ChatRenderer {
  /** Text `add_generation_prompt` appends (ChatML: "<|im_start|>assistant\n"). */
  readonly generationPrompt: string;
  private readonly instrumented: JinjaTemplate;
  private readonly globals: Record<string, unknown>;

  private constructor(instrumented: JinjaTemplate, generationPrompt: string, globals: Record<string, unknown>) {
    this.instrumented = instrumented;
    this.generationPrompt = generationPrompt;
    this.globals = globals;
  }

  /**
   * A renderer for this tokenizer's chat template, or the reason there is none (no template, markers change its
   * output, the template is not prefix-stable...). Callers then render prefixes (chatSpansByPrefixes).
   */
  static create(host: ChatTemplateHost): ChatRenderer | { reason: string } {
    let source: string;
    try {
      source = host.get_chat_template ? host.get_chat_template({}) : (host.chat_template as string);
    } catch (e) {
      return { reason: (e as Error).message };
    }
    if (typeof source !== 'string' || !source) return { reason: 'the tokenizer has no chat_template' };
    const plain = (messages: ChatMessage[], gen: boolean) =>
      host.apply_chat_template(messages as { role: string; content: string }[], { tokenize: false, add_generation_prompt: gen }) as string;
    let Template: TemplateClass | undefined;
    try {
      plain([{ role: 'user', content: 'x' }], false);
      const compiled = host._compiled_template_cache?.get(source);
      Template = compiled?.constructor as TemplateClass | undefined;
    } catch (e) {
      return { reason: `the template refuses a one-message conversation: ${(e as Error).message}` };
    }
    if (!Template) return { reason: 'the tokenizer does not expose its compiled template (not a transformers.js tokenizer)' };
    let instrumented: JinjaTemplate;
    try {
      instrumented = new Template(source);
      instrument(instrumented.parsed, Template);
    } catch (e) {
      return { reason: `cannot instrument the template: ${(e as Error).message}` };
    }
    let generationPrompt: string;
    try {
      const probe: ChatMessage[] = [{ role: 'user', content: 'Hello' }];
      const without = plain(probe, false);
      const withPrompt = plain(probe, true);
      if (!withPrompt.startsWith(without)) return { reason: 'add_generation_prompt changes the conversation before it' };
      generationPrompt = withPrompt.slice(without.length);
    } catch (e) {
      return { reason: (e as Error).message };
    }
    const renderer = new ChatRenderer(instrumented, generationPrompt, specialTokensMap(host.config));
    const reason = renderer.selfCheck(plain);
    return reason ? { reason } : renderer;
  }

  /** Probe conversations must render identically with markers, with the same spans as the prefix renders. */
  private selfCheck(plain: (m: ChatMessage[], gen: boolean) => string): string | undefined {
    const probes: ChatMessage[][] = [
      [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hello there' },
        { role: 'assistant', content: 'Hi! How are you?' },
        { role: 'user', content: ' Fine, thanks. ' },
        { role: 'assistant', content: 'Good to hear.\n' },
      ],
      [
        { role: 'user', content: 'What is 2+2?' },
        { role: 'assistant', content: '4' },
        { role: 'user', content: 'And 3+3?' },
        { role: 'assistant', content: '6' },
      ],
      [
        { role: 'user', content: 'One' },
        { role: 'assistant', content: 'Two' },
      ],
    ];
    let checked = 0;
    for (const messages of probes) {
      let expected: string;
      try {
        expected = plain(messages, false);
      } catch {
        continue; // the template refuses this shape (a system turn, say); try the next probe
      }
      const r = this.render(messages);
      if ('reason' in r) return `probe conversation: ${r.reason}`;
      if (r.text !== expected) return 'markers change the rendered text (the template captures or transforms its own output)';
      const byPrefixes = chatSpansByPrefixes(messages, plain);
      if ('reason' in byPrefixes) return byPrefixes.reason;
      const mine = this.assistantSpans(r, messages, 0);
      if ('reason' in mine) return `probe conversation: ${mine.reason}`;
      if (JSON.stringify(mine) !== JSON.stringify(byPrefixes.spans)) return 'message regions differ from the prefix renders';
      checked++;
    }
    return checked ? undefined : 'the template refused every probe conversation';
  }

  /** The conversation's text (exactly apply_chat_template's) and each message's region, or why not. */
  render(messages: ChatMessage[]): { text: string; regions: Span[] } | { reason: string } {
    for (const m of messages) if (MARKER_CHARS.test(m.content)) return { reason: 'content holds private-use characters U+E000–U+E002' };
    const tagged = messages.map((m, i) => ({ ...m, __s: `${START}${i}${CLOSE}`, __e: `${END}${i}${CLOSE}` }));
    const raw = this.instrumented.render({ messages: tagged, add_generation_prompt: false, tools: null, documents: null, ...this.globals });
    const n = messages.length;
    // The last iteration over a message wins: loops that only look at the messages (a reversed pre-pass) come first.
    const startAt = new Array<number>(n).fill(-1);
    const endAt = new Array<number>(n).fill(-1);
    let text = '';
    let last = 0;
    MARKERS.lastIndex = 0;
    for (let m = MARKERS.exec(raw); m !== null; m = MARKERS.exec(raw)) {
      text += raw.slice(last, m.index);
      last = m.index + m[0].length;
      const k = Number(m[1] ?? m[2]);
      if (k >= 0 && k < n) (m[1] !== undefined ? startAt : endAt)[k] = text.length;
    }
    text += raw.slice(last);
    const regions: Span[] = [];
    let prevEnd = 0;
    for (let k = 0; k < n; k++) {
      const start = startAt[k];
      const end = endAt[k];
      if (start < 0) return { reason: `message ${k + 1} has no place in the rendered text` };
      if (end >= 0 && end < start) return { reason: `message ${k + 1} ends before it starts` };
      if (start < prevEnd) return { reason: 'messages are rendered out of order' };
      regions.push({ start, end });
      if (end >= 0) prevEnd = end;
    }
    return { text, regions };
  }

  /** Trained spans: each assistant message from index `trainFrom` on, after the generation prompt, through its end of turn. */
  assistantSpans(r: { text: string; regions: Span[] }, messages: ChatMessage[], trainFrom: number): Span[] | { reason: string } {
    const spans: Span[] = [];
    const gp = this.generationPrompt;
    for (let k = 0; k < messages.length; k++) {
      if (messages[k].role !== 'assistant') continue;
      const { start, end } = r.regions[k];
      if (end < 0) return { reason: `assistant message ${k + 1} has no end (its loop iteration stops early)` };
      if (!r.text.startsWith(gp, start) || start + gp.length > end) return { reason: `assistant message ${k + 1} does not start with the generation prompt` };
      const content = messages[k].content.trim();
      if (content && r.text.slice(start + gp.length, end).indexOf(content) < 0) return { reason: `assistant message ${k + 1} is not inside its region` };
      if (k >= trainFrom) spans.push({ start: start + gp.length, end });
    }
    return spans;
  }
}

/**
 * The reference way to find trained spans: for each assistant turn k, render the conversation before it with the
 * generation prompt, and the conversation through it; the text between is trained. Needs a template that renders
 * a conversation's prefix as a prefix of its text (ChatML, Llama 3, Gemma do). 2 × assistant turns + 1 renders.
 */
export function chatSpansByPrefixes(
  messages: ChatMessage[],
  plain: (m: ChatMessage[], gen: boolean) => string,
  trainFrom = 0,
): { text: string; spans: Span[] } | { reason: string } {
  const spans: Span[] = [];
  let done = '';
  for (let k = 0; k < messages.length; k++) {
    if (messages[k].role !== 'assistant') continue;
    const prompt = plain(messages.slice(0, k), true);
    const full = plain(messages.slice(0, k + 1), false);
    if (!prompt.startsWith(done) || !full.startsWith(prompt)) {
      return {
        reason: `the chat template does not render assistant message ${k + 1} as an extension of the conversation before it, so turns cannot be masked (use trainOn: 'all')`,
      };
    }
    if (k >= trainFrom) spans.push({ start: prompt.length, end: full.length });
    done = full;
  }
  const text = plain(messages, false);
  if (!text.startsWith(done)) return { reason: 'the chat template renders the whole conversation differently from its turns' };
  return { text, spans };
}

/**
 * Adds a marker at the start and at the end of every `for` loop's body: `{{ v.__s }}` and `{{ v.__e }}`, where `v`
 * is the loop variable. Messages carry those two fields; for a loop over anything else (numbers, strings, tools) the
 * member is undefined and prints nothing.
 */
function instrument(program: { body: unknown[] }, Template: TemplateClass): void {
  const statement = (src: string): unknown => {
    const body = new Template(src).parsed.body;
    if (body.length !== 1) throw new Error('marker statement did not parse to one statement');
    return body[0];
  };
  const visit = (list: unknown[]): void => {
    for (const node of list as (Record<string, unknown> | null)[]) {
      if (!node || typeof node !== 'object') continue;
      for (const key of ['body', 'alternate', 'defaultBlock']) {
        const child = node[key];
        if (Array.isArray(child)) visit(child);
      }
      if (node.type !== 'For') continue;
      const loopvar = node.loopvar as { type: string; value: string };
      if (loopvar.type !== 'Identifier') continue;
      const body = node.body as unknown[];
      body.unshift(statement(`{{ ${loopvar.value}.__s }}`));
      body.push(statement(`{{ ${loopvar.value}.__e }}`));
    }
  };
  visit(program.body);
}
