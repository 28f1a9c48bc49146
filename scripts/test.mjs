// `npm test`: the whole suite — type check, unit tests, GPU tests (Node, dawn.node), browser
// tests (headless Chromium). Ends with one summary line "tests: N passed, N failed".
//
// Phases whose work is mostly on one core run side by side (CI machines have two): the system
// packages install while the type check and the unit tests run; the lavapipe GPU tests, the CLI
// tests, the studio's build and the browser tests that time nothing run beside the SwiftShader GPU
// tests. A lane beside the main one prints its output when it ends, so no two logs interleave. The
// browser tests that time what a user waits for run alone, last.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { LAVAPIPE_ICD } from './system-deps.mjs';

const hasHardwareGpu = () => ['/dev/nvidia0', '/dev/dri/renderD128', '/dev/dxg'].some((p) => existsSync(p));

mkdirSync('test-results', { recursive: true });
rmSync('test-results/kernel-errors.jsonl', { force: true });

const baseEnv = { ...process.env, FORCE_COLOR: process.env.CI ? '0' : process.env.FORCE_COLOR };
let passed = 0;
let failed = 0;
const failures = [];

/** Runs one command; `buffered` keeps its output until it ends (a lane beside the main one). */
function step(name, command, args, { env = baseEnv, buffered = false } = {}) {
  const started = Date.now();
  if (!buffered) console.log(`\n━━━ ${name} ━━━`);
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: buffered ? ['ignore', 'pipe', 'pipe'] : 'inherit', env });
    const chunks = [];
    if (buffered) {
      child.stdout.on('data', (c) => chunks.push(c));
      child.stderr.on('data', (c) => chunks.push(c));
    }
    child.on('close', (status) => {
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      if (buffered) process.stdout.write(`\n━━━ ${name} (ran beside the main lane) ━━━\n${Buffer.concat(chunks).toString()}`);
      console.log(`━━━ ${name}: ${status === 0 ? 'ok' : `FAILED (exit ${status})`} in ${seconds} s`);
      resolve(status === 0);
    });
    child.on('error', (error) => {
      console.log(`━━━ ${name}: could not start (${error.message})`);
      resolve(false);
    });
  });
}

/** One vitest project (on one adapter); `options.name` and `options.args` run a part of it (files, --exclude). */
async function vitest(project, icd, options = {}) {
  const name = options.name ?? (icd ? `${project}-${icd}` : project);
  const out = `test-results/vitest-${name}.json`;
  rmSync(out, { force: true });
  const env = { ...baseEnv, ...(options.env ?? {}) };
  if (icd) env.ADAPTER_STUDIO_ICD = icd;
  else delete env.ADAPTER_STUDIO_ICD;
  const args = ['vitest', 'run', '--project', project, ...(options.args ?? []), '--reporter=default', '--reporter=json', `--outputFile.json=${out}`];
  const ok = await step(`${name} tests`, 'npx', args, { env, buffered: options.buffered });
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

async function typeCheck() {
  if (await step('type check', 'npx', ['tsc', '-p', 'tsconfig.json'])) passed += 1;
  else {
    failed += 1;
    failures.push('type check');
  }
}

// 1. System packages (chromium, the Vulkan loader, lavapipe in CI) ∥ type check, then unit tests.
const [depsOk] = await Promise.all([
  step('system packages', process.execPath, ['scripts/system-deps.mjs'], { buffered: true }),
  typeCheck().then(() => vitest('unit')),
]);
if (!depsOk) {
  console.log('\nThe GPU and browser tests need the system packages above; stopping.');
  console.log(`tests: ${passed} passed, ${failed + 1} failed`);
  process.exit(1);
}

// Browser tests that time nothing a user waits for and race nothing: they may run beside the
// SwiftShader GPU tests. Every other browser file (a new one too) runs alone at the end.
const E2E_BESIDE = ['export', 'export-encoder', 'kernels', 'link', 'no-webgpu', 'onnx-transformersjs-browser', 'onnx-webgpu', 'pytorch', 'worker-gpu'].map((f) => `test/e2e/${f}.test.ts`);

// 2. GPU tests: on the machine's own GPU when it has one; otherwise on SwiftShader (f32 path, 1 GiB
// bindings) and, beside it, on lavapipe (shader-f16 path, 128 MiB bindings) when installed. The CLI
// tests exercise files and processes, not kernels: once, on the fastest adapter there is. The
// studio's build and the browser tests of E2E_BESIDE run in the second lane too.
const chosen = hasHardwareGpu() || process.env.ADAPTER_STUDIO_ICD;
const lavapipe = existsSync(LAVAPIPE_ICD);
let built = false;
const buildThenBrowserTests = async (buffered) => {
  built = await step('studio build', 'npx', ['vite', 'build', '--logLevel', 'warn'], { buffered });
  if (!built) {
    failed += 1;
    failures.push('studio build');
    return;
  }
  await vitest('e2e', undefined, { name: 'e2e-beside', args: E2E_BESIDE, env: { STUDIO_SKIP_BUILD: '1' }, buffered });
};
if (chosen) {
  await vitest('gpu', process.env.ADAPTER_STUDIO_ICD);
  await vitest('cli', process.env.ADAPTER_STUDIO_ICD);
  await buildThenBrowserTests(false);
} else {
  if (!lavapipe) console.log('\n(lavapipe not installed: the f16 kernel paths were not exercised; CI installs it)');
  await Promise.all([
    vitest('gpu', 'swiftshader'),
    (async () => {
      if (lavapipe) await vitest('gpu', 'lavapipe', { buffered: true });
      await vitest('cli', lavapipe ? 'lavapipe' : 'swiftshader', { buffered: true });
      await buildThenBrowserTests(true);
    })(),
  ]);
}

// 3. The other browser tests, alone (they time what a user waits for, or race a reload), on the build above.
if (built) await vitest('e2e', undefined, { args: E2E_BESIDE.flatMap((f) => ['--exclude', f]), env: { STUDIO_SKIP_BUILD: '1' } });

console.log(`\n${failures.length ? `failed: ${failures.join(', ')}` : 'all green'}`);
console.log(`tests: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 && failures.length === 0 ? 0 : 1);
