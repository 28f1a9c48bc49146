import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/formats/hfConfig';
import {
  checkEncoderWeights, labelsFromConfig, parseEncoderConfig, sequenceClassificationConfig, trainedHeadModules, type EncoderConfig,
} from '../../../src/formats/encoderConfig';
import { memoryFiles, openModelFolder } from '../../../src/formats/modelFolder';
import { generateEncoderModel } from '../../../src/formats/generateEncoder';
import { AdapterError, adapterConfigJson, inspectPeftAdapter, parseAdapterConfig, readPeftAdapter, writePeftAdapter, type LoraConfig } from '../../../src/formats/peft';
import { encoderAdapterLayoutFor, encoderMemoryPlan, encoderTargetModules } from '../../../src/engine/model/encoderSpec';
import { adapterTensors } from '../../../src/engine/model/lora';
import { loadTokenizer, prepareTokenizer } from '../../../src/data/tokenize';
import { encodeClassification } from '../../../src/data/classify';
import { DEMO_ENCODER_OPTIONS } from '../../../src/formats/demoEncoder';
import type { TargetModule } from '../../../src/settings/settings';
import { uniformValues } from '../../helpers/random';

// config.json as the hub serves these models.
const BERT_BASE = {
  architectures: ['BertForMaskedLM'], attention_probs_dropout_prob: 0.1, gradient_checkpointing: false, hidden_act: 'gelu', hidden_dropout_prob: 0.1, hidden_size: 768,
  initializer_range: 0.02, intermediate_size: 3072, layer_norm_eps: 1e-12, max_position_embeddings: 512, model_type: 'bert', num_attention_heads: 12,
  num_hidden_layers: 12, pad_token_id: 0, position_embedding_type: 'absolute', transformers_version: '4.6.0.dev0', type_vocab_size: 2, use_cache: true, vocab_size: 30522,
};
const DISTILBERT_SST2 = {
  activation: 'gelu', architectures: ['DistilBertForSequenceClassification'], attention_dropout: 0.1, dim: 768, dropout: 0.1, finetuning_task: 'sst-2', hidden_dim: 3072,
  id2label: { 0: 'NEGATIVE', 1: 'POSITIVE' }, initializer_range: 0.02, label2id: { NEGATIVE: 0, POSITIVE: 1 }, max_position_embeddings: 512, model_type: 'distilbert',
  n_heads: 12, n_layers: 6, output_past: true, pad_token_id: 0, qa_dropout: 0.1, seq_classif_dropout: 0.2, sinusoidal_pos_embds: false, tie_weights_: true, vocab_size: 30522,
};
const ROBERTA_BASE = {
  architectures: ['RobertaForMaskedLM'], attention_probs_dropout_prob: 0.1, bos_token_id: 0, eos_token_id: 2, hidden_act: 'gelu', hidden_dropout_prob: 0.1, hidden_size: 768,
  initializer_range: 0.02, intermediate_size: 3072, layer_norm_eps: 1e-5, max_position_embeddings: 514, model_type: 'roberta', num_attention_heads: 12,
  num_hidden_layers: 12, pad_token_id: 1, type_vocab_size: 1, vocab_size: 50265,
};
const XLM_ROBERTA_BASE = { ...ROBERTA_BASE, architectures: ['XLMRobertaForMaskedLM'], model_type: 'xlm-roberta', vocab_size: 250002, output_past: true };

describe('encoder config.json (BertConfig, RobertaConfig, DistilBertConfig as Transformers reads them)', () => {
  it('bert-base-uncased: the recipe\'s model, Transformers\' defaults for the head (2 labels, LABEL_0/1, no problem_type)', () => {
    expect(parseEncoderConfig(BERT_BASE)).toEqual({
      family: 'bert', modelType: 'bert', architecture: 'BertForSequenceClassification', hiddenSize: 768, numLayers: 12, numHeads: 12, intermediateSize: 3072,
      vocabSize: 30522, maxPositionEmbeddings: 512, typeVocabSize: 2, layerNormEps: 1e-12, padTokenId: 0, hiddenDropout: 0.1, attentionDropout: 0.1,
      classifierDropout: 0.1, initializerRange: 0.02, numLabels: 2, id2label: ['LABEL_0', 'LABEL_1'], problemType: null,
    } satisfies EncoderConfig);
  });

  it('DistilBERT spells its fields its own way (dim, n_layers, dropout, seq_classif_dropout) and a fine-tuned head names its labels', () => {
    expect(parseEncoderConfig(DISTILBERT_SST2)).toMatchObject({
      family: 'distilbert', hiddenSize: 768, numLayers: 6, numHeads: 12, intermediateSize: 3072, typeVocabSize: 0, layerNormEps: 1e-12,
      hiddenDropout: 0.1, attentionDropout: 0.1, classifierDropout: 0.2, numLabels: 2, id2label: ['NEGATIVE', 'POSITIVE'],
    });
  });

  it('RoBERTa and XLM-RoBERTa: eps 1e-5, one token type, padding_idx 1, 514 positions', () => {
    for (const c of [ROBERTA_BASE, XLM_ROBERTA_BASE]) {
      expect(parseEncoderConfig(c)).toMatchObject({ family: 'roberta', layerNormEps: 1e-5, typeVocabSize: 1, padTokenId: 1, maxPositionEmbeddings: 514 });
    }
    expect(parseEncoderConfig(XLM_ROBERTA_BASE).architecture).toBe('XLMRobertaForSequenceClassification');
    expect(parseEncoderConfig({ ...ROBERTA_BASE, classifier_dropout: 0.3, num_labels: 1, problem_type: 'regression' })).toMatchObject({ classifierDropout: 0.3, numLabels: 1, problemType: 'regression' });
  });

  const refused: [string, Record<string, unknown>, RegExp][] = [
    ['another activation', { ...BERT_BASE, hidden_act: 'gelu_new' }, /field "hidden_act": "gelu_new" is not supported/],
    ['relative positions', { ...BERT_BASE, position_embedding_type: 'relative_key' }, /field "position_embedding_type"/],
    ['heads that do not divide the hidden size', { ...BERT_BASE, num_attention_heads: 10 }, /not a multiple of 10 heads/],
    ['id2label with a hole', { ...BERT_BASE, id2label: { 0: 'a', 2: 'c' } }, /field "id2label"/],
    ['an unknown problem_type', { ...BERT_BASE, problem_type: 'ranking' }, /field "problem_type"/],
    ['a dropout of 1', { ...DISTILBERT_SST2, dropout: 1 }, /field "dropout"/],
  ];
  for (const [what, json, message] of refused) {
    it(`refuses ${what}, naming the field`, () => {
      expect(() => parseEncoderConfig(json)).toThrow(ConfigError);
      expect(() => parseEncoderConfig(json)).toThrow(message);
    });
  }

  it('a model folder picks its family from model_type and refuses unknown ones naming both lists', async () => {
    const gen = generateEncoderModel({ corpus: 'great movie. awful food!', hiddenSize: 16, numHeads: 4, intermediateSize: 32, numLayers: 1, maxPositionEmbeddings: 16, legacyLayerNormNames: true });
    const folder = await openModelFolder(memoryFiles(gen.files, 'tiny-bert'));
    expect(folder.family).toBe('encoder');
    if (folder.family !== 'encoder') return;
    expect(folder.weights.head).toBe('partial'); // BertModel: a pooler, no classifier
    expect(folder.weights.names.get('bert.embeddings.LayerNorm.weight')).toBe('bert.embeddings.LayerNorm.gamma');
    const gpt2 = new Map(gen.files);
    gpt2.set('config.json', JSON.stringify({ model_type: 'gpt2' }));
    await expect(openModelFolder(memoryFiles(gpt2, 'gpt2'))).rejects.toThrow(/"gpt2" is not a supported model \(decoders: llama, mistral, qwen2, qwen3; encoders for classification: bert, roberta, xlm-roberta, distilbert\)/);
  });

  it('weights: every body tensor under any accepted name; a missing one is named with every spelling tried; extra pre-training heads are ignored', () => {
    const cfg = parseEncoderConfig({ ...BERT_BASE, hidden_size: 8, num_attention_heads: 2, intermediate_size: 8, num_hidden_layers: 1, vocab_size: 10, max_position_embeddings: 4 });
    const gen = generateEncoderModel({ corpus: 'a b c', hiddenSize: 8, numHeads: 2, intermediateSize: 8, numLayers: 1, maxPositionEmbeddings: 4 });
    const tensors = [...gen.tensors].map(([name, t]) => ({ name: name.replace(/^bert\./, ''), dtype: 'F32', shape: t.shape }));
    tensors.push({ name: 'cls.predictions.bias', dtype: 'F32', shape: [10] });
    const vocab = gen.config.vocabSize;
    const fixed = tensors.map((t) => (t.name === 'embeddings.word_embeddings.weight' ? { ...t, shape: [vocab, 8] } : t));
    const check = checkEncoderWeights({ ...cfg, vocabSize: vocab }, fixed);
    expect(check.problems).toEqual([]);
    expect(check.ignored).toEqual(['cls.predictions.bias']);
    const missing = checkEncoderWeights({ ...cfg, vocabSize: vocab }, fixed.filter((t) => t.name !== 'encoder.layer.0.output.LayerNorm.weight'));
    expect(missing.problems).toEqual([
      'missing tensor "bert.encoder.layer.0.output.LayerNorm.weight" (expected [8]; looked for "bert.encoder.layer.0.output.LayerNorm.weight", "bert.encoder.layer.0.output.LayerNorm.gamma", "encoder.layer.0.output.LayerNorm.weight", "encoder.layer.0.output.LayerNorm.gamma")',
    ]);
  });

  it('the labels\' config.json: architectures, id2label, label2id, problem_type; read back', () => {
    const text = sequenceClassificationConfig(BERT_BASE, parseEncoderConfig(BERT_BASE), { problemType: 'single_label_classification', labels: ['neg', 'pos'] });
    const json = JSON.parse(text);
    expect(json).toMatchObject({ architectures: ['BertForSequenceClassification'], id2label: { 0: 'neg', 1: 'pos' }, label2id: { neg: 0, pos: 1 }, problem_type: 'single_label_classification', hidden_size: 768 });
    expect(Object.keys(json)).toEqual([...Object.keys(json)].sort());
    expect(labelsFromConfig(text)).toEqual({ problemType: 'single_label_classification', labels: ['neg', 'pos'] });
    expect(labelsFromConfig(JSON.stringify(BERT_BASE))).toBeNull();
  });

  it('SEQ_CLS trains the head as PEFT matches modules_to_save ["classifier", "score"] by suffix', () => {
    expect(trainedHeadModules('bert')).toEqual(['classifier']);
    expect(trainedHeadModules('roberta')).toEqual(['classifier.dense', 'classifier.out_proj']);
    expect(trainedHeadModules('distilbert')).toEqual(['pre_classifier', 'classifier']);
  });

  it('memory plan from the config alone: bert-base-uncased\'s weights and the trained head', () => {
    const cfg = parseEncoderConfig(BERT_BASE);
    const lora = { r: 8, alpha: 16, dropout: 0.05, targets: ['q_proj', 'v_proj'] as TargetModule[], layers: null, useRslora: false };
    const plan = encoderMemoryPlan(cfg, lora, { problemType: 'single_label_classification', labels: ['a', 'b'] }, { batchSize: 16, seqLen: 128, gradientCheckpointing: false, kvCacheTokens: 0, stagedBatches: 1, weightsF16: false, statsWords: 4 });
    // 109,482,240 values (bert-base-uncased's BertModel with pooler), f32
    expect(plan.weights).toBe(109_482_240 * 4);
    const layout = encoderAdapterLayoutFor(cfg, lora, { problemType: 'single_label_classification', labels: ['a', 'b'] });
    expect(layout.size).toBe(12 * 2 * (8 * 768 + 768 * 8) + 2 * 768 + 2); // 294,912 LoRA values + the classifier
    expect(plan.adapter).toBe(layout.size * 16);
  });
});

describe('PEFT SEQ_CLS adapters (formats/peft.ts, the one validator)', () => {
  const cfgOf = (json: Record<string, unknown>, numLabels: number): EncoderConfig => ({ ...parseEncoderConfig({ ...json, hidden_size: 16, num_attention_heads: 4, intermediate_size: 24, num_hidden_layers: 2 }), numLabels });
  const config = (targets: TargetModule[]): LoraConfig => ({
    taskType: 'SEQ_CLS', modulesToSave: ['classifier', 'score'], r: 4, alpha: 8, dropout: 0.05, targetModules: targets, useRslora: false, layers: null,
    baseModelNameOrPath: 'bert-base-uncased', revision: null, rankPattern: {}, alphaPattern: {},
  });
  const tensorsFor = (cfg: EncoderConfig, targets: TargetModule[]) => {
    const layout = encoderAdapterLayoutFor(cfg, { r: 4, alpha: 8, dropout: 0.05, targets, layers: null, useRslora: false }, { problemType: 'single_label_classification', labels: Array.from({ length: cfg.numLabels }, (_, i) => `l${i}`) });
    return adapterTensors(layout, uniformValues(layout.size, 3));
  };

  it('BERT, query + value: LoRA keys under bert.encoder.layer.{i}.attention.self, the classifier under modules_to_save key names, and the config PEFT writes', async () => {
    const cfg = cfgOf(BERT_BASE, 3);
    const files = writePeftAdapter(cfg, config(['q_proj', 'v_proj']), tensorsFor(cfg, ['q_proj', 'v_proj']));
    const json = JSON.parse(files['adapter_config.json']);
    expect(json).toMatchObject({ task_type: 'SEQ_CLS', modules_to_save: ['classifier', 'score'], target_modules: ['query', 'value'] });
    const back = await readPeftAdapter(files, cfg);
    expect([...back.tensors.keys()].sort()).toEqual([
      'base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.weight', 'base_model.model.bert.encoder.layer.0.attention.self.query.lora_B.weight',
      'base_model.model.bert.encoder.layer.0.attention.self.value.lora_A.weight', 'base_model.model.bert.encoder.layer.0.attention.self.value.lora_B.weight',
      'base_model.model.bert.encoder.layer.1.attention.self.query.lora_A.weight', 'base_model.model.bert.encoder.layer.1.attention.self.query.lora_B.weight',
      'base_model.model.bert.encoder.layer.1.attention.self.value.lora_A.weight', 'base_model.model.bert.encoder.layer.1.attention.self.value.lora_B.weight',
      'base_model.model.classifier.bias', 'base_model.model.classifier.weight',
    ]);
    expect(back.config.targetModules).toEqual(['q_proj', 'v_proj']);
    const summary = await inspectPeftAdapter(files);
    expect(summary.encoder).toEqual({ family: 'bert', numLabels: 3, head: ['classifier.bias', 'classifier.weight'] });
  });

  it('target_modules in the family\'s own names: a suffix that hits only the chosen modules, else a pattern PEFT fully matches', () => {
    expect(encoderTargetModules('bert', ['q_proj', 'v_proj'])).toEqual(['query', 'value']);
    expect(encoderTargetModules('distilbert', ['q_proj', 'v_proj', 'up_proj', 'down_proj'])).toEqual(['q_lin', 'v_lin', 'lin1', 'lin2']);
    const bert = cfgOf(BERT_BASE, 2);
    const write = (targets: TargetModule[]) => JSON.parse(adapterConfigJson(config(targets), bert)).target_modules;
    expect(write(['o_proj'])).toEqual(['attention.output.dense']);
    expect(write(['up_proj'])).toEqual(['intermediate.dense']);
    expect(write(['o_proj', 'down_proj'])).toEqual(['output.dense']); // both end in .output.dense; pooler.dense does not
    const downOnly = write(['down_proj']);
    expect(downOnly).toBe('(.*\\.)?bert\\.encoder\\.layer\\.\\d+\\.(output\\.dense)');
    for (const targets of [['o_proj'], ['down_proj'], ['o_proj', 'down_proj'], ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'up_proj', 'down_proj']] as TargetModule[][]) {
      expect(parseAdapterConfig(adapterConfigJson(config(targets), bert), bert).targetModules, targets.join(',')).toEqual(targets);
    }
  });

  it('RoBERTa trains its whole classifier (dense and out_proj); DistilBERT its pre_classifier and classifier', async () => {
    for (const [json, keys] of [
      [ROBERTA_BASE, ['classifier.dense.bias', 'classifier.dense.weight', 'classifier.out_proj.bias', 'classifier.out_proj.weight']],
      [DISTILBERT_SST2, ['classifier.bias', 'classifier.weight', 'pre_classifier.bias', 'pre_classifier.weight']],
    ] as const) {
      const cfg = cfgOf(json, 2);
      const files = writePeftAdapter(cfg, config(['q_proj', 'v_proj']), tensorsFor(cfg, ['q_proj', 'v_proj']));
      const back = await readPeftAdapter(files, cfg);
      expect([...back.tensors.keys()].filter((k) => !k.includes('lora_')).map((k) => k.replace('base_model.model.', '')).sort()).toEqual(keys);
    }
  });

  it('refuses an adapter without its head, a head with the adapter name left in, or a head of another size, listing them all', async () => {
    const cfg = cfgOf(BERT_BASE, 3);
    const tensors = tensorsFor(cfg, ['q_proj', 'v_proj']);
    const files = writePeftAdapter(cfg, config(['q_proj', 'v_proj']), tensors);
    const { serializeF32 } = await import('../../../src/formats/safetensors');
    const mutated = new Map([...tensors].map(([k, v]) => [k, { shape: k.endsWith('classifier.weight') ? [3, 16] : k.endsWith('classifier.bias') ? [3] : k.includes('lora_A') ? [4, 16] : [16, 4], data: v }]));
    mutated.delete('base_model.model.classifier.bias');
    mutated.set('base_model.model.classifier.modules_to_save.default.bias', { shape: [3], data: new Float32Array(3) });
    const err = await readPeftAdapter({ ...files, 'adapter_model.safetensors': serializeF32(mutated, { format: 'pt' }) }, cfg).catch((e) => e);
    expect(err).toBeInstanceOf(AdapterError);
    const p = (err as AdapterError).problems.join('\n');
    expect(p).toContain('unexpected tensor "base_model.model.classifier.modules_to_save.default.bias": not a PEFT LoRA key of a bert encoder');
    expect(p).toContain('missing tensor "base_model.model.classifier.bias" [3]');
    const other = await readPeftAdapter(files, { ...cfg, numLabels: 5 }).catch((e) => e);
    expect((other as AdapterError).problems.join('\n')).toContain('"base_model.model.classifier.weight" has shape [3,16], expected [5,16] (a head for 5 labels)');
    // A decoder does not take a SEQ_CLS adapter, nor an encoder a CAUSAL_LM one.
    expect(() => parseAdapterConfig(files['adapter_config.json'].replace('"SEQ_CLS"', '"CAUSAL_LM"'), cfg)).toThrow(/"CAUSAL_LM" is not "SEQ_CLS"/);
  });
});

describe('the demo encoder\'s WordPiece tokenizer', () => {
  it('transformers.js builds a BertTokenizer from it: [CLS] … [SEP], pairs with token types, lowercasing, ## pieces', async () => {
    const gen = generateEncoderModel({ ...DEMO_ENCODER_OPTIONS, numLayers: 1 });
    const tok = await loadTokenizer(memoryFiles(gen.files, 'demo-bert'));
    expect(tok.constructor.name).toBe('BertTokenizer');
    const vocab = (gen.files.get('vocab.txt') as string).trim().split('\n');
    const ids = tok.encode('Great MOVIE!') as number[];
    expect(ids.map((i) => vocab[i])).toEqual(['[CLS]', 'great', 'movie', '!', '[SEP]']);
    const pair = encodeClassification(prepareTokenizer(tok), 'great movie', 'awful bike', 64);
    expect(Array.from(pair.ids, (i) => vocab[i])).toEqual(['[CLS]', 'great', 'movie', '[SEP]', 'awful', 'bike', '[SEP]']);
    expect(Array.from(pair.tokenTypeIds)).toEqual([0, 0, 0, 0, 1, 1, 1]);
    // A word outside the vocabulary splits into pieces of its letters, never [UNK].
    const pieces = (tok.encode('zebra', { add_special_tokens: false }) as number[]).map((i) => vocab[i]);
    expect(pieces.join(' ')).toBe('z ##e ##b ##r ##a');
    expect(pieces).not.toContain('[UNK]');
  });
});
