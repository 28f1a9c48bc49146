#!/usr/bin/env node
// A small static file server with HTTP Range support, for `npm start`, the browser tests and the
// hub tests (which also need a server that ignores Range, and one that answers 401/403/404).
import { createReadStream, promises as fs } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.jsonl': 'application/jsonl; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
  '.wgsl': 'text/plain; charset=utf-8',
};

/** Parses a single-range `Range` header against a file size: [start, end] inclusive, null if absent, 'bad' if unsatisfiable. */
export function parseRange(header, size) {
  if (!header) return null;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return 'bad';
  let start;
  let end;
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0) return 'bad';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(match[1]);
    end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  }
  if (start >= size || end < start) return 'bad';
  return [start, end];
}

/**
 * Serves `root` on 127.0.0.1. Options: port (0 = any free port), range (false = ignore Range
 * headers, as some servers do), status(path) → a status code to answer instead (tests of
 * 401/403/404), log (print requests).
 */
export async function serve({ root, port = 0, host = '127.0.0.1', range = true, status, log = false } = {}) {
  const base = resolve(root);
  const server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      let path = decodeURIComponent(url.pathname);
      const forced = status?.(path);
      if (forced) {
        res.writeHead(forced, { 'content-type': 'text/plain' });
        res.end(`status ${forced}`);
        return;
      }
      if (path.endsWith('/')) path += 'index.html';
      const file = normalize(join(base, path));
      if (file !== base && !file.startsWith(base + sep)) {
        res.writeHead(403).end('forbidden');
        return;
      }
      let stat = await fs.stat(file).catch(() => null);
      if (stat?.isDirectory()) {
        res.writeHead(301, { location: url.pathname + '/' }).end();
        return;
      }
      if (!stat) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${path}`);
        return;
      }
      const headers = {
        'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
        'cache-control': 'no-cache',
        'cross-origin-opener-policy': 'same-origin',
        'cross-origin-embedder-policy': 'require-corp',
        'cross-origin-resource-policy': 'same-origin',
      };
      if (range) headers['accept-ranges'] = 'bytes';
      const wanted = range ? parseRange(req.headers.range, stat.size) : null;
      if (wanted === 'bad') {
        res.writeHead(416, { ...headers, 'content-range': `bytes */${stat.size}` }).end();
        return;
      }
      if (log) console.log(`${req.method} ${path}${wanted ? ` bytes=${wanted[0]}-${wanted[1]}` : ''}`);
      if (wanted) {
        const [start, end] = wanted;
        res.writeHead(206, { ...headers, 'content-length': end - start + 1, 'content-range': `bytes ${start}-${end}/${stat.size}` });
        if (req.method === 'HEAD') return res.end();
        createReadStream(file, { start, end }).pipe(res);
      } else {
        res.writeHead(200, { ...headers, 'content-length': stat.size });
        if (req.method === 'HEAD') return res.end();
        createReadStream(file).pipe(res);
      }
    } catch (error) {
      res.writeHead(500).end(String(error));
    }
  });
  await new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, ok);
  });
  const address = server.address();
  const url = `http://${host}:${address.port}/`;
  return {
    url,
    port: address.port,
    server,
    close: () => new Promise((ok) => { server.closeAllConnections?.(); server.close(() => ok()); }),
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const root = args.find((a) => !a.startsWith('--')) ?? 'dist/web';
  const portFlag = args.indexOf('--port');
  const port = portFlag >= 0 ? Number(args[portFlag + 1]) : Number(process.env.PORT ?? 5173);
  const s = await serve({ root, port });
  console.log(`Serving ${root} at ${s.url}`);
}
