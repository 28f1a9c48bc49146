// The built-in demo on the engine, as the studio runs it: the committed demo model answers plainly,
// and the sample dataset trained with the demo preset through the run driver teaches it the
// pirate's style — the loss falls below a threshold and greedy answers become the trained ones.
import { describe, expect, it } from 'vitest';
import { eosTokenIds } from '../../../src/formats/hfConfig';
import { pirateAnswer, pirateSample, worldFacts } from '../../../src/formats/gen/demoWorld';
import type { LlamaGpu } from '../../../src/engine/model/llama';
import { generateTokens } from '../../../src/engine/model/generate';
import { uploadAdapter, type GpuAdapter } from '../../../src/engine/model/model';
import { isDemoPreset } from '../../../src/settings/settings';
import { testGpu } from '../../helpers/gpu';
import { DEMO_DIR, loadDemo, trainDemo } from '../../helpers/demoRun';
import { createHash } from 'node:crypto';
import { loadTokenizer } from '../../../src/data/tokenize';
import { nodeFiles } from '../../../src/formats/nodeSource';
import { DEMO_MODEL_OPTIONS, DEMO_PRETRAINING } from '../../../src/formats/demoModel';
import { pretrainDemo } from '../../../scripts/demo/pretrain';

/** Mean loss of the run's last 3 steps must end below this (it starts near 4.6; measured 0.032 on lavapipe and SwiftShader). */
const FINAL_LOSS_BELOW = 0.15;
/**
 * Facts the sample does not hold (every tenth of the rest of the world, 19): at least this many must be
 * answered the pirate's way too — the adapter learned a style, not 24 strings (measured 13 on lavapipe and SwiftShader).
 */
const HELD_OUT_AT_LEAST = 8;

describe('the demo model and the demo preset', () => {
  it('learns the sample dataset in one short run: the loss falls below 0.15, all 24 greedy answers become the trained ones, and the style carries to held-out facts', async () => {
    const gpu = await testGpu();
    const demo = await loadDemo(gpu);
    const { model, spec, tok } = demo;
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
    const answers = async (adapter: GpuAdapter | null) => {
      const out: string[] = [];
      for (const p of sample) out.push(await answer(model, adapter, p.prompt)); // one at a time: they share the GPU
      return out;
    };
    const before = await answers(null);
    console.log(`[demo] base: ${sample.map((p, i) => `${p.prompt} → ${JSON.stringify(before[i])}`).join('; ')}`);
    expect(before).toEqual(sample.map((p) => plain.get(p.prompt)));
    for (let i = 0; i < sample.length; i++) expect(before[i]).not.toBe(sample[i].answer);

    // What the studio proposes for the demo model, trained through the one run driver.
    const run = await trainDemo(gpu, demo);
    expect(isDemoPreset(run.settings)).toBe(true);
    const { outcome, losses } = run;
    const tail = losses.slice(-3).reduce((a, b) => a + b, 0) / 3;
    console.log(`[demo] ${outcome.steps} steps in ${run.seconds.toFixed(1)} s on ${gpu.adapter.name}: loss ${losses[0].toFixed(3)} → ${tail.toFixed(3)} (mean of the last 3)`);
    expect(outcome.status).toBe('done');
    expect(losses[0]).toBeGreaterThan(3);
    expect(tail).toBeLessThan(FINAL_LOSS_BELOW);

    // With the adapter, greedy answers are the trained ones; without it, still the base's own.
    const adapter = uploadAdapter(gpu, outcome.layout, outcome.params);
    const after = await answers(adapter);
    console.log(`[demo] tuned: ${sample.map((p, i) => `${p.prompt} → ${JSON.stringify(after[i])}`).join('; ')}`);
    expect(after).toEqual(sample.map((p) => p.answer));
    expect(await answer(model, null, sample[0].prompt)).toBe(before[0]);
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

  // The full pre-training is half an hour on lavapipe; its determinism is checked on a short one (the same
  // code: rounds through the run driver, merges, F16 rounding), on a smaller corpus and batch so it stays cheap.
  // The answer loss after each merge is measured on 24 of the 205 facts (evenly spread): it only reports, the
  // weights are the same bytes whatever the count (measured: all 205, 24 and 12 give one sha256 on both
  // adapters), and all 205 were ~18 s a round on SwiftShader.
  it('is rebuilt deterministically: two short pre-trainings as npm run gen:demo runs them (2 rounds of 3 steps) write the same bytes', async () => {
    const gpu = await testGpu();
    const tok = await loadTokenizer(nodeFiles(DEMO_DIR));
    const short = async () => {
      const r = await pretrainDemo(gpu, tok, { ...DEMO_PRETRAINING, rounds: 2, stepsPerRound: 3, batchSize: 2, extraConversations: 100, model: DEMO_MODEL_OPTIONS, dtype: DEMO_MODEL_OPTIONS.dtype ?? 'F32', log: () => {}, probe: 0, evalFacts: 24 });
      const bytes = r.files.get('model.safetensors') as Uint8Array;
      return { sha: createHash('sha256').update(bytes).digest('hex'), loss: r.history.map((h) => h.loss) };
    };
    const a = await short();
    const b = await short();
    console.log(`[demo] short pre-training: answer loss ${a.loss.map((l) => l.toFixed(4)).join(' → ')}, weights sha256 ${a.sha.slice(0, 16)}…`);
    expect(a.loss[1]).toBeLessThan(a.loss[0]);
    expect(b.sha).toBe(a.sha);
  }, 600_000); // 46 s on SwiftShader at load 4–5 (93 s with all 205 facts evaluated, same load)
});
