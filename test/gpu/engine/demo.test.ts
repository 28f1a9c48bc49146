// The built-in demo on the engine, as the studio runs it: the committed demo model answers plainly,
// and the sample dataset trained with the demo preset through the run driver teaches it the
// pirate's style — the loss falls below a threshold and greedy answers become the trained ones.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { loadDataset } from '../../../src/data/dataset';
import { fromPath } from '../../../src/data/nodeSource';
import { loadTokenizer } from '../../../src/data/tokenize';
import { nodeFiles } from '../../../src/formats/nodeSource';
import { eosTokenIds, padTokenId } from '../../../src/formats/hfConfig';
import { pirateAnswer, pirateSample, worldFacts } from '../../../src/formats/gen/demoWorld';
import { loadModel } from '../../../src/engine/model/load';
import type { LlamaGpu } from '../../../src/engine/model/llama';
import { generateTokens } from '../../../src/engine/model/generate';
import { uploadAdapter, type GpuAdapter } from '../../../src/engine/model/model';
import { runTraining } from '../../../src/engine/train/run';
import { DEFAULT_SETTINGS, isDemoPreset, settingsForModel } from '../../../src/settings/settings';
import { testGpu } from '../../helpers/gpu';

const DEMO_DIR = join(__dirname, '../../../public/models/demo');
const SAMPLE = join(__dirname, '../../../public/samples/pirate-talk.jsonl');

/** Mean loss of the run's last 3 steps must end below this (it starts near 4.6; measured 0.032 on lavapipe). */
const FINAL_LOSS_BELOW = 0.15;
/**
 * Facts the sample does not hold (every tenth of the rest of the world, 19): at least this many must be
 * answered the pirate's way too — the adapter learned a style, not 24 strings (measured 13 on lavapipe).
 */
const HELD_OUT_AT_LEAST = 8;

describe('the demo model and the demo preset', () => {
  it('learns the sample dataset in one short run: the loss falls below 0.15, all 24 greedy answers become the trained ones, and the style carries to held-out facts', async () => {
    const gpu = await testGpu();
    const tok = await loadTokenizer(nodeFiles(DEMO_DIR));
    const loaded = await loadModel(gpu, nodeFiles(DEMO_DIR));
    if (loaded.family !== 'llama') throw new Error(`the demo model loaded as ${loaded.family}, not a decoder`);
    const { model, folder } = loaded;
    const spec = folder.spec;
    const eos = eosTokenIds(spec, tok.eos_token_id);
    const answer = async (m: LlamaGpu, adapter: GpuAdapter | null, question: string): Promise<string> => {
      const text = tok.apply_chat_template([{ role: 'user', content: question }], { tokenize: false, add_generation_prompt: true }) as string;
      const ids = tok.encode(text, { add_special_tokens: false }) as number[];
      const out = await generateTokens(m, adapter, ids, { maxNewTokens: 24, temperature: 0, topK: 0, topP: 1, seed: 0, eosTokenIds: eos });
      return out.length ? tok.decode(out, { skip_special_tokens: true }) : '';
    };

    // The base model answers every one of the sample's questions plainly, as it was pre-trained to: none is the trained answer.
    const sample = pirateSample().map(([user, assistant]) => ({ prompt: user.content, answer: assistant.content }));
    const plain = new Map(worldFacts().map((f) => [f.question, f.answer]));
    const probes = sample;
    const answers = async (adapter: GpuAdapter | null) => {
      const out: string[] = [];
      for (const p of probes) out.push(await answer(model, adapter, p.prompt)); // one at a time: they share the GPU
      return out;
    };
    const before = await answers(null);
    console.log(`[demo] base: ${probes.map((p, i) => `${p.prompt} → ${JSON.stringify(before[i])}`).join('; ')}`);
    expect(before).toEqual(probes.map((p) => plain.get(p.prompt)));

    // What the studio proposes for the demo model, trained through the one run driver.
    const settings = settingsForModel(DEFAULT_SETTINGS, { kind: 'demo' });
    expect(isDemoPreset(settings)).toBe(true);
    const data = await loadDataset(await fromPath(SAMPLE), tok, {
      maxLength: settings.train.maxLength,
      seed: settings.train.seed,
      vocabSize: spec.vocabSize,
      trainOn: settings.data.trainOn,
      validation: settings.data.validationFraction > 0 ? { fraction: settings.data.validationFraction } : undefined,
    });
    const losses: number[] = [];
    const t0 = performance.now();
    const outcome = await runTraining({
      model,
      data: { train: data.train, validation: data.validation ?? null, longestRow: data.stats.maxLength },
      settings,
      identity: { model: 'demo', data: 'pirate-talk.jsonl' },
      limits: { budgetBytes: 2 ** 30, maxBufferSize: gpu.limits.maxBufferSize },
      padId: padTokenId(spec, tok.pad_token_id),
      onEvent: (e) => void (e.type === 'step' && losses.push(e.report.loss)),
    });
    const seconds = (performance.now() - t0) / 1000;
    const tail = losses.slice(-3).reduce((a, b) => a + b, 0) / 3;
    console.log(`[demo] ${outcome.steps} steps in ${seconds.toFixed(1)} s on ${gpu.adapter.name}: loss ${losses[0].toFixed(3)} → ${tail.toFixed(3)} (mean of the last 3)`);
    expect(outcome.status).toBe('done');
    expect(tail).toBeLessThan(FINAL_LOSS_BELOW);

    // With the adapter, greedy answers are the trained ones; without it, still the base's own.
    const adapter = uploadAdapter(gpu, outcome.layout, outcome.params);
    const after = await answers(adapter);
    console.log(`[demo] tuned: ${probes.map((p, i) => `${p.prompt} → ${JSON.stringify(after[i])}`).join('; ')}`);
    expect(after).toEqual(probes.map((p) => p.answer));
    expect(await answer(model, null, probes[0].prompt)).toBe(before[0]);
    // Facts the sample does not hold: most get the pirate's answer too.
    const held = worldFacts().filter((f) => !sample.some((s) => s.prompt === f.question)).filter((_, i) => i % 10 === 0);
    let pirate = 0;
    for (const f of held) {
      const a = await answer(model, adapter, f.question);
      if (a === pirateAnswer(f.answer)) pirate++;
      else console.log(`[demo] held out: ${f.question} → ${JSON.stringify(a)}`);
    }
    console.log(`[demo] held-out facts answered the pirate's way: ${pirate} of ${held.length}`);
    expect(held.length).toBe(19);
    expect(pirate).toBeGreaterThanOrEqual(HELD_OUT_AT_LEAST);
    adapter.destroy();
    model.destroy();
  });
});
