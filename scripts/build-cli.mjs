// Builds the CLI (src/cli/main.ts → dist/cli/main.js) with Vite's SSR build, which inlines the
// WGSL sources imported with `?raw`. Runs at `npm install` (prepare) so `npx adapter-studio` works.
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

if (!existsSync('src/cli/main.ts')) {
  console.log('build-cli: src/cli/main.ts not found, nothing to build');
} else {
  execFileSync('npx', ['vite', 'build', '--ssr', 'src/cli/main.ts', '--outDir', 'dist/cli', '--emptyOutDir', '--logLevel', 'warn'], {
    stdio: 'inherit',
  });
}
