// `adapter-studio inspect` checks what training will need, and says what is wrong in one line.
import { describe, expect, it } from 'vitest';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../../src/cli/main';
import { cliIo as io } from '../../helpers/cliIo';

async function inspect(path: string) {
  const t = io();
  const code = await main(['inspect', path], t.io);
  return { code, ...t.text };
}

function demoCopy(edit: (dir: string) => void): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'inspect-')), 'model');
  cpSync('public/models/demo', dir, { recursive: true });
  edit(dir);
  return dir;
}

describe('inspect checks what training needs', () => {
  it('the demo model: every value finite, the tokenizer, its special ids and chat template', async () => {
    const r = await inspect('public/models/demo');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/weights valid: yes \(every value finite\)/);
    expect(r.out).toMatch(/tokenizer: 512 ids, bos 1, eos 2; chat template present/);
  });

  it('a corrupt tokenizer.json, an eos id outside the vocabulary, a bin file beside the weights', async () => {
    const broken = await inspect(demoCopy((d) => writeFileSync(join(d, 'tokenizer.json'), '{"broken')));
    expect(broken.code).toBe(1);
    expect(broken.err).toMatch(/^error: FileError: .*tokenizer\.json: is not valid JSON .*copy it again from the model repository\n$/);
    const eos = await inspect(demoCopy((d) => {
      const config = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8'));
      writeFileSync(join(d, 'config.json'), JSON.stringify({ ...config, eos_token_id: 600 }));
    }));
    expect(eos.code).toBe(1);
    expect(eos.err).toMatch(/ConfigError: .*config\.json: field "eos_token_id": 600 is outside the vocabulary of 512 tokens/);
    const bin = await inspect(demoCopy((d) => writeFileSync(join(d, 'pytorch_model.bin'), 'x')));
    expect(bin.code, bin.err).toBe(0);
    expect(bin.out).toMatch(/not read: pytorch_model\.bin \(inspect and train read safetensors weights only/);
  });

  it('a bad adapter_config.json is a typed error naming the file, not a raw SyntaxError', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inspect-adapter-'));
    writeFileSync(join(dir, 'adapter_model.safetensors'), new Uint8Array(16));
    writeFileSync(join(dir, 'adapter_config.json'), '{"peft_type": "LORA", ');
    const r = await inspect(dir);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^error: AdapterError: adapter_config\.json: /);
    expect(r.err).not.toMatch(/SyntaxError/);
  });
});
