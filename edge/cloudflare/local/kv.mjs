// A stand-in for one Workers KV namespace under workerd, for local runs only.
//
// workerd turns a `kvNamespace` binding's calls into HTTP requests to the service it names:
// `GET /<key>?urlencoded=true` (404 = no such key), `PUT /<key>?urlencoded=true[&expiration_ttl=S
// | &expiration=T]` with the value as the body, `DELETE /<key>?urlencoded=true`; the key is
// percent-encoded into one path segment. Values written here live in memory, with their expiry;
// a key never written is looked up in the `SEED` service (a workerd `disk` service over the
// directory the generator seeded: the player library, the health snapshot), so a file replaced
// there is seen on the next read, as a controller's new snapshot would be.
//
// Like Workers KV, a put with an expiration under 60 s is refused (400), so an adapter that
// forgets KV's minimum fails here as it would in production.

const MIN_TTL_SECS = 60;
const written = new Map(); // key -> { value: Uint8Array, expiresAt: ms or Infinity }

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const key = decodeURIComponent(url.pathname.slice(1));
    const now = Date.now();
    switch (request.method) {
      case 'GET': {
        const entry = written.get(key);
        if (entry && entry.expiresAt > now) return new Response(entry.value);
        if (entry) written.delete(key);
        if (!env.SEED || key === '' || key.split('/').some((p) => p === '..' || p === '.')) {
          return new Response(null, { status: 404 });
        }
        const seeded = await env.SEED.fetch(`http://seed/${key.split('/').map(encodeURIComponent).join('/')}`);
        return seeded.ok ? new Response(seeded.body) : new Response(null, { status: 404 });
      }
      case 'PUT': {
        let expiresAt = Infinity;
        const ttl = url.searchParams.get('expiration_ttl');
        const at = url.searchParams.get('expiration');
        if (ttl !== null) {
          if (!(Number(ttl) >= MIN_TTL_SECS)) return refuse(`expiration_ttl ${ttl} is under ${MIN_TTL_SECS}`);
          expiresAt = now + Number(ttl) * 1000;
        } else if (at !== null) {
          if (!(Number(at) * 1000 >= now + MIN_TTL_SECS * 1000)) return refuse(`expiration ${at} is under ${MIN_TTL_SECS} s away`);
          expiresAt = Number(at) * 1000;
        }
        written.set(key, { value: new Uint8Array(await request.arrayBuffer()), expiresAt });
        return new Response(null, { status: 200 });
      }
      case 'DELETE':
        written.delete(key);
        return new Response(null, { status: 200 });
      default:
        return new Response('not supported by the local KV stand-in', { status: 501 });
    }
  },
};

function refuse(message) {
  return new Response(JSON.stringify({ success: false, errors: [{ code: 10033, message }] }), {
    status: 400,
    headers: { 'content-type': 'application/json' },
  });
}
