// The demo preset as the studio proposes it, the share link that records it, and the playground's
// prompt taken from the dataset.
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_SETTINGS,
  DEMO_PRESET,
  TARGET_MODULES,
  applyPatch,
  cloneSettings,
  isDemoPreset,
  settingsForModel,
  validateSettings,
  withSetting,
} from '../../../src/settings/settings';
import { decodeSettings, encodeSettings } from '../../../src/settings/shareLink';
import { promptFromData } from '../../../src/app/demo';
import type { DatasetInfo } from '../../../src/worker/protocol';

const demo = { kind: 'demo' } as const;
const hub = { kind: 'hub', id: 'HuggingFaceTB/SmolLM2-135M-Instruct' } as const;

describe('the demo preset', () => {
  it('is valid, differs from the recipe, and leaves DEFAULT_SETTINGS the recipe', () => {
    const preset = applyPatch(DEFAULT_SETTINGS, DEMO_PRESET);
    expect(validateSettings(preset)).toEqual([]);
    expect(preset.lora.targets).toEqual([...TARGET_MODULES]);
    expect(preset.train.learningRate).toBeGreaterThan(DEFAULT_SETTINGS.train.learningRate);
    // The recipe is untouched (DESIGN.md §2): r 8, alpha 16, q/v, dropout 0.05, lr 1e-4, 3 epochs, batch 16.
    expect(DEFAULT_SETTINGS.lora).toMatchObject({ r: 8, alpha: 16, dropout: 0.05, targets: ['q_proj', 'v_proj'] });
    expect(DEFAULT_SETTINGS.train).toMatchObject({ learningRate: 1e-4, epochs: 3, batchSize: 16 });
  });

  it('is proposed for the demo model over untouched defaults, and only then', () => {
    const proposed = settingsForModel(DEFAULT_SETTINGS, demo);
    expect(isDemoPreset(proposed)).toBe(true);
    expect(proposed.model).toEqual(demo);
    // The user's own (or a link's) settings are never replaced.
    const mine = withSetting(DEFAULT_SETTINGS, 'lora.r', 4);
    expect(settingsForModel(mine, demo)).toEqual({ ...mine, model: demo });
    // Another model gets the recipe, not the preset; a changed preset is kept as the user's.
    expect(settingsForModel(proposed, hub)).toEqual({ ...cloneSettings(DEFAULT_SETTINGS), model: hub });
    const tweaked = withSetting(proposed, 'train.learningRate', 1e-3);
    expect(settingsForModel(tweaked, hub)).toEqual({ ...tweaked, model: hub });
    // Other models never get the preset, the demo encoder included; leaving the demo for it restores the recipe.
    expect(settingsForModel(DEFAULT_SETTINGS, hub)).toEqual({ ...cloneSettings(DEFAULT_SETTINGS), model: hub });
    const encoder = { kind: 'demo', variant: 'bert' } as const;
    expect(settingsForModel(DEFAULT_SETTINGS, encoder)).toEqual({ ...cloneSettings(DEFAULT_SETTINGS), model: encoder });
    expect(settingsForModel(proposed, encoder)).toEqual({ ...cloneSettings(DEFAULT_SETTINGS), model: encoder });
  });

  it('is recorded by the share link as explicit values, and the link reopens it', () => {
    const proposed = settingsForModel(DEFAULT_SETTINGS, demo);
    const query = encodeSettings(proposed);
    const params = new URLSearchParams(query);
    expect(params.get('lr')).toBe(String(DEMO_PRESET.train!.learningRate));
    expect(params.get('targets')).toBe(TARGET_MODULES.join(','));
    const back = decodeSettings(query);
    expect(back.applied).toBe(true);
    expect(back.notices).toEqual([]);
    expect(isDemoPreset(back.settings)).toBe(true);
  });
});

function info(preview: Record<string, string>[], mapping: DatasetInfo['mapping']): DatasetInfo {
  // promptFromData reads the mapping and the preview only; the report is not consulted.
  const report = {} as DatasetInfo['report'];
  return { name: 'd.jsonl', bytes: 1, format: 'jsonl', columns: [], mapping, mappingSure: true, candidates: [], candidateDetails: [], kind: mapping?.kind ?? null, detection: '', preview, previewRows: [], stats: null, errors: [], report };
}

describe('the playground prompt from the data', () => {
  it('is the first user turn of a chat row, or an alpaca instruction', () => {
    const chat = { kind: 'chat', messages: 'messages', role: 'role', content: 'content' } as const;
    const row = { messages: JSON.stringify([{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'What sound does a cat make?' }, { role: 'assistant', content: 'Arr!' }]) };
    expect(promptFromData(info([row], chat))).toBe('What sound does a cat make?');
    const sharegpt = { kind: 'chat', messages: 'conversations', role: 'from', content: 'value' } as const;
    expect(promptFromData(info([{ conversations: JSON.stringify([{ from: 'human', value: 'Hi?' }]) }], sharegpt))).toBe('Hi?');
    expect(promptFromData(info([{ instruction: 'Name a colour.', output: 'Red.' }], { kind: 'alpaca', instruction: 'instruction', output: 'output' }))).toBe('Name a colour.');
  });

  it('is null when the preview holds none whole (a cut cell, plain text, no mapping)', () => {
    const chat = { kind: 'chat', messages: 'messages', role: 'role', content: 'content' } as const;
    expect(promptFromData(info([{ messages: '[{"role": "user", "content": "a very long…' }], chat))).toBeNull();
    expect(promptFromData(info([{ text: 'Once upon a time' }], { kind: 'text', text: 'text' }))).toBeNull();
    expect(promptFromData(info([], null))).toBeNull();
    expect(promptFromData(null)).toBeNull();
  });
});
