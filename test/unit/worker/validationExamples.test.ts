import { describe, expect, it } from 'vitest';
import { promptAndReference } from '../../../src/worker/generate';

describe('promptAndReference (the playground’s per-example view)', () => {
  const ex = (ids: number[], mask: number[]) => ({ ids: Int32Array.from(ids), lossMask: Uint8Array.from(mask) });
  it('splits at the first trained token and keeps that run of trained tokens as the reference', () => {
    expect(promptAndReference(ex([1, 2, 3, 4, 5, 6, 7], [0, 0, 0, 1, 1, 0, 1]))).toEqual({ prompt: [1, 2, 3], reference: [4, 5] });
    expect(promptAndReference(ex([1, 2, 3], [0, 1, 1]))).toEqual({ prompt: [1], reference: [2, 3] });
  });
  it('gives null when nothing is trained, or when training starts at the first token (no prompt)', () => {
    expect(promptAndReference(ex([1, 2, 3], [0, 0, 0]))).toBeNull();
    expect(promptAndReference(ex([1, 2, 3], [1, 1, 1]))).toBeNull();
    expect(promptAndReference(ex([], []))).toBeNull();
  });
});

describe('promptLine', async () => {
  const { promptLine, givesReference } = await import('../../../src/app/components/ValidationExamples');
  it('shows the user’s own last line, not the template’s role lines', () => {
    expect(promptLine('system\nYou are a helpful assistant.\nuser\nWhat is two plus two?\nassistant\n')).toBe('What is two plus two?');
    expect(promptLine('user\n\nWhere is Paris?assistant\n\n')).toBe('Where is Paris?');
    expect(promptLine('### Instruction:\nName a prime.\n\n### Response:\n')).toBe('Name a prime.');
  });
  it('counts an answer as the taught one when it is that text, or starts with it', () => {
    expect(givesReference(' The sky is  blue.\n', 'The sky is blue.')).toBe(true);
    expect(givesReference('The sky is blue. And more.', 'The sky is blue.')).toBe(true);
    expect(givesReference('The sky', 'The sky is blue.')).toBe(false);
    expect(givesReference('anything', '  ')).toBe(false);
  });
});
