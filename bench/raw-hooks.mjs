// Node module hooks that give `import text from './x.wgsl?raw'` the meaning Vite gives it (the
// file's text as the default export), so the benchmark runs the engine's sources under plain tsx.
// They also let tfjs-core's bundler-style ES modules (extensionless and directory imports) load,
// which the TF.js peer needs for its gradients (dist/register_all_gradients.js).
import { readFile } from 'node:fs/promises';

export async function resolve(specifier, context, nextResolve) {
  if (specifier.endsWith('?raw')) {
    const url = new URL(specifier, context.parentURL);
    return { url: url.href, format: 'module', shortCircuit: true };
  }
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    const bundlerStyle = specifier.startsWith('.') && context.parentURL?.includes('/node_modules/@tensorflow/');
    if (!bundlerStyle) throw error;
    for (const suffix of ['.js', '/index.js']) {
      try {
        return await nextResolve(specifier + suffix, context);
      } catch {
        // try the next form
      }
    }
    throw error;
  }
}

export async function load(url, context, nextLoad) {
  if (url.endsWith('?raw')) {
    const text = await readFile(new URL(url.slice(0, -'?raw'.length)), 'utf8');
    return { format: 'module', source: `export default ${JSON.stringify(text)};`, shortCircuit: true };
  }
  return nextLoad(url, context);
}
