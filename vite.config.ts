/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// One config for the studio build, the CLI build and the three test projects.
// `base: './'` keeps the static site working under any base path (GitHub Pages, a sub-folder).
export default defineConfig({
  base: './',
  plugins: [react()],
  worker: { format: 'es' },
  build: { target: 'es2022', outDir: 'dist/web', emptyOutDir: true },
  test: {
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'], environment: 'node', testTimeout: 60_000 },
      },
      {
        extends: true,
        test: {
          name: 'gpu',
          include: ['test/gpu/**/*.test.ts'],
          environment: 'node',
          testTimeout: 300_000,
          hookTimeout: 120_000,
          // dawn.node holds one Vulkan instance per process; forks keep GPU test files isolated.
          pool: 'forks',
        },
      },
      {
        // The CLI end to end (child processes, kills, hostile files): on the GPU, but about files and
        // processes, not kernels, so it runs once, on the fastest adapter (scripts/test.mjs).
        extends: true,
        test: {
          name: 'cli',
          include: ['test/cli/**/*.test.ts'],
          environment: 'node',
          testTimeout: 300_000,
          hookTimeout: 180_000,
          pool: 'forks',
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          environment: 'node',
          testTimeout: 600_000,
          hookTimeout: 300_000,
          globalSetup: ['test/e2e/globalSetup.ts'],
          fileParallelism: false,
        },
      },
    ],
  },
});
