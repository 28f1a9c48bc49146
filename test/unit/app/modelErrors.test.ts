import { describe, expect, it } from 'vitest';
import { explainModelError, hubIdProblem } from '../../../src/app/modelErrors';
import { formatEpoch, formatMetric, metricLabel } from '../../../src/app/format';

const hub = (id: string) => ({ kind: 'hub' as const, id });

describe('model load messages', () => {
  it('offline names the host and what to do, never "Failed to fetch" alone', () => {
    const m = explainModelError(hub('HuggingFaceTB/SmolLM2-135M-Instruct'), 'ModelLoadError: HuggingFaceTB/SmolLM2-135M-Instruct: TypeError: Failed to fetch');
    expect(m).toMatch(/Could not reach huggingface\.co/);
    expect(m).toMatch(/“HuggingFaceTB\/SmolLM2-135M-Instruct”/);
    expect(m).toMatch(/offline/);
    expect(m).toMatch(/demo model/);
  });

  it('a missing repository names it and says to check the spelling', () => {
    const m = explainModelError(hub('nobody/no-such-model'), 'ModelLoadError: nobody/no-such-model: ModelFolderError: nobody/no-such-model@main/config.json: not found: a model folder needs its config.json');
    expect(m).toBe('huggingface.co has no model “nobody/no-such-model” (no config.json at https://huggingface.co/nobody/no-such-model): check the owner and name (they are case-sensitive) on huggingface.co.');
  });

  it('a gated repository asks for a token; a refused token says so', () => {
    const gated = 'ModelLoadError: meta-llama/Llama-3.2-1B: HubError: meta-llama/Llama-3.2-1B/config.json: HTTP 401: the repository is gated';
    expect(explainModelError(hub('meta-llama/Llama-3.2-1B'), gated)).toMatch(/gated or private.*access token field/);
    expect(explainModelError(hub('meta-llama/Llama-3.2-1B'), gated, { tokenGiven: true })).toMatch(/refused the access token/);
  });
});

describe('hub id field', () => {
  it('says why an id is not one', () => {
    expect(hubIdProblem('HuggingFaceTB/SmolLM2-135M')).toBeNull();
    expect(hubIdProblem('')).toBeNull();
    expect(hubIdProblem('https://huggingface.co/HuggingFaceTB/SmolLM2-135M/tree/main')).toBe('Paste only the id, “HuggingFaceTB/SmolLM2-135M”, not the page’s address.');
    expect(hubIdProblem('SmolLM2')).toMatch(/owner and a name/);
    expect(hubIdProblem('a b/c')).toMatch(/no spaces/);
    expect(hubIdProblem('a/b/c')).toMatch(/just owner\/name/);
    expect(hubIdProblem('../etc/passwd')).not.toBeNull();
  });
});

describe('run numbers', () => {
  it('epochs read as HF logs them, never rounded past what is done', () => {
    expect(formatEpoch(2.9666, 3)).toBe('2.96 of 3');
    expect(formatEpoch(2.999, 3)).toBe('2.99 of 3');
    expect(formatEpoch(3, 3)).toBe('3 of 3');
    expect(formatEpoch(4, 3)).toBe('3 of 3');
    expect(formatEpoch(1, 20 / 6)).toBe('1 of 3.33');
  });

  it('metrics by their HF names', () => {
    expect(metricLabel('eval_accuracy')).toBe('accuracy');
    expect(metricLabel('eval_f1')).toBe('F1');
    expect(formatMetric('eval_accuracy', 0.8125)).toBe('0.8125');
    expect(formatMetric('eval_perplexity', 512.3456)).toBe('512.3');
    expect(formatMetric('eval_loss', NaN)).toBe('—');
  });
});
