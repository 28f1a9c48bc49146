// `adapter-studio data`: what the studio's Dataset screen shows, in a terminal — and the flags that
// choose what detection cannot (a file matching two schemas is refused with both named).
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../../src/cli/main';
import { cliIo as io } from '../../helpers/cliIo';

const dir = mkdtempSync(join(tmpdir(), 'adapter-studio-data-'));

describe('adapter-studio data', () => {
  it('shows format, schema, counts, split and a row with its trained tokens marked', async () => {
    const t = io();
    expect(await main(['data', '--data', 'public/samples/animals-and-colors.jsonl', '--model', 'public/models/demo', '--show-rows', '1'], t.io), t.text.err).toBe(0);
    expect(t.text.out).toMatch(/^data: animals-and-colors\.jsonl \(jsonl, [\d,]+ bytes\)/);
    expect(t.text.out).toMatch(/schema: chat .* detected; to choose it: --schema chat --columns messages=messages/);
    expect(t.text.out).toMatch(/rows: 28 read, 28 used; [\d,]+ tokens, [\d,]+ trained/);
    expect(t.text.out).toMatch(/split: \d+ train \/ \d+ validation/);
    expect(t.text.out).toMatch(/row 1 \(line 1\), \d+ tokens, \d+ trained:\n[\s\S]*⟦A cat meows\.<\|im_end\|>/);
  });

  it('refuses a file that matches two schemas, naming both with the flags that choose; the flags then choose', async () => {
    const file = join(dir, 'qa.jsonl');
    writeFileSync(file, [{ question: 'What is 2+2?', answer: '4', text: 'Boilerplate.' }, { question: 'Capital of France?', answer: 'Paris', text: 'Boilerplate.' }].map((r) => JSON.stringify(r)).join('\n') + '\n');
    const t = io();
    expect(await main(['data', '--data', file, '--model', 'public/models/demo'], t.io)).toBe(1);
    expect(t.text.err).toMatch(/rows match 2 schemas .*alpaca \(instruction: question, output: answer\) and text \(text\)/);
    expect(t.text.err).toMatch(/--schema alpaca --columns instruction=question,output=answer/);
    const c = io();
    expect(await main(['data', '--data', file, '--model', 'public/models/demo', '--columns', 'instruction=question,output=answer'], c.io), c.text.err).toBe(0);
    expect(c.text.out).toMatch(/schema: alpaca \(instruction: question, output: answer\) — as given/);
    expect(c.text.out).toMatch(/### Response:\n\s*⟦4/);
  });

  it('bad rows stop the run with their real line numbers, or are skipped and counted with --on-bad-rows skip', async () => {
    const file = join(dir, 'bad.jsonl');
    const good = JSON.stringify({ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }] });
    writeFileSync(file, [good, good, '{"messages": [ {"role": "user", "content": "broken', good, '', good].join('\n') + '\n');
    const t = io();
    expect(await main(['data', '--data', file, '--model', 'public/models/demo'], t.io)).toBe(1);
    expect(t.text.out + t.text.err).toMatch(/bad\.jsonl:3/);
    const s = io();
    expect(await main(['data', '--data', file, '--model', 'public/models/demo', '--on-bad-rows', 'skip'], s.io), s.text.err).toBe(0);
    expect(s.text.out).toMatch(/rows: \d+ read, 4 used, 1 skipped/);
    expect(s.text.out).toMatch(/skipped: .*bad\.jsonl:3/);
  });
});
