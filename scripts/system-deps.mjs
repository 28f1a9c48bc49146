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
