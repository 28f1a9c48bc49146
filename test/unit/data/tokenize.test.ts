import { describe, expect, it } from 'vitest';
import type { Normalized } from '../../../src/data/normalize';
import { loadTokenizer, renderExample } from '../../../src/data/tokenize';
import { DEMO_MODEL_DIR, demoTokenizer } from './tokenizer';

const where = { file: 't.jsonl', line: 1, row: 1 };

/** The trained tokens, decoded run by run. */
function trainedRuns(tok: Awaited<ReturnType<typeof demoTokenizer>>, ids: Int32Array, mask: Uint8Array): string[] {
  const runs: string[] = [];
  let cur: number[] = [];
  for (let t = 0; t <= ids.length; t++) {
    if (t < ids.length && mask[t]) cur.push(ids[t]);
    else if (cur.length) {
      runs.push(tok.decode(cur, { skip_special_tokens: false }));
      cur = [];
    }
  }
  return runs;
}

describe('rendering with the demo tokenizer (byte-level BPE, ChatML template)', () => {
  const chat: Normalized = {
    kind: 'chat',
    trainFrom: 0,
    messages: [
      { role: 'system', content: 'You are brief.' },
      { role: 'user', content: 'Hello there' },
      { role: 'assistant', content: 'Hi! How are you?' },
      { role: 'user', content: 'Fine, thanks.' },
      { role: 'assistant', content: 'Good to hear.' },
    ],
  };

  it('chat goes through the chat template; only assistant turns (and their end-of-turn) are trained', async () => {
    const tok = await demoTokenizer();
    const r = renderExample(tok, chat, { maxLength: 512 }, where);
    const text = tok.apply_chat_template(chat.messages as never, { tokenize: false }) as string;
    // Rendering turn by turn gives exactly the ids of the whole conversation.
    expect(Array.from(r.example.ids)).toEqual(tok.encode(text, { add_special_tokens: false }));
    expect(trainedRuns(tok, r.example.ids, r.example.lossMask)).toEqual(['Hi! How are you?<|im_end|>\n', 'Good to hear.<|im_end|>\n']);
    // The template already closed the last turn with EOS: nothing appended.
    expect(r.example.ids.at(-2)).toBe(tok.eos_token_id);
    expect(r.truncated).toBe(false);
  });

  it('trainOn "all" trains every token', async () => {
    const tok = await demoTokenizer();
    const r = renderExample(tok, chat, { maxLength: 512, trainOn: 'all' }, where);
    expect(Array.from(r.example.lossMask).every((m) => m === 1)).toBe(true);
  });

  it('conversational prompt/completion trains only turns from trainFrom on', async () => {
    const tok = await demoTokenizer();
    const r = renderExample(tok, { ...chat, trainFrom: 3 }, { maxLength: 512 }, where);
    expect(trainedRuns(tok, r.example.ids, r.example.lossMask)).toEqual(['Good to hear.<|im_end|>\n']);
  });

  it('a pair trains the response and an appended EOS', async () => {
    const tok = await demoTokenizer();
    const r = renderExample(tok, { kind: 'pair', prompt: '### Instruction:\nAdd 2 and 3\n\n### Response:\n', response: 'The sum is 5.' }, { maxLength: 512 }, where);
    const ids = Array.from(r.example.ids);
    expect(ids.at(-1)).toBe(tok.eos_token_id);
    expect(trainedRuns(tok, r.example.ids, r.example.lossMask)).toEqual(['The sum is 5.<|im_end|>']);
    expect(tok.decode(ids, { skip_special_tokens: false })).toBe('### Instruction:\nAdd 2 and 3\n\n### Response:\nThe sum is 5.<|im_end|>');
  });

  it('pairFormat "chat" renders a pair through the chat template', async () => {
    const tok = await demoTokenizer();
    const r = renderExample(tok, { kind: 'pair', prompt: 'ignored', instruction: 'Add 2 and 3', response: '5', system: 'Be exact.' }, { maxLength: 512, pairFormat: 'chat' }, where);
    expect(tok.decode(Array.from(r.example.ids), { skip_special_tokens: false })).toBe(
      '<|im_start|>system\nBe exact.<|im_end|>\n<|im_start|>user\nAdd 2 and 3<|im_end|>\n<|im_start|>assistant\n5<|im_end|>\n',
    );
    expect(trainedRuns(tok, r.example.ids, r.example.lossMask)).toEqual(['5<|im_end|>\n']);
  });

  it('text trains every token, EOS appended', async () => {
    const tok = await demoTokenizer();
    const r = renderExample(tok, { kind: 'text', text: 'Once upon a time.' }, { maxLength: 512 }, where);
    expect(r.example.ids.at(-1)).toBe(tok.eos_token_id);
    expect(Array.from(r.example.lossMask).every((m) => m === 1)).toBe(true);
    expect(r.fullLength).toBe(r.example.ids.length);
  });

  it("a template's own refusal (raise_exception) becomes a row error", async () => {
    const tok = await demoTokenizer();
    const strict = '{% if messages[0].role == "system" %}{{ raise_exception("System role not supported") }}{% endif %}{% for m in messages %}{{ m.content }}{% endfor %}';
    const withTemplate = {
      encode: tok.encode.bind(tok),
      eos_token_id: tok.eos_token_id,
      chat_template: strict,
      apply_chat_template: ((m: never, o: Record<string, unknown>) => tok.apply_chat_template(m, { ...o, chat_template: strict })) as typeof tok.apply_chat_template,
    };
    let err: unknown;
    try {
      renderExample(withTemplate, chat, { maxLength: 512 }, where);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'template', line: 1, row: 1 });
    expect(String(err)).toContain('System role not supported');
  });

  it('a template that rewrites earlier turns cannot be masked, and says so', async () => {
    const tok = await demoTokenizer();
    // Marks the last message specially, so the text of a turn changes once another follows it.
    const shifting = '{% for m in messages %}{% if loop.last %}[LAST]{% endif %}{{ m.role }}: {{ m.content }}\n{% endfor %}';
    const withTemplate = {
      encode: tok.encode.bind(tok),
      eos_token_id: tok.eos_token_id,
      chat_template: shifting,
      apply_chat_template: ((m: never, o: Record<string, unknown>) => tok.apply_chat_template(m, { ...o, chat_template: shifting })) as typeof tok.apply_chat_template,
    };
    expect(() => renderExample(withTemplate, chat, { maxLength: 512 }, where)).toThrow(/cannot be masked \(use trainOn: 'all'\)/);
    const all = renderExample(withTemplate, chat, { maxLength: 512, trainOn: 'all' }, where);
    expect(tok.decode(Array.from(all.example.ids), { skip_special_tokens: false })).toMatch(/^system: You are brief\.\n.*\[LAST\]assistant: Good to hear\.\n<\|im_end\|>$/s);
  });

  it('truncation cuts to maxLength and reports the full length', async () => {
    const tok = await demoTokenizer();
    const full = renderExample(tok, { kind: 'text', text: 'word '.repeat(100) }, { maxLength: 10_000 }, where);
    const cut = renderExample(tok, { kind: 'text', text: 'word '.repeat(100) }, { maxLength: 32 }, where);
    expect(cut.truncated).toBe(true);
    expect(cut.example.ids.length).toBe(32);
    expect(cut.fullLength).toBe(full.example.ids.length);
    expect(Array.from(cut.example.ids)).toEqual(Array.from(full.example.ids.subarray(0, 32)));
  });
});

describe('loadTokenizer(files)', () => {
  it('loads through ModelFiles served over HTTP, as the studio loads the demo (nothing from the hub)', async () => {
    const { createServer } = await import('node:http');
    const { readFile } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const { urlFiles } = await import('../../../src/formats/modelFolder');
    const served: string[] = [];
    const server = createServer(async (req, res) => {
      served.push(req.url ?? '');
      const m = /^\/models\/demo\/([\w.]+)$/.exec(req.url ?? '');
      try {
        if (!m) throw new Error('not found');
        res.end(await readFile(join(DEMO_MODEL_DIR, m[1])));
      } catch {
        res.statusCode = 404;
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { port } = server.address() as { port: number };
      const tok = await loadTokenizer(urlFiles(`http://127.0.0.1:${port}/models/demo/`));
      expect(tok.encode('Hello', { add_special_tokens: false })).toEqual((await demoTokenizer()).encode('Hello', { add_special_tokens: false }));
      expect(served).toContain('/models/demo/tokenizer.json');
      expect(served).toContain('/models/demo/tokenizer_config.json');
    } finally {
      server.close();
    }
  });
  it('picks the class AutoTokenizer picks, from tokenizer_config.json', async () => {
    const { AutoTokenizer, env } = await import('@huggingface/transformers');
    const { memoryFiles } = await import('../../../src/formats/modelFolder');
    const { readFile, mkdtemp, writeFile, rm } = await import('node:fs/promises');
    const { join, dirname, basename } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const json = await readFile(join(DEMO_MODEL_DIR, 'tokenizer.json'), 'utf8');
    const config = JSON.parse(await readFile(join(DEMO_MODEL_DIR, 'tokenizer_config.json'), 'utf8'));
    const dir = await mkdtemp(join(tmpdir(), 'tok-'));
    try {
      for (const cls of ['BertTokenizerFast', 'LlamaTokenizer', 'Qwen2TokenizerFast', 'RobertaTokenizer', 'NoSuchTokenizer', 'AutoTokenizer', undefined]) {
        const cfg = { ...config, tokenizer_class: cls };
        if (cls === undefined) delete cfg.tokenizer_class;
        const ours = await loadTokenizer(memoryFiles(new Map([['tokenizer.json', json], ['tokenizer_config.json', JSON.stringify(cfg)]]), 'mem'));
        await writeFile(join(dir, 'tokenizer.json'), json);
        await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify(cfg));
        env.allowRemoteModels = false;
        env.allowLocalModels = true;
        env.localModelPath = `${dirname(dir)}/`;
        const theirs = await AutoTokenizer.from_pretrained(basename(dir), { local_files_only: true });
        if (cls === 'AutoTokenizer') {
          // AutoTokenizer builds an AutoTokenizer (an object that cannot encode); only tokenizer classes are taken here.
          expect(typeof (theirs as { encode?: unknown }).encode).toBe('undefined');
          expect(ours.constructor.name).toBe('PreTrainedTokenizer');
        } else expect(ours.constructor.name, String(cls)).toBe(theirs.constructor.name);
        expect(ours.encode('Hello there', { add_special_tokens: false })).toEqual((await demoTokenizer()).encode('Hello there', { add_special_tokens: false }));
      }
    } finally {
      await rm(dir, { recursive: true });
    }
  });
  it('a folder without a tokenizer, or with a broken one, is a typed error that says what to do', async () => {
    const { memoryFiles } = await import('../../../src/formats/modelFolder');
    const { nodeFiles } = await import('../../../src/formats/nodeSource');
    await expect(loadTokenizer(nodeFiles('/nonexistent/model'))).rejects.toMatchObject({ code: 'tokenizer', file: '/nonexistent/model/tokenizer.json', message: expect.stringMatching(/not found.*save_pretrained/) });
    await expect(loadTokenizer(memoryFiles(new Map([['tokenizer.json', '{oops']]), 'm'))).rejects.toMatchObject({ code: 'tokenizer', message: expect.stringMatching(/not valid JSON/) });
  });
  it('reads chat_template.jinja when tokenizer_config.json has no template', async () => {
    const { memoryFiles } = await import('../../../src/formats/modelFolder');
    const { readFile } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const config = JSON.parse(await readFile(join(DEMO_MODEL_DIR, 'tokenizer_config.json'), 'utf8'));
    const template = config.chat_template;
    delete config.chat_template;
    const files = new Map([
      ['tokenizer.json', await readFile(join(DEMO_MODEL_DIR, 'tokenizer.json'), 'utf8')],
      ['tokenizer_config.json', JSON.stringify(config)],
      ['chat_template.jinja', template],
    ]);
    const tok = await loadTokenizer(memoryFiles(files, 'm'));
    expect(tok.chat_template).toBe(template);
  });
});
