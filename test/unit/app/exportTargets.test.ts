// The Library's "Export for…" destinations by adapter: a decoder's every one, an encoder
// classifier's (SEQ_CLS) PEFT, transformers.js and Hugging Face, in words for a classifier.
import { describe, expect, it } from 'vitest';
import { adapterKind, EXPORT_TARGETS, exportTargetsFor } from '../../../src/app/exportTargets';

describe('export targets', () => {
  it('an adapter is an encoder classifier\'s when its adapter_config.json says SEQ_CLS', () => {
    expect(adapterKind(JSON.stringify({ peft_type: 'LORA', task_type: 'SEQ_CLS' }))).toBe('encoder');
    expect(adapterKind(JSON.stringify({ peft_type: 'LORA', task_type: 'CAUSAL_LM' }))).toBe('decoder');
    expect(adapterKind('not json')).toBe('decoder');
  });

  it('a decoder\'s adapter goes everywhere; an encoder\'s not to GGUF, described as a classifier', () => {
    expect(exportTargetsFor('decoder')).toBe(EXPORT_TARGETS);
    const enc = exportTargetsFor('encoder');
    expect(enc.map((t) => t.target)).toEqual(['peft', 'onnx', 'hf']);
    expect(enc.find((t) => t.target === 'onnx')!.detail).toMatch(/pipeline\("text-classification", folder\)/);
    expect(enc.find((t) => t.target === 'hf')!.detail).toMatch(/AutoModelForSequenceClassification/);
    expect(enc.find((t) => t.target === 'peft')!.detail).toMatch(/labels \(config\.json\)/);
    expect(enc.find((t) => t.target === 'onnx')!.quants).toEqual(EXPORT_TARGETS.find((t) => t.target === 'onnx')!.quants);
  });
});
