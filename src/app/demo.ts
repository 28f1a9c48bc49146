// What the studio proposes for its demo: the sample dataset served beside the page, and a prompt
// from the user's own data for the playground (so base and tuned answers can be compared at once).
// The demo's run settings are a preset of the settings contract (settings.ts: DEMO_PRESET).
import type { ColumnMapping } from '../data/schema';
import type { DatasetInfo } from '../worker/protocol';

/** The sample dataset, relative to the page (public/samples/). */
export const SAMPLE_DATASET = { path: 'samples/pirate-talk.jsonl', name: 'pirate-talk.jsonl' } as const;

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
