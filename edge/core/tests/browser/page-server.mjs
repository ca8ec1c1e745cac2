// A one-page HTTP server on 127.0.0.1 for the browser tests and benchmarks: `/` is the page
// given, `/hls.min.js` the hls.js build from this directory's node_modules, anything else 404.
// Resolves with the listening server; close it when done.

import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

export function servePage(page) {
  const hlsJs = readFileSync(join(here, 'node_modules/hls.js/dist/hls.min.js'));
  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://127.0.0.1').pathname;
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      return res.end(page);
    }
    if (path === '/hls.min.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      return res.end(hlsJs);
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    return res.end('not found\n');
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(server)));
}
