/**
 * A BERT-family encoder with its sequence-classification head as one ONNX graph, with the inputs
 * and output that transformers.js's AutoModelForSequenceClassification (the text-classification
 * pipeline) feeds and reads — the layout Optimum exports for the text-classification task:
 *
 *   input_ids        int64 [batch_size, sequence_length]
 *   attention_mask   int64 [batch_size, sequence_length]
 *   token_type_ids   int64 [batch_size, sequence_length]      (BERT only, as Optimum's BertOnnxConfig)
 *   → logits         float32 [batch_size, L]
 *
 * The logits stay float32 in the fp16 / q4f16 variants (as onnxconverter's keep_io_types leaves
 * them): transformers.js's pipeline applies its softmax / sigmoid to the raw output data.
 *
 * Letters: B batch, T tokens, C hidden, NH heads, HS = C/NH, I intermediate, V vocab, P positions,
 * L labels. As Transformers' modeling_bert / modeling_roberta / modeling_distilbert (eval mode):
 *   embeddings  x = (word[ids] + type[token_type_ids]) + position[pos]   (RoBERTa: type row 0;
 *               DistilBERT: no types); BERT / DistilBERT pos = 0 … T−1; RoBERTa
 *               pos = cumsum(ids ≠ pad)·(ids ≠ pad) + pad (create_position_ids_from_input_ids)
 *               h = LayerNorm(x)
 *   layer       q, k, v = h·Wᵀ + b; att = softmax(q·kᵀ/√HS, keys where attention_mask = 0 masked)·v
 *               h1 = LayerNorm(att·W_oᵀ + b_o + h); h = LayerNorm(gelu(h1·W_inᵀ + b_in)·W_outᵀ + b_out + h1)
 *   head        BERT        logits = classifier(tanh(pooler.dense(h[:, 0])))
 *               RoBERTa     logits = out_proj(tanh(classifier.dense(h[:, 0])))
 *               DistilBERT  logits = classifier(relu(pre_classifier(h[:, 0])))
 * GELU is the erf form. LayerNorm, GELU, softmax and the head's activation run in f32 in the f16
 * variants (LayerNorm with f32 weights); node names follow the modules' paths as torch.onnx names them.
 */
import { ENCODER_HEAD_MODULES, encoderLayerNormNames, encoderModulePath, type EncoderConfig, type EncoderModule } from '../../encoderConfig';
import type { WeightReader } from '../types';
import { DT, GraphBuilder, encodeFloats } from './graph';
import { layerKit, MASK_MIN, type KitOptions } from './layers';
import type { OnnxVariant } from '../kinds';

/** The graph inputs of a family, in Optimum's order. */
export function encoderInputNames(spec: Pick<EncoderConfig, 'family' | 'typeVocabSize'>): string[] {
  return spec.family === 'bert' && spec.typeVocabSize > 0 ? ['input_ids', 'attention_mask', 'token_type_ids'] : ['input_ids', 'attention_mask'];
}

/** `spec` carries the head being exported (num_labels = spec.numLabels); `weights` reads by canonical names. */
export async function buildEncoder(spec: EncoderConfig, weights: WeightReader, variant: OnnxVariant, options: KitOptions = {}): Promise<GraphBuilder> {
  const { family } = spec;
  const C = spec.hiddenSize;
  const NH = spec.numHeads;
  const HS = C / NH;
  const I = spec.intermediateSize;
  const L = spec.numLabels;
  const g = new GraphBuilder();
  const kit = layerKit(g, variant, weights, options);
  const { act, read, record, recordFloat, floatInit, toF32, toAct, linear } = kit;
  const emb = `${family}.embeddings`;
  const E = `/${family}/embeddings`;

  // ---------------------------------------------------------------- inputs
  const dims = ['batch_size', 'sequence_length'];
  const inputIds = g.input('input_ids', DT.INT64, dims);
  const attentionMask = g.input('attention_mask', DT.INT64, dims);
  const tokenTypeIds = encoderInputNames(spec).includes('token_type_ids') ? g.input('token_type_ids', DT.INT64, dims) : null;

  /** LayerNorm over the last axis in f32 (opset 17 LayerNormalization), weights stored f32, by HF name. */
  const layerNorm = async (x: string, name: string, prefix: string): Promise<string> => {
    const w = await read(`${name}.weight`, C);
    const b = await read(`${name}.bias`, C);
    record(`${name}.weight`, w);
    record(`${name}.bias`, b);
    const scale = g.initializer(`${name}.weight`, DT.FLOAT, [C], encodeFloats(w, DT.FLOAT));
    const bias = g.initializer(`${name}.bias`, DT.FLOAT, [C], encodeFloats(b, DT.FLOAT));
    return toAct(g.op('LayerNormalization', [toF32(x), scale, bias], { axis: -1, epsilon: { float: spec.layerNormEps } }, { name: `${prefix}/LayerNormalization` }));
  };

  // ---------------------------------------------------------------- embeddings
  const word = await kit.embedding(`${emb}.word_embeddings.weight`, spec.vocabSize, C, inputIds, `${E}/word_embeddings`);
  let x = word.out;
  if (spec.typeVocabSize > 0) {
    const typeName = `${emb}.token_type_embeddings.weight`;
    if (tokenTypeIds) {
      const types = await kit.embedding(typeName, spec.typeVocabSize, C, tokenTypeIds, `${E}/token_type_embeddings`, false);
      x = g.op('Add', [x, types.out], {}, { name: `${E}/Add` });
    } else {
      // RoBERTa's token_type_ids are zeros: row 0 of the table, added as a constant.
      const table = await read(typeName, spec.typeVocabSize * C);
      const row0 = table.slice(0, C);
      recordFloat(typeName, table);
      x = g.op('Add', [x, floatInit(`${typeName}[0]`, row0, [C])], {}, { name: `${E}/Add` });
    }
  }
  let positionIds: string;
  if (family === 'roberta') {
    const real = g.op('Cast', [g.op('Not', [g.op('Equal', [inputIds, g.constInt64([spec.padTokenId], [])], {}, { name: `${E}/Equal` })])], { to: DT.INT64 }, { name: `${E}/Cast` });
    const counted = g.op('Mul', [g.op('CumSum', [real, g.constInt64([1], [])], {}, { name: `${E}/CumSum` }), real], {}, { name: `${E}/Mul` });
    positionIds = g.op('Add', [counted, g.constInt64([spec.padTokenId], [])], {}, { name: `${E}/Add_positions` }); // [B, T]
  } else {
    const T = g.op('Squeeze', [g.op('Shape', [inputIds], { start: 1, end: 2 }), g.constInt64([0])]);
    positionIds = g.op('Unsqueeze', [g.op('Range', [g.constInt64([0], []), T, g.constInt64([1], [])], {}, { name: `${E}/Range` }), g.constInt64([0])]); // [1, T]
  }
  const positions = await kit.embedding(`${emb}.position_embeddings.weight`, spec.maxPositionEmbeddings, C, positionIds, `${E}/position_embeddings`, false);
  x = g.op('Add', [x, positions.out], {}, { name: `${E}/Add_1` });
  let h = await layerNorm(x, `${emb}.LayerNorm`, `${E}/LayerNorm`);

  // ---------------------------------------------------------------- key padding mask [B, 1, 1, T]
  const keep = g.op('Unsqueeze', [g.op('Cast', [attentionMask], { to: DT.BOOL }, { name: `/${family}/Cast_mask` }), g.constInt64([1, 2])]);
  const maskMin = g.constFloat([MASK_MIN[act]], act);
  const scale = g.constFloat([1 / Math.sqrt(HS)], act); // exact for the usual head sizes (16, 64: powers of 4)

  // ---------------------------------------------------------------- layers
  const layerPrefix = family === 'distilbert' ? `/${family}/transformer/layer.` : `/${family}/encoder/layer.`;
  for (let l = 0; l < spec.numLayers; l++) {
    const P = `${layerPrefix}${l}`;
    const proj = (input: string, m: EncoderModule, outF: number, inF: number) => {
      const path = encoderModulePath(family, l, m);
      const local = path.slice(path.indexOf(`layer.${l}.`) + `layer.${l}.`.length).replace(/\./g, '/');
      return linear(input, `${path}.weight`, outF, inF, `${path}.bias`, `${P}/${local}`);
    };
    const attn = family === 'distilbert' ? `${P}/attention` : `${P}/attention/self`;
    const heads = (t: string, perm: number[]) => g.op('Transpose', [g.op('Reshape', [t, g.constInt64([0, 0, NH, HS])])], { perm });
    const q = heads(await proj(h, 'query', C, C), [0, 2, 1, 3]); // [B, NH, T, HS]
    const kT = heads(await proj(h, 'key', C, C), [0, 2, 3, 1]); // [B, NH, HS, T]
    const v = heads(await proj(h, 'value', C, C), [0, 2, 1, 3]); // [B, NH, T, HS]
    const scores = g.op('Mul', [g.op('MatMul', [q, kT], {}, { name: `${attn}/MatMul` }), scale], {}, { name: `${attn}/Mul` });
    const masked = g.op('Where', [keep, scores, maskMin], {}, { name: `${attn}/Where` });
    const probs = toAct(g.op('Softmax', [toF32(masked)], { axis: -1 }, { name: `${attn}/Softmax` }));
    const ctx = g.op('MatMul', [probs, v], {}, { name: `${attn}/MatMul_1` }); // [B, NH, T, HS]
    const ctx3 = g.op('Reshape', [g.op('Transpose', [ctx], { perm: [0, 2, 1, 3] }), g.constInt64([0, 0, C])]);
    const o = await proj(ctx3, 'attention.output', C, C);
    const [ln1, ln2] = encoderLayerNormNames(family, l);
    const lnPath = (name: string) => `${P}/${name.slice(name.indexOf(`layer.${l}.`) + `layer.${l}.`.length).replace(/\./g, '/')}`;
    const h1 = await layerNorm(g.op('Add', [o, h], {}, { name: `${lnPath(ln1)}/Add` }), ln1, lnPath(ln1));
    const f = await proj(h1, 'intermediate', I, C);
    const act2 = family === 'distilbert' ? `${P}/ffn/activation` : `${P}/intermediate/intermediate_act_fn`;
    const out = await proj(gelu(g, toF32(f), act2, toAct), 'output', C, I);
    h = await layerNorm(g.op('Add', [out, h1], {}, { name: `${lnPath(ln2)}/Add` }), ln2, lnPath(ln2));
  }

  // ---------------------------------------------------------------- head on the first token
  const first = g.op('Gather', [h, g.constInt64([0], [])], { axis: 1 }, { name: `/${family}/Gather_first` }); // [B, C]
  const [m0, m1] = ENCODER_HEAD_MODULES[family];
  const headPath = (m: string) => `/${m.replace(/\./g, '/')}`;
  const dense = await linear(first, `${m0}.weight`, C, C, `${m0}.bias`, headPath(m0));
  const activated = family === 'distilbert'
    ? g.op('Relu', [toF32(dense)], {}, { name: '/Relu' })
    : g.op('Tanh', [toF32(dense)], {}, { name: family === 'bert' ? '/bert/pooler/activation/Tanh' : '/classifier/Tanh' });
  const logits = await linear(toAct(activated), `${m1}.weight`, L, C, `${m1}.bias`, headPath(m1));
  g.node('Identity', [toF32(logits)], {}, { name: '/logits', outputs: ['logits'] });
  g.output('logits', DT.FLOAT, ['batch_size', L]);
  return g;
}

/** GELU, erf form, in f32: 0.5·x·(1 + erf(x/√2)) (Transformers' GELUActivation). */
function gelu(g: GraphBuilder, x: string, prefix: string, back: (x: string) => string): string {
  const e = g.op('Erf', [g.op('Div', [x, g.constFloat([Math.SQRT2], DT.FLOAT)], {}, { name: `${prefix}/Div` })], {}, { name: `${prefix}/Erf` });
  const onePlus = g.op('Add', [e, g.constFloat([1], DT.FLOAT)], {}, { name: `${prefix}/Add` });
  return back(g.op('Mul', [g.op('Mul', [x, onePlus], {}, { name: `${prefix}/Mul` }), g.constFloat([0.5], DT.FLOAT)], {}, { name: `${prefix}/Mul_1` }));
}
