// The PyTorch export's train.py as the tests read it: Debian's python3 (no ML packages), and a
// generated block of train.py read back by Python's own parser.
import { spawnSync } from 'node:child_process';
import { expect } from 'vitest';

/** python3 with `args`; a machine without python3 fails with what to install. */
export function python(args: string[], opts: { cwd?: string; env?: Record<string, string>; input?: string } = {}) {
  const r = spawnSync('python3', args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, input: opts.input, encoding: 'utf8' });
  if (r.error) throw new Error(`python3 could not run (${r.error.message}): these checks need Debian's python3 (apt-get install python3)`);
  return r;
}

/** Reads a block of train.py between two marker lines: ast.literal_eval of each assignment, nothing else allowed. */
const READ_BLOCK = String.raw`
import ast, json, sys
src = open(sys.argv[1], encoding="utf-8").read()
begin, end = sys.argv[2], sys.argv[3]
block = src[src.index(begin) + len(begin):src.index(end)]
out = {}
for node in ast.parse(block).body:
    assert isinstance(node, ast.Assign) and len(node.targets) == 1, ast.dump(node)
    out[node.targets[0].id] = ast.literal_eval(node.value)
print(json.dumps(out))
`;

/** The assignments of train.py (at `script`) between `begin` and `end`, as Python reads them. */
export function readTrainPyBlock(script: string, begin: string, end: string): Record<string, unknown> {
  const r = python(['-c', READ_BLOCK, script, begin, end]);
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout) as Record<string, unknown>;
}
