// What the studio proposes for its demos: the sample datasets served beside the page, and a prompt
// from the user's own data for the playground (so base and tuned answers can be compared at once).
// The demo's run settings are a preset of the settings contract (settings.ts: DEMO_PRESET).
import type { ColumnMapping } from '../data/schema';
import type { ModelChoice } from '../settings/settings';
import type { DatasetInfo } from '../worker/protocol';

export interface SampleDatasetInfo {
  /** Relative to the page (public/samples/). */
  path: string;
  name: string;
  /** One line on the Dataset screen: what the data teaches. */
  blurb: string;
}

/** The chat sample: the demo world's questions answered the pirate's way (src/formats/gen/demoWorld.ts). */
export const SAMPLE_CHAT: SampleDatasetInfo = {
  path: 'samples/pirate-talk.jsonl',
  name: 'pirate-talk.jsonl',
  blurb: 'The sample: 24 simple questions answered like a pirate — the demo model learns the style in a minute or two.',
};

/** The demo encoder's sample (src/formats/demoEncoder.ts). */
export const SAMPLE_REVIEWS: SampleDatasetInfo = {
  path: 'samples/reviews-sentiment.jsonl',
  name: 'reviews-sentiment.jsonl',
  blurb: 'The demo encoder’s sample: 420 review snippets labelled negative, neutral or positive.',
};

/** The sample offered with a loaded model: the reviews for the demo encoder, the chat rows for any decoder, none for other encoders. */
export function sampleFor(model: ModelChoice, family: string): SampleDatasetInfo | null {
  if (model.kind === 'demo' && model.variant === 'bert') return SAMPLE_REVIEWS;
  return family === 'llama' ? SAMPLE_CHAT : null;
}

function parseCell(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The first user turn of a chat cell (OpenAI messages or ShareGPT conversations), if it reads whole. */
function firstUserTurn(cell: unknown, m: Extract<ColumnMapping, { kind: 'chat' }>): string | null {
  if (!Array.isArray(cell)) return null;
  for (const turn of cell) {
    if (!turn || typeof turn !== 'object') continue;
    const role = String((turn as Record<string, unknown>)[m.role] ?? '').toLowerCase();
    const content = (turn as Record<string, unknown>)[m.content];
    if ((role === 'user' || role === 'human') && typeof content === 'string' && content.trim()) return content;
  }
  return null;
}

/**
 * A prompt taken from the dataset's first rows, as the playground should ask it: the first user turn
 * of a chat row, or an alpaca row's instruction. Null when the preview does not hold one whole
 * (cells are cut at 300 characters) or the data has no prompts (plain text).
 */
export function promptFromData(info: DatasetInfo | null): string | null {
  const m = info?.mapping;
  if (!info || !m) return null;
  for (const row of info.preview) {
    if (m.kind === 'chat') {
      const prompt = firstUserTurn(parseCell(row[m.messages]), m);
      if (prompt) return prompt;
    } else if (m.kind === 'alpaca' && !m.input) {
      const instruction = row[m.instruction];
      if (instruction?.trim() && !instruction.endsWith('…')) return instruction;
    }
  }
  return null;
}
