import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Flags that give headless Debian Chromium WebGPU on SwiftShader and keep it off the network (DESIGN.md §5). */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--enable-unsafe-swiftshader',
  '--use-webgpu-adapter=swiftshader',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

/** Launches Debian's Chromium headless; fails loudly with an install hint when it is missing. */
export async function launchBrowser(extraArgs: string[] = []): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}: install it with \`apt-get install -y chromium\` (or set CHROMIUM_PATH)`);
  }
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_ARGS, ...extraArgs] });
}

/** A persistent profile (real IndexedDB kept across page reloads and browser restarts). */
export async function launchPersistent(userDataDir = mkdtempSync(join(tmpdir(), 'studio-profile-'))): Promise<BrowserContext> {
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    acceptDownloads: true,
  });
}

/**
 * A browser test's page: a fresh persistent profile (`<prefix>…` in the temporary folder), its
 * first page at `viewport` when given, the page's console errors and uncaught errors echoed to
 * the test's log.
 */
export async function openProfilePage(prefix: string, viewport?: { width: number; height: number }): Promise<{ context: BrowserContext; page: Page }> {
  const context = await launchPersistent(mkdtempSync(join(tmpdir(), prefix)));
  const page = context.pages()[0] ?? (await context.newPage());
  if (viewport) await page.setViewportSize(viewport);
  page.on('console', (m) => m.type() === 'error' && console.log(`[page] ${m.text()}`));
  page.on('pageerror', (e) => console.log(`[page error] ${e.message}`));
  return { context, page };
}

/** Where screenshots and other browser-test artifacts go. */
export function artifactDir(): string {
  const dir = join(process.cwd(), 'test-results', 'e2e');
  mkdirSync(dir, { recursive: true });
  return dir;
}
