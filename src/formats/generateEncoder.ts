/**
 * Deterministic generator of BERT-family encoder checkpoints saved as Hugging Face saves them:
 * config.json, model.safetensors (Transformers' tensor names, optionally bert-base-uncased's legacy
 * LayerNorm gamma/beta), and a real WordPiece tokenizer (gen/wordpiece.ts) for BERT and DistilBERT.
 * A base checkpoint has no classification head (BERT keeps its pooler), as bert-base-uncased; with
 * `head` it is a fine-tuned …ForSequenceClassification with id2label.
 *
 * Weights follow Transformers' init (linear and embedding weights ~ N(0, initializer_range)) with
 * LayerNorm weights 1 ± 0.1 and small biases, so a test that ignores a norm or a bias fails.
 */
import { fromF32 } from './dtype';
import { generateWordPiece } from './gen/wordpiece';
import { ENCODER_HEAD_MODULES, encoderHeadTensors, expectedEncoderTensors, parseEncoderConfig, type EncoderConfig, type EncoderFamily } from './encoderConfig';
import { serializeSafetensors, type TensorToWrite } from './safetensors';

export interface GenerateEncoderOptions {
  family?: Exclude<EncoderFamily, 'roberta'>;
  seed?: number;
  hiddenSize?: number;
  numLayers?: number;
  numHeads?: number;
  intermediateSize?: number;
  maxPositionEmbeddings?: number;
  initializerRange?: number;
  /**
   * Standard deviation of the generated weights (default initializer_range). A random encoder at
   * 0.02 passes almost nothing between tokens (its residual stream dwarfs the attention output), so
   * the demo, standing in for a pre-trained model, draws larger weights.
   */
  weightStd?: number;
  /**
   * Words that share a meaning: each group's words get a common direction added to their embedding
   * (`groupStrength` times the weights' scale), as a pre-trained model's embeddings cluster related
   * words. The demo uses it to stand in for pre-training; absent: purely random embeddings.
   */
  wordGroups?: string[][];
  groupStrength?: number;
  /** Standard deviation of BERT's pooler weight (default weightStd). */
  poolerStd?: number;
  /**
   * Changes tensors (by stored name) after they are drawn and before they are written, e.g. the
   * demo's pooler bias centred on its corpus (scripts/gen-demo-model.ts computes it with bert.ref.ts).
   */
  adjust?: (tensors: Map<string, Float32Array>, config: EncoderConfig, vocab: string[]) => void;
  hiddenDropout?: number;
  attentionDropout?: number;
  /** Text the WordPiece vocabulary is built from. */
  corpus: string;
  tokenizerVocabSize?: number;
  /** A fine-tuned head with these labels (default: none, a base checkpoint). */
  head?: { labels: string[] } | null;
  /** Store LayerNorm weights as .gamma / .beta (bert-base-uncased's original file). */
  legacyLayerNormNames?: boolean;
}

export interface GeneratedEncoder {
  config: EncoderConfig;
  files: Map<string, Uint8Array | string>;
  /** Every stored tensor by its stored name. */
  tensors: Map<string, { shape: number[]; data: Float32Array }>;
}

function seededRandom(seed: number) {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => {
    const u = 1 - uniform();
    const v = uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
  return { uniform, normal };
}

function hashName(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return h >>> 0;
}

export function generateEncoderModel(options: GenerateEncoderOptions): GeneratedEncoder {
  const family = options.family ?? 'bert';
  const seed = options.seed ?? 0;
  const tok = generateWordPiece({ corpus: options.corpus, vocabSize: options.tokenizerVocabSize ?? 1024, modelMaxLength: options.maxPositionEmbeddings ?? 128 });
  const std = options.initializerRange ?? 0.02;
  const hidden = options.hiddenSize ?? 64;
  const layers = options.numLayers ?? 2;
  const heads = options.numHeads ?? 4;
  const inter = options.intermediateSize ?? 4 * hidden;
  const maxPos = options.maxPositionEmbeddings ?? 128;
  const head = options.head ?? null;
  const labelsJson = head ? { id2label: Object.fromEntries(head.labels.map((l, i) => [String(i), l])), label2id: Object.fromEntries(head.labels.map((l, i) => [l, i])) } : {};
  const configJson: Record<string, unknown> =
    family === 'distilbert'
      ? {
          activation: 'gelu', architectures: [head ? 'DistilBertForSequenceClassification' : 'DistilBertForMaskedLM'], attention_dropout: options.attentionDropout ?? 0.1,
          dim: hidden, dropout: options.hiddenDropout ?? 0.1, hidden_dim: inter, initializer_range: std, max_position_embeddings: maxPos, model_type: 'distilbert',
          n_heads: heads, n_layers: layers, pad_token_id: 0, qa_dropout: 0.1, seq_classif_dropout: 0.2, sinusoidal_pos_embds: false, tie_weights_: true,
          torch_dtype: 'float32', transformers_version: '4.46.0', vocab_size: tok.vocab.length, ...labelsJson,
        }
      : {
          architectures: [head ? 'BertForSequenceClassification' : 'BertForMaskedLM'], attention_probs_dropout_prob: options.attentionDropout ?? 0.1, classifier_dropout: null,
          hidden_act: 'gelu', hidden_dropout_prob: options.hiddenDropout ?? 0.1, hidden_size: hidden, initializer_range: std, intermediate_size: inter, layer_norm_eps: 1e-12,
          max_position_embeddings: maxPos, model_type: 'bert', num_attention_heads: heads, num_hidden_layers: layers, pad_token_id: 0, position_embedding_type: 'absolute',
          torch_dtype: 'float32', transformers_version: '4.46.0', type_vocab_size: 2, use_cache: true, vocab_size: tok.vocab.length, ...labelsJson,
        };
  const sorted = Object.fromEntries(Object.keys(configJson).sort().map((k) => [k, configJson[k]]));
  const config = parseEncoderConfig(sorted);

  const names: { name: string; shape: number[] }[] = [...expectedEncoderTensors(config)];
  const [m0] = ENCODER_HEAD_MODULES[family];
  if (head) names.push(...encoderHeadTensors(config, head.labels.length));
  else if (family === 'bert') names.push(...encoderHeadTensors(config, 1).filter((t) => t.module === m0)); // BertModel's pooler
  const drawn = new Map<string, Float32Array>();
  const shapes = new Map<string, number[]>();
  for (const { name, shape } of names) {
    const r = seededRandom((seed * 0x9e3779b1) ^ hashName(name));
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    const norm = /(LayerNorm|layer_norm)\.weight$/.test(name);
    const bias = name.endsWith('.bias');
    // Queries and keys stay at initializer_range, so attention starts near uniform (the first token sees every
    // word), and so do positions and token types (a word means the same wherever it stands).
    const wstd = /(query|key|q_lin|k_lin)\.weight$|(position|token_type)_embeddings\.weight$/.test(name) ? std : name === 'bert.pooler.dense.weight' && options.poolerStd ? options.poolerStd : (options.weightStd ?? std);
    for (let i = 0; i < n; i++) data[i] = norm ? 1 + 0.1 * (r.uniform() * 2 - 1) : bias ? 0.02 * (r.uniform() * 2 - 1) : wstd * r.normal();
    if (name.endsWith('word_embeddings.weight')) {
      options.wordGroups?.forEach((group, g) => {
        const dir = seededRandom((seed * 0x85ebca77) ^ (g + 1));
        const v = Float32Array.from({ length: hidden }, () => (options.weightStd ?? std) * (options.groupStrength ?? 1) * dir.normal());
        for (const w of group) {
          const id = tok.vocab.indexOf(w);
          if (id < 0) throw new RangeError(`word group ${g}: "${w}" is not a whole word of the vocabulary`);
          for (let c = 0; c < hidden; c++) data[id * hidden + c] += v[c];
        }
      });
      data.fill(0, config.padTokenId * hidden, (config.padTokenId + 1) * hidden); // padding_idx row
    }
    let stored = name;
    if (options.legacyLayerNormNames && /LayerNorm\.(weight|bias)$/.test(name)) stored = name.replace(/weight$/, 'gamma').replace(/bias$/, 'beta');
    drawn.set(stored, data);
    shapes.set(stored, shape);
  }
  options.adjust?.(drawn, config, tok.vocab);
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  const toWrite = new Map<string, TensorToWrite>();
  for (const [stored, data] of drawn) {
    toWrite.set(stored, { dtype: 'F32', shape: shapes.get(stored)!, data: fromF32('F32', data) });
    tensors.set(stored, { shape: shapes.get(stored)!, data });
  }
  const files = new Map<string, Uint8Array | string>();
  files.set('config.json', JSON.stringify(sorted, null, 2) + '\n');
  files.set('model.safetensors', serializeSafetensors(toWrite, { format: 'pt' }));
  for (const [k, v] of Object.entries(tok.files)) files.set(k, v);
  return { config, files, tensors };
}
