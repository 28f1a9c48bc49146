/**
 * Pre-training of the studio's demo model with the project's own engine: ReLoRA. A round is one
 * ordinary LoRA run through the run driver (`runTraining`) with a full-rank adapter on every
 * projection; its adapter is then merged into the weights by the exports' one merge
 * (formats/export/merge.ts: W' = W + s·B·A on the PEFT-named tensors), the
 * model is reloaded from the merged weights, and the next round starts from a fresh adapter and
 * fresh optimizer state. Embeddings and norms stay as generated (the engine trains projections
 * only), which is why the demo model's embedding is generated with a larger standard deviation.
 *
 * Everything is seeded; on one driver a rerun gives the same weights.
 */
import { loadDataset, fromText, type TokenStore } from '../../src/data';
import type { PreTrainedTokenizer } from '@huggingface/transformers';
import { generateModelWithTensors, type GenerateOptions } from '../../src/formats/generate';
import { serializeSafetensors, type TensorToWrite } from '../../src/formats/safetensors';
import { fromF32, toF32 } from '../../src/formats/dtype';
import type { ModelSpec } from '../../src/formats/hfConfig';
import type { Gpu } from '../../src/engine/gpu/device';
import { LlamaGpu } from '../../src/engine/model/llama';
import { toPeftConfig } from '../../src/engine/model/adapterFiles';
import { adapterTensors } from '../../src/engine/model/lora';
import { mergedWeights } from '../../src/formats/export/merge';
import { generateTokens } from '../../src/engine/model/generate';
import { evaluate } from '../../src/engine/train/evaluate';
import { runTraining } from '../../src/engine/train/run';
import { DEFAULT_SETTINGS, TARGET_MODULES, type RunSettings } from '../../src/settings/settings';
import { chatJsonl, pretrainingConversations, worldFacts, type ChatTurn, type QA } from '../../src/formats/gen/demoWorld';

export interface PretrainOptions {
  model: GenerateOptions;
  /** ReLoRA rounds, each a fresh adapter merged at its end. */
  rounds: number;
  stepsPerRound: number;
  /** Peak learning rate of the first round; later rounds decay towards `finalLr` (cosine over rounds). */
  lr: number;
  finalLr: number;
  rank: number;
  /** Rows per optimizer step (packed rows of `maxLength` tokens). */
  batchSize: number;
  maxLength: number;
  /** Extra multi-turn conversations beyond one per fact. */
  extraConversations: number;
  /** Stored dtype of the weights; every merge rounds to it, so training always sees the stored model. */
  dtype: 'F32' | 'F16' | 'BF16';
  /** Which tokens the loss counts: the answers only, or every token of the conversations. */
  trainOn: 'response' | 'all';
  seed: number;
  log: (line: string) => void;
  /** Facts probed with greedy generation after each round (0: none). */
  probe: number;
  /**
   * Facts (evenly spread) whose answer loss is measured after each merge; all of them when absent.
   * At least 1. It only reports (history's loss): the weights are the same whatever the count.
   */
  evalFacts?: number;
  /** Train on these conversations instead of the world's corpus (experiments). */
  conversations?: ChatTurn[][];
}

export interface PretrainResult {
  spec: ModelSpec;
  /** Every tensor as stored (rounded to the dtype). */
  tensors: Map<string, { shape: number[]; data: Float32Array }>;
  /** The base files of the generator (config, tokenizer…), the weights replaced. */
  files: Map<string, Uint8Array | string>;
  history: { round: number; loss: number; accuracy: number | null; seconds: number }[];
}

function roundTo(dtype: PretrainOptions['dtype'], values: Float32Array): Float32Array {
  return dtype === 'F32' ? values : toF32(dtype, fromF32(dtype, values));
}

/** Greedy answers to chat questions, adapter off (the merged model itself). */
export async function greedyAnswers(model: LlamaGpu, tok: PreTrainedTokenizer, questions: string[], maxNewTokens = 24): Promise<string[]> {
  const eos = tok.eos_token_id ?? 2;
  const out: string[] = [];
  for (const q of questions) {
    const text = tok.apply_chat_template([{ role: 'user', content: q }], { tokenize: false, add_generation_prompt: true }) as string;
    const ids = tok.encode(text, { add_special_tokens: false }) as number[];
    const tokens = await generateTokens(model, null, ids, { maxNewTokens, temperature: 0, topK: 0, topP: 1, seed: 0, eosTokenIds: [eos] });
    out.push(tokens.length ? tok.decode(tokens, { skip_special_tokens: true }).trim() : '');
  }
  return out;
}

/** Evenly spread facts for probing and for the answer loss. */
function probeFacts(count: number): QA[] {
  const facts = worldFacts();
  if (count >= facts.length) return facts;
  return Array.from({ length: count }, (_, i) => facts[Math.floor((i * facts.length) / count)]);
}

export async function pretrainDemo(gpu: Gpu, tok: PreTrainedTokenizer, o: PretrainOptions): Promise<PretrainResult> {
  const generated = generateModelWithTensors({ ...o.model, dtype: o.dtype });
  const spec = generated.spec;
  const weights = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, t] of generated.tensors) weights.set(name, { shape: t.shape, data: t.data });

  const corpus = chatJsonl(o.conversations ?? pretrainingConversations(o.extraConversations, o.seed));
  const data = await loadDataset(fromText('demo-corpus.jsonl', corpus), tok, { maxLength: o.maxLength, trainOn: o.trainOn, vocabSize: spec.vocabSize });
  const train = data.train as TokenStore;
  let tokens = 0;
  for (let i = 0; i < train.length; i++) tokens += train.lengthOf(i);
  o.log(`corpus: ${train.length} conversations, ${tokens} tokens (longest ${data.stats.maxLength})`);
  // The corpus loss after each merge is measured on the facts alone (one short chat each).
  const evalFacts = probeFacts(o.evalFacts ?? Infinity);
  const factSet = (await loadDataset(fromText('demo-facts.jsonl', chatJsonl(evalFacts.map((f) => [{ role: 'user', content: f.question }, { role: 'assistant', content: f.answer }]))), tok, { maxLength: o.maxLength, trainOn: 'response', vocabSize: spec.vocabSize })).train;
  // Micro-batches of up to 64 facts; fewer facts, smaller micro-batch (a micro-batch is padded to its full rows).
  const evalMicroBatch = Math.min(64, evalFacts.length);
  const probes = probeFacts(o.probe);
  const history: PretrainResult['history'] = [];
  const limits = { budgetBytes: 2 ** 30, maxBufferSize: gpu.limits.maxBufferSize };
  const padId = tok.pad_token_id ?? spec.eosTokenIds[0];

  for (let round = 0; round < o.rounds; round++) {
    const t0 = performance.now();
    const model = await LlamaGpu.load(gpu, spec, async (name) => weights.get(name)!.data, { weights: 'f32' });
    const progress = o.rounds > 1 ? round / (o.rounds - 1) : 0;
    const lr = o.finalLr + 0.5 * (o.lr - o.finalLr) * (1 + Math.cos(Math.PI * progress));
    const settings: RunSettings = {
      ...DEFAULT_SETTINGS,
      model: { kind: 'local', name: 'demo-pretraining' },
      lora: { r: o.rank, alpha: o.rank, dropout: 0, targets: [...TARGET_MODULES], useRslora: false, layers: null },
      train: {
        ...DEFAULT_SETTINGS.train,
        learningRate: lr,
        epochs: 1000,
        maxSteps: o.stepsPerRound,
        batchSize: o.batchSize,
        microBatch: o.batchSize,
        maxLength: o.maxLength,
        weightDecay: 0,
        schedule: 'cosine',
        warmupRatio: 0.05,
        maxGradNorm: 1,
        seed: o.seed * 1000 + round,
        shuffle: true,
        packing: true,
        gradientCheckpointing: 'off',
      },
      data: { ...DEFAULT_SETTINGS.data, trainOn: o.trainOn, validationFraction: 0 },
      eval: { evalInterval: 0, logInterval: Math.max(1, Math.floor(o.stepsPerRound / 4)), checkpointInterval: 0 },
    };
    const losses: number[] = [];
    const tTrain = performance.now();
    const outcome = await runTraining({
      model,
      data: { train, validation: null, longestRow: o.maxLength },
      settings,
      identity: { model: 'demo-pretraining', data: `round ${round}` },
      limits,
      padId,
      onEvent: (e) => {
        if (e.type === 'log') losses.push(e.metrics.loss);
      },
    });
    const trainSeconds = (performance.now() - tTrain) / 1000;
    const adapter = { config: toPeftConfig(settings.lora, 'demo-pretraining'), tensors: adapterTensors(outcome.layout, outcome.params) };
    const read = mergedWeights(spec, async (name) => weights.get(name)!.data, adapter);
    const merged = new Map<string, Float32Array>();
    for (const name of weights.keys()) merged.set(name, await read(name));
    for (const [name, values] of merged) weights.get(name)!.data = roundTo(o.dtype, values);
    model.destroy();

    const after = await LlamaGpu.load(gpu, spec, async (name) => weights.get(name)!.data, { weights: 'f32' });
    const ev = await evaluate(after, factSet, { microBatch: evalMicroBatch, seqLen: 64, padId, adapter: null });
    let accuracy: number | null = null;
    if (probes.length && (round === o.rounds - 1 || round % 4 === 3)) {
      const answers = await greedyAnswers(after, tok, probes.map((p) => p.question));
      accuracy = answers.filter((a, i) => a === probes[i].answer).length / probes.length;
      const wrong = answers.map((a, i) => [probes[i], a] as const).filter(([p, a]) => a !== p.answer).slice(0, 4);
      for (const [p, a] of wrong) o.log(`    ${p.question} → ${JSON.stringify(a)} (want ${JSON.stringify(p.answer)})`);
    }
    after.destroy();
    const seconds = (performance.now() - t0) / 1000;
    history.push({ round, loss: ev.loss, accuracy, seconds });
    o.log(`round ${round + 1}/${o.rounds}: lr ${lr.toExponential(2)}, train loss ${losses.map((l) => l.toFixed(3)).join(' → ')}, answer loss on the facts ${ev.loss.toFixed(4)}${accuracy === null ? '' : `, greedy accuracy ${(accuracy * 100).toFixed(1)}% of ${probes.length}`}, ${seconds.toFixed(0)} s (training ${trainSeconds.toFixed(0)} s)`);
  }

  const files = new Map(generated.files);
  const toWrite = new Map<string, TensorToWrite>();
  for (const [name, t] of weights) toWrite.set(name, { dtype: o.dtype, shape: t.shape, data: fromF32(o.dtype, t.data) });
  files.set('model.safetensors', serializeSafetensors(toWrite, { format: 'pt' }));
  return { spec, tensors: weights, files, history };
}
