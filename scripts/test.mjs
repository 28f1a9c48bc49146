// `npm test`: the whole suite — type check, unit tests, GPU tests (Node, dawn.node), browser
// tests (headless Chromium). Ends with one summary line "tests: N passed, N failed".
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';

const hasHardwareGpu = () => ['/dev/nvidia0', '/dev/dri/renderD128', '/dev/dxg'].some((p) => existsSync(p));
import { ensureLavapipe, ensureSystemDeps } from './system-deps.mjs';

ensureSystemDeps();
const lavapipe = ensureLavapipe();
mkdirSync('test-results', { recursive: true });
rmSync('test-results/kernel-errors.jsonl', { force: true });

const env = { ...process.env, FORCE_COLOR: process.env.CI ? '0' : process.env.FORCE_COLOR };
let passed = 0;
let failed = 0;
const failures = [];

function step(name, command, args) {
  console.log(`\n━━━ ${name} ━━━`);
  const started = Date.now();
  const result = spawnSync(command, args, { stdio: 'inherit', env });
  console.log(`━━━ ${name}: ${result.status === 0 ? 'ok' : `FAILED (exit ${result.status})`} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return result.status === 0;
}

function vitest(project, icd) {
  const name = icd ? `${project}-${icd}` : project;
  const out = `test-results/vitest-${name}.json`;
  rmSync(out, { force: true });
  if (icd) env.ADAPTER_STUDIO_ICD = icd;
  else delete env.ADAPTER_STUDIO_ICD;
  const ok = step(`${name} tests`, 'npx', ['vitest', 'run', '--project', project, '--reporter=default', '--reporter=json', `--outputFile.json=${out}`]);
  if (existsSync(out)) {
    const report = JSON.parse(readFileSync(out, 'utf8'));
    passed += report.numPassedTests;
    failed += report.numFailedTests;
    if (report.numFailedTests > 0 || !ok) failures.push(name);
    if (report.numTotalTests === 0) {
      failures.push(`${name} (no tests ran)`);
      failed += 1;
    }
  } else {
    failures.push(`${name} (no report)`);
    failed += 1;
  }
}

if (step('type check', 'npx', ['tsc', '-p', 'tsconfig.json'])) passed += 1;
else {
  failed += 1;
  failures.push('type check');
}
vitest('unit');
// GPU tests: on the machine's own GPU when it has one; otherwise on SwiftShader (f32 path, 1 GiB
// bindings) and, when installed, again on lavapipe (shader-f16 path, 128 MiB bindings).
if (hasHardwareGpu() || process.env.ADAPTER_STUDIO_ICD) vitest('gpu', process.env.ADAPTER_STUDIO_ICD);
else {
  vitest('gpu', 'swiftshader');
  if (lavapipe) vitest('gpu', 'lavapipe');
  else console.log('\n(lavapipe not installed: the f16 kernel paths were not exercised; CI installs it)');
}
// The CLI tests exercise files and processes, not kernels: once, on the fastest adapter there is.
vitest('cli', hasHardwareGpu() || process.env.ADAPTER_STUDIO_ICD ? process.env.ADAPTER_STUDIO_ICD : lavapipe ? 'lavapipe' : 'swiftshader');
vitest('e2e');

console.log(`\n${failures.length ? `failed: ${failures.join(', ')}` : 'all green'}`);
console.log(`tests: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 && failures.length === 0 ? 0 : 1);
