import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { serve } from '../../scripts/serve.mjs';

declare module 'vitest' {
  export interface ProvidedContext {
    baseUrl: string;
  }
}

/** Builds the studio once (unless STUDIO_SKIP_BUILD is set and a build exists) and serves it on localhost. */
export default async function setup(project: TestProject) {
  if (!(process.env.STUDIO_SKIP_BUILD && existsSync('dist/web/index.html'))) {
    execFileSync('npx', ['vite', 'build', '--logLevel', 'warn'], { stdio: 'inherit' });
  }
  const server = await serve({ root: 'dist/web', port: 0 });
  project.provide('baseUrl', server.url);
  return async () => {
    await server.close();
  };
}
