// `npm start`: builds the studio and serves it on localhost, printing the URL.
import { execFileSync } from 'node:child_process';
import { serve } from './serve.mjs';

execFileSync('npx', ['vite', 'build', '--logLevel', 'warn'], { stdio: 'inherit' });
const port = Number(process.env.PORT ?? 5173);
const server = await serve({ root: 'dist/web', port }).catch(async (error) => {
  if (error.code !== 'EADDRINUSE') throw error;
  console.log(`port ${port} is busy, picking a free one`);
  return serve({ root: 'dist/web', port: 0 });
});
console.log(`\nAdapter Studio is running at ${server.url}\n(the built-in demo model is ready to train; Ctrl+C stops the server)`);
