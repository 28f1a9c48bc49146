// `npm test`: the whole suite — type check, unit tests, GPU tests (Node, dawn.node), browser
// tests (headless Chromium). Ends with one summary line "tests: N passed, N failed".
//
// Phases whose work is mostly on one core run side by side (CI machines have two): the system
// packages install while the type check and the unit tests run; the lavapipe GPU tests, the CLI
// tests and the studio's build run beside the SwiftShader GPU tests. A lane beside the main one
// prints its output when it ends, so no two logs interleave. The browser tests run alone.
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

async function vitest(project, icd, options = {}) {
  const name = icd ? `${project}-${icd}` : project;
  const out = `test-results/vitest-${name}.json`;
  rmSync(out, { force: true });
  const env = { ...baseEnv, ...(options.env ?? {}) };
  if (icd) env.ADAPTER_STUDIO_ICD = icd;
  else delete env.ADAPTER_STUDIO_ICD;
  const ok = await step(`${name} tests`, 'npx', ['vitest', 'run', '--project', project, '--reporter=default', '--reporter=json', `--outputFile.json=${out}`], { env, buffered: options.buffered });
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

// 2. GPU tests: on the machine's own GPU when it has one; otherwise on SwiftShader (f32 path, 1 GiB
// bindings) and, beside it, on lavapipe (shader-f16 path, 128 MiB bindings) when installed. The CLI
// tests exercise files and processes, not kernels: once, on the fastest adapter there is. The
// studio's build for the browser tests runs in the second lane too.
const chosen = hasHardwareGpu() || process.env.ADAPTER_STUDIO_ICD;
const lavapipe = existsSync(LAVAPIPE_ICD);
const build = () => step('studio build', 'npx', ['vite', 'build', '--logLevel', 'warn'], { buffered: true });
let built;
if (chosen) {
  await vitest('gpu', process.env.ADAPTER_STUDIO_ICD);
  await vitest('cli', process.env.ADAPTER_STUDIO_ICD);
  built = await build();
} else {
  if (!lavapipe) console.log('\n(lavapipe not installed: the f16 kernel paths were not exercised; CI installs it)');
  [, built] = await Promise.all([
    vitest('gpu', 'swiftshader'),
    (async () => {
      if (lavapipe) await vitest('gpu', 'lavapipe', { buffered: true });
      await vitest('cli', lavapipe ? 'lavapipe' : 'swiftshader', { buffered: true });
      return build();
    })(),
  ]);
}

if (!built) {
  failed += 1;
  failures.push('studio build');
}

// 3. Browser tests, alone (they time what a user waits for), on the build above.
await vitest('e2e', undefined, { env: built ? { STUDIO_SKIP_BUILD: '1' } : {} });

console.log(`\n${failures.length ? `failed: ${failures.join(', ')}` : 'all green'}`);
console.log(`tests: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 && failures.length === 0 ? 0 : 1);
