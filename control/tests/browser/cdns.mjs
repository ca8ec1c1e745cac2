// Stand-in CDNs for the controller's browser tests: local HTTP servers that each serve a live
// media playlist and its segments, with a behaviour the test changes while they run.
//
// The playlist lists the five newest two-second segments, numbered by the clock as the origin
// numbers them (floor(now / 2 s) - 1 is the newest), so the controller's probe sees a new segment
// every two seconds. A segment is SEGMENT_BYTES of filler. Every answer carries X-Cache (a miss
// on every tenth request, hits otherwise) and Age, which the probe reads as cache status.
// Failures are spread evenly, not drawn at random: with errorRate 0.5 every second request is a
// 503, so a run is repeatable.

import { createServer } from 'node:http';

export const SEGMENT_BYTES = 200_000;
const SEGMENT = Buffer.alloc(SEGMENT_BYTES, 0x5a);

function playlist() {
  const newest = Math.floor(Date.now() / 2000) - 1;
  let text = `#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:${newest - 4}\n`;
  for (let msn = newest - 4; msn <= newest; msn++) text += `#EXTINF:2.000,\n${msn}.m4s\n`;
  return text;
}

// One CDN on 127.0.0.1 (port 0). `behaviour` is { delayMs, errorRate } and may be replaced with
// set() at any time; it applies to the requests that arrive after.
export async function startCdn(id, behaviour = {}) {
  let current = { delayMs: 0, errorRate: 0, ...behaviour };
  let requests = 0;
  const server = createServer((req, res) => {
    requests += 1;
    const n = requests;
    const { delayMs, errorRate } = current;
    const fails = errorRate > 0 && Math.floor(n * errorRate) > Math.floor((n - 1) * errorRate);
    setTimeout(() => {
      const path = new URL(req.url, 'http://127.0.0.1').pathname;
      const headers = { 'x-cache': n % 10 === 0 ? 'MISS' : 'HIT', age: '1', 'cache-control': 'no-cache' };
      if (fails) {
        res.writeHead(503, { ...headers, 'content-type': 'text/plain' });
        return res.end('busy\n');
      }
      if (path.endsWith('.m3u8')) {
        res.writeHead(200, { ...headers, 'content-type': 'application/vnd.apple.mpegurl' });
        return res.end(playlist());
      }
      if (path.endsWith('.m4s')) {
        res.writeHead(200, { ...headers, 'content-type': 'video/mp4', 'content-length': SEGMENT_BYTES });
        return res.end(SEGMENT);
      }
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
    }, delayMs);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    id,
    baseUrl: `http://127.0.0.1:${port}/`,
    set(next) { current = { ...current, ...next }; },
    requests: () => requests,
    close() {
      server.closeAllConnections?.();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
