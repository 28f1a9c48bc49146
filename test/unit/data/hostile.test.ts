import { describe, expect, it } from 'vitest';
import { loadDataset, prepareDataset } from '../../../src/data/dataset';
import { DatasetError, DatasetErrorList } from '../../../src/data/errors';
import { hostileCases } from '../../fixtures/data/hostile';
import { demoTokenizer } from './tokenizer';

describe('hostile corpus', () => {
  it('has at least 45 files', () => {
    expect(hostileCases.length).toBeGreaterThanOrEqual(45);
  });

  for (const c of hostileCases) {
    it(`${c.name}: ${c.code}`, async () => {
      const tok = await demoTokenizer();
      let err: unknown;
      try {
        await loadDataset(c.source(), tok, { maxLength: 256, ...c.options });
      } catch (e) {
        err = e;
      }
      expect(err, 'the load must fail').toBeDefined();
      const list = err instanceof DatasetErrorList ? err : undefined;
      if (c.fatal) expect(err, `fatal: ${String(err)}`).toBeInstanceOf(DatasetError);
      else expect(list, `row error: ${String(err)}`).toBeDefined();
      const first = list ? list.errors[0] : (err as DatasetError);
      expect(first).toBeInstanceOf(DatasetError);
      expect(first.code, first.message).toBe(c.code);
      expect(first.file).toBe(c.source().name);
      expect(first.message.startsWith(first.file)).toBe(true);
      if (c.line !== undefined) expect(first.line, first.message).toBe(c.line);
      if (c.row !== undefined) expect(first.row, first.message).toBe(c.row);
      if (c.byteOffset !== undefined) expect(first.byteOffset, first.message).toBe(c.byteOffset);
      for (const s of c.says ?? []) expect(first.message).toMatch(s);
      if (list) expect(list.message).toContain(first.message);
      // Every error says where (a line, row or byte, unless the whole file is at fault) and what to do.
      expect(first.hint, `no advice in: ${first.message}`).toBeTruthy();
      expect(first.message.endsWith(first.hint!)).toBe(true);
      if (!c.fatal) expect(first.line ?? first.row, first.message).toBeDefined();
    });
  }

  // The studio's path: the same files never throw; the report says what is wrong, with the same first error.
  for (const c of hostileCases) {
    it(`studio report, ${c.name}: ${c.code}`, async () => {
      const tok = await demoTokenizer();
      const d = await prepareDataset(c.source(), tok, { maxLength: 256, ...c.options });
      expect(d.report.ok).toBe(false);
      expect(d.train).toBeNull();
      expect(d.info.errors[0]).toMatchObject({ code: c.code });
      if (c.line !== undefined) expect(d.info.errors[0].line).toBe(c.line);
      expect(structuredClone(d.info)).toEqual(d.info);
    });
  }
});
