// A stand-in for the Workers Cache API (`caches.default`) under workerd, for local runs only.
//
// workerd sends a Worker's cache calls to the service named by `cacheApiOutbound`:
// `cache.put` is a `PUT` of the cache key's URL whose body is the response serialised as an
// HTTP/1.1 message; `cache.match` is a `GET` of the key's URL with `Cache-Control:
// only-if-cached`, answered with the stored response and `CF-Cache-Status: HIT`, or with
// `CF-Cache-Status: MISS`; `cache.delete` is a `PURGE` (200 if something was removed, 404
// otherwise).
//
// Like Cloudflare's cache, an entry is kept for its `s-maxage` or `max-age` and not at all
// without one (or with `no-store` / `private`); entries live in memory. Range and conditional
// requests are not implemented: the Usher adapter uses neither.

const entries = new Map(); // url -> { status, headers: [[name, value]], body: Uint8Array, expiresAt }

export default {
  async fetch(request) {
    const key = request.url;
    const now = Date.now();
    switch (request.method) {
      case 'PUT': {
        const message = parse(new Uint8Array(await request.arrayBuffer()));
        const lifetime = message && lifetimeSecs(message.headers);
        if (lifetime > 0) entries.set(key, { ...message, expiresAt: now + lifetime * 1000 });
        return new Response(null, { status: 204 });
      }
      case 'GET': {
        const entry = entries.get(key);
        if (!entry || entry.expiresAt <= now) {
          entries.delete(key);
          return new Response(null, { status: 504, headers: { 'cf-cache-status': 'MISS' } });
        }
        const headers = new Headers(entry.headers);
        headers.set('cf-cache-status', 'HIT');
        return new Response(entry.body, { status: entry.status, headers });
      }
      case 'PURGE':
        return new Response(null, { status: entries.delete(key) ? 200 : 404 });
      default:
        return new Response(null, { status: 405 });
    }
  },
};

// How long Cloudflare's cache would keep a response, from its Cache-Control; 0 = not at all.
function lifetimeSecs(headers) {
  const control = headers
    .filter(([name]) => name.toLowerCase() === 'cache-control')
    .map(([, value]) => value.toLowerCase())
    .join(',');
  const directives = new Map(
    control.split(',').map((d) => d.trim()).filter(Boolean).map((d) => {
      const [name, value] = d.split('=');
      return [name.trim(), value === undefined ? '' : value.trim().replace(/^"|"$/g, '')];
    }),
  );
  if (directives.has('no-store') || directives.has('private')) return 0;
  const seconds = directives.get('s-maxage') ?? directives.get('max-age');
  return /^\d+$/.test(seconds ?? '') ? Number(seconds) : 0;
}

// An HTTP/1.1 response message: status line, header lines, a blank line, then the body
// (Content-Length or chunked, as workerd writes it).
function parse(bytes) {
  const end = indexOf(bytes, CRLF_CRLF, 0);
  if (end < 0) return null;
  const [statusLine, ...lines] = new TextDecoder().decode(bytes.subarray(0, end)).split('\r\n');
  const status = Number(statusLine.split(' ')[1]);
  const headers = lines.map((line) => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon).trim(), line.slice(colon + 1).trim()];
  });
  let body = bytes.subarray(end + 4);
  const chunked = headers.some(
    ([n, v]) => n.toLowerCase() === 'transfer-encoding' && v.toLowerCase().includes('chunked'),
  );
  if (chunked) body = unchunk(body);
  const kept = headers.filter(([n]) => !['transfer-encoding', 'content-length'].includes(n.toLowerCase()));
  return { status, headers: kept, body };
}

const CRLF = [13, 10];
const CRLF_CRLF = [13, 10, 13, 10];

function indexOf(bytes, pattern, from) {
  outer: for (let i = from; i + pattern.length <= bytes.length; i++) {
    for (let j = 0; j < pattern.length; j++) if (bytes[i + j] !== pattern[j]) continue outer;
    return i;
  }
  return -1;
}

function unchunk(bytes) {
  const parts = [];
  let at = 0;
  for (;;) {
    const lineEnd = indexOf(bytes, CRLF, at);
    if (lineEnd < 0) break;
    const size = parseInt(new TextDecoder().decode(bytes.subarray(at, lineEnd)), 16);
    at = lineEnd + 2;
    if (!(size > 0)) break;
    parts.push(bytes.subarray(at, at + size));
    at += size + 2;
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
