// Checks the system packages the tests need: Debian's chromium (the browser tests, and its
// SwiftShader Vulkan driver for the GPU tests in Node) and the Vulkan loader. Installs them with
// apt-get when running as root on a machine with apt; otherwise stops and says what to install.
import { execSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

function hasVulkanLoader() {
  try {
    return execSync('ldconfig -p', { encoding: 'utf8' }).includes('libvulkan.so.1');
  } catch {
    return ['/usr/lib/x86_64-linux-gnu/libvulkan.so.1', '/usr/lib/aarch64-linux-gnu/libvulkan.so.1'].some(existsSync);
  }
}

export function missingPackages() {
  const missing = [];
  if (!existsSync(CHROMIUM) || !existsSync(SWIFTSHADER_ICD)) missing.push('chromium');
  if (!hasVulkanLoader()) missing.push('libvulkan1');
  return missing;
}

export const LAVAPIPE_ICD = '/usr/share/vulkan/icd.d/lvp_icd.json';

/**
 * Mesa 25's lavapipe (llvmpipe Vulkan) from bookworm-backports: a second software adapter with
 * shader-f16 and a 128 MiB binding limit, so the GPU tests also cover the f16 paths and tensor
 * splitting (Debian 12's own Mesa 22 lavapipe is rejected by Dawn). Installed only in CI
 * (CI=true) or when ADAPTER_STUDIO_LAVAPIPE=install, because it adds an apt source.
 */
export function ensureLavapipe() {
  if (existsSync(LAVAPIPE_ICD)) return true;
  const wanted = process.env.CI === 'true' || process.env.ADAPTER_STUDIO_LAVAPIPE === 'install';
  if (!wanted || process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get')) return false;
  try {
    const sources = '/etc/apt/sources.list.d';
    const list = execSync(`ls ${sources}`, { encoding: 'utf8' });
    if (!/backports/.test(list) && existsSync(`${sources}/debian.sources`)) {
      const debian = execSync(`cat ${sources}/debian.sources`, { encoding: 'utf8' });
      const first = debian.split(/\n\s*\n/)[0].replace(/^Suites:.*$/m, 'Suites: bookworm-backports');
      execSync(`cat > ${sources}/adapter-studio-backports.sources`, { input: first + '\n' });
    }
    console.log('Installing Mesa lavapipe from bookworm-backports (a second software GPU for the tests)…');
    execSync('apt-get update -q && apt-get install -y -q -t bookworm-backports mesa-vulkan-drivers', {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  } catch (error) {
    console.log(`lavapipe could not be installed (${error.message.split('\n')[0]}); GPU tests run on SwiftShader only`);
  }
  return existsSync(LAVAPIPE_ICD);
}

export function ensureSystemDeps() {
  const missing = missingPackages();
  if (missing.length === 0) return;
  const isRoot = process.getuid?.() === 0;
  const hasApt = existsSync('/usr/bin/apt-get');
  const command = `apt-get update && apt-get install -y ${missing.join(' ')}`;
  if (!isRoot || !hasApt) {
    console.error(
      `\nThe tests need these system packages: ${missing.join(', ')}.\n` +
        `Install them as root:  ${command}\n` +
        `(chromium runs the browser tests and ships SwiftShader, the software Vulkan driver the GPU tests use.)\n`,
    );
    process.exit(1);
  }
  console.log(`Installing ${missing.join(', ')} with apt-get (needed by the GPU and browser tests)…`);
  execSync(command, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  const still = missingPackages();
  if (still.length) {
    console.error(`Still missing after apt-get: ${still.join(', ')}`);
    process.exit(1);
  }
}

// `node scripts/system-deps.mjs`: both at once, in a process of their own, so that `npm test` can
// install them while the type check and the unit tests (which need neither) run.
if (import.meta.url === `file://${process.argv[1]}`) {
  ensureSystemDeps();
  ensureLavapipe();
}
