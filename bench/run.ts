// `npm run bench` entry: teaches Node the `?raw` WGSL imports, then runs the benchmark.
import { register } from 'node:module';

register('./raw-hooks.mjs', import.meta.url);
const { main } = await import('./main');
process.exitCode = await main(process.argv.slice(2));
// dawn.node and Chromium keep handles open; the results are written, so leave now.
process.exit(process.exitCode);
