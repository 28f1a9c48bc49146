import { describe, expect, it } from 'vitest';
import { decodeSettings, encodeSettings, shareLink } from '../../../src/settings/shareLink';
import { DEFAULT_SETTINGS, cloneSettings } from '../../../src/settings/settings';

describe('share link URL state', () => {
  it('round-trips every setting through the query string', () => {
    const s = cloneSettings(DEFAULT_SETTINGS);
    s.model = { kind: 'hub', id: 'HuggingFaceTB/SmolLM2-135M-Instruct' };
    s.lora = { r: 16, alpha: 32, dropout: 0.1, targets: ['v_proj', 'q_proj', 'down_proj'], useRslora: true, layers: null };
    s.train = { ...s.train, learningRate: 2e-4, epochs: 2, batchSize: 32, microBatch: 2, weightDecay: 0, schedule: 'cosine', warmupRatio: 0.1, maxLength: 1024, seed: 7, maxSteps: 40, maxGradNorm: 0.5, packing: true, shuffle: false, gradientCheckpointing: 'on', encoderDropout: false };
    s.data = { trainOn: 'all', validationFraction: 0.2, onBadRows: 'skip', task: 'multi-label' };
    s.eval = { evalInterval: 5, logInterval: 2, checkpointInterval: 3 };
    const { settings, notices, applied } = decodeSettings(encodeSettings(s));
    expect(notices).toEqual([]);
    expect(applied).toBe(true);
    expect(settings).toEqual({ ...s, lora: { ...s.lora, targets: ['q_proj', 'v_proj', 'down_proj'] } });
  });

  it('writes nothing for the defaults, and the defaults come back', () => {
    expect(encodeSettings(DEFAULT_SETTINGS)).toBe('');
    expect(decodeSettings('').settings).toEqual(DEFAULT_SETTINGS);
  });

  it('builds links under any base path', () => {
    const s = cloneSettings(DEFAULT_SETTINGS);
    s.lora.r = 4;
    expect(shareLink(s, 'https://example.org/some/sub/dir/?old=1#x')).toBe('https://example.org/some/sub/dir/?r=4');
  });

  it('ignores unknown and hostile parameters with a plain-text notice', () => {
    const q = new URLSearchParams({
      '<img src=x onerror=alert(1)>': '1',
      model: 'javascript:alert(1)',
      r: '1e400',
      lr: '0x10',
      alpha: 'Infinity',
      targets: 'q_proj,__proto__',
      schedule: 'constructor',
      epochs: '3',
    }).toString();
    const { settings, notices } = decodeSettings(q);
    expect(settings.model).toEqual({ kind: 'demo' });
    expect(settings.lora).toEqual(DEFAULT_SETTINGS.lora);
    expect(settings.train.learningRate).toBe(DEFAULT_SETTINGS.train.learningRate);
    expect(settings.train.schedule).toBe('linear');
    expect(notices.length).toBe(7);
    expect(notices[0]).toMatch(/^Ignored unknown link parameter “<img src=x onerror=alert\(1\)>”\.$/);
    expect(notices.join('\n')).toMatch(/model.*javascript:alert\(1\).*not a hub model id/);
  });

  it('refuses out-of-range numbers, non-integers where integers belong, and path-like hub ids', () => {
    for (const q of ['r=0', 'r=2.5', 'dropout=0.95', 'micro=-1', 'maxlen=1000000', 'lr=10', 'model=../../etc/passwd', 'model=a/b/c', 'model=https://evil.example/x', 'rslora=maybe']) {
      const d = decodeSettings(q);
      expect(d.settings, q).toEqual(DEFAULT_SETTINGS);
      expect(d.notices.length, q).toBe(1);
    }
  });

  it('caps notices from a link with thousands of parameters and bounds quoted text', () => {
    const q = Array.from({ length: 3000 }, (_, i) => `p${i}=${'x'.repeat(50)}`).join('&') + `&${'y'.repeat(5000)}=1`;
    const { notices } = decodeSettings(q);
    expect(notices.length).toBe(9);
    expect(notices.at(-1)).toMatch(/and more/);
    expect(Math.max(...notices.map((n) => n.length))).toBeLessThan(120);
  });

  it('takes the first of a repeated parameter', () => {
    const { settings, notices } = decodeSettings('r=4&r=64');
    expect(settings.lora.r).toBe(4);
    expect(notices).toHaveLength(1);
  });
});
