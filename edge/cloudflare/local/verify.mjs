// The Usher Worker under workerd, end to end, against a local origin serving a real HLS stream
// made by FFmpeg: every action the adapter executes, over real HTTP.
//
//   node edge/cloudflare/local/verify.mjs [--worker DIR] [--usher PATH] [--assets DIR] [--keep]
//
// Needs: the Worker built (make cloudflare-worker: edge/cloudflare/build), workerd from
// edge/cloudflare/node_modules (npm ci there), ffmpeg, and the `usher` command
// (target/debug/usher: cargo build -p usher) to mint tickets. --assets defaults to
// target/edge-assets (make edge-assets). Everything listens on 127.0.0.1, on free ports, and
// every process started here is stopped before it exits, pass or fail. Prints one line per
// check and `N passed, M failed`; exits 1 if any failed. --keep leaves the work directory.
//
// `make test` runs the conformance cases through workerd in `wasm-tests`; this is the walkthrough.

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { generate } from './workerd-config.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../../..');
const CONFORMANCE = join(repo, 'edge/core/tests/conformance/config');
// The Linux x86-64 build, pinned by edge/cloudflare/package-lock.json.
const WORKERD = join(repo, 'edge/cloudflare/node_modules/@cloudflare/workerd-linux-64/bin/workerd');
const HLS_JS = 'hls.js/1.7.4/hls.min.js';
const EVENT = 'final-2026';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? resolve(args[i + 1]) : fallback;
};
const WORKER = option('--worker', join(repo, 'edge/cloudflare/build'));
const USHER = option('--usher', join(repo, 'target/debug/usher'));
const ASSETS = option('--assets', join(repo, 'target/edge-assets'));
const KEEP = args.includes('--keep');

const work = mkdtempSync(join(tmpdir(), 'usher-workerd-'));
const stops = [];
let passed = 0;
let failed = 0;

function check(name, ok, detail = '') {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${ok || !detail ? '' : `: ${detail}`}`);
}

// --- a few seconds of real HLS: fMP4 (CMAF) segments, a media playlist, a multivariant one ------

function makeStream(root) {
  const dir = join(root, 'live', EVENT);
  mkdirSync(join(dir, '720p'), { recursive: true });
  const run = spawnSync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=25',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', '6', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-g', '50', '-c:a', 'aac',
    '-f', 'hls', '-hls_time', '2', '-hls_playlist_type', 'vod',
    '-hls_segment_type', 'fmp4', '-hls_fmp4_init_filename', 'init.mp4',
    '-hls_segment_filename', join(dir, '720p', 'seg%03d.m4s'),
    join(dir, '720p', 'index.m3u8'),
  ], { stdio: 'inherit' });
  if (run.status !== 0) throw new Error('ffmpeg failed (is it installed?)');
  writeFileSync(join(dir, 'master.m3u8'), [
    '#EXTM3U',
    '#EXT-X-VERSION:7',
    '#EXT-X-INDEPENDENT-SEGMENTS',
    '#EXT-X-STREAM-INF:BANDWIDTH=1200000,RESOLUTION=640x360,CODECS="avc1.64001e,mp4a.40.2"',
    '720p/index.m3u8',
    '',
  ].join('\n'));
  return dir;
}

// --- the origin: files with cache headers, and switches to make it fail --------------------------

function startOrigin(root) {
  const state = { failing: false, requests: [] };
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://origin');
    state.requests.push({ path: url.pathname + url.search, headers: req.headers });
    if (state.failing) {
      res.writeHead(503, { 'content-type': 'text/plain' });
      return res.end('origin down\n');
    }
    let body;
    try {
      body = readFileSync(join(root, decodeURIComponent(url.pathname)));
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' });
      return res.end('not found\n');
    }
    const playlist = url.pathname.endsWith('.m3u8');
    const headers = {
      'content-type': playlist ? 'application/vnd.apple.mpegurl' : 'video/mp4',
      'cache-control': playlist ? 'max-age=1' : 'max-age=3600',
      'accept-ranges': 'bytes',
    };
    const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    if (range) {
      const [start, end] = [Number(range[1]), Math.min(Number(range[2]), body.length - 1)];
      res.writeHead(206, { ...headers, 'content-range': `bytes ${start}-${end}/${body.length}` });
      return res.end(req.method === 'HEAD' ? undefined : body.subarray(start, end + 1));
    }
    res.writeHead(200, { ...headers, 'content-length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  return listen(server).then((port) => ({ port, state }));
}

// An origin that accepts connections and never answers.
function startSilentOrigin() {
  const sockets = [];
  const server = createTcpServer((socket) => sockets.push(socket));
  stops.push(() => sockets.forEach((s) => s.destroy()));
  return listen(server);
}

function listen(server) {
  return new Promise((done) => {
    server.listen(0, '127.0.0.1', () => {
      stops.push(() => server.close());
      done(server.address().port);
    });
  });
}

async function freePort() {
  const server = createTcpServer();
  const port = await new Promise((done) => server.listen(0, '127.0.0.1', () => done(server.address().port)));
  await new Promise((done) => server.close(done));
  return port;
}

// A health snapshot from the steering controller that sends every viewer to the pathway at
// `index` (0: cdn-a, 1: cdn-b, 2: cdn-c), valid for ten minutes, in the envelope the controller
// signs it with (docs/health-model.md §8): a header line with the key id and the base64url
// HMAC-SHA256 of "usher/health-snapshot/v1" 0 kid 0 json, then the JSON.
function snapshot(index) {
  const json = snapshotJson(index);
  const keys = JSON.parse(readFileSync(join(CONFORMANCE, 'health-keys.json'), 'utf8'));
  const [kid, hex] = Object.entries(keys)[0];
  const mac = createHmac('sha256', Buffer.from(hex, 'hex'))
    .update(Buffer.concat([Buffer.from(`usher/health-snapshot/v1\0${kid}\0`), Buffer.from(json)]))
    .digest('base64url');
  return `usher-health-v1 kid=${kid} sig=${mac}\n${json}`;
}

function snapshotJson(index) {
  const now = Date.now();
  const ids = [['cdn-a', 5000], ['cdn-b', 3000], ['cdn-c', 2000]];
  return JSON.stringify({
    format_version: 1,
    seq: Math.floor(now / 1000) + index,
    generated_at_ms: now,
    expires_at_ms: now + 600_000,
    cdns: ids.map(([id, staticWeight], i) => ({
      id, static_weight_bp: staticWeight, score_permille: 500, weight_bp: i === index ? 10_000 : 0,
      state: 'healthy', reason: 'healthy',
    })),
    slots: String(index).repeat(1000),
  });
}

// --- configuration and workerd ----------------------------------------------------------------

function configDir(name, originPort, silentPort, edit = (f, t) => t) {
  const dir = join(work, name);
  mkdirSync(dir);
  for (const file of ['pathways.json', 'settings.json', 'ticket-keys.json', 'session-key.txt', 'health-keys.json']) {
    writeFileSync(join(dir, file), edit(file, readFileSync(join(CONFORMANCE, file), 'utf8')));
  }
  writeFileSync(join(dir, 'events.json'), JSON.stringify({
    origins: [
      { id: 'origin-local', base_url: `http://127.0.0.1:${originPort}/` },
      { id: 'origin-silent', base_url: `http://127.0.0.1:${silentPort}/` },
    ],
    events: [
      { id: EVENT, title: 'The Final', origin: 'origin-local', origin_path: `live/${EVENT}/` },
      { id: 'semi-2026', title: 'Semi-final', origin: 'origin-silent', origin_path: 'live/semi-2026/' },
    ],
  }));
  return dir;
}

async function startWorkerd(config, name) {
  const port = await freePort();
  const capnp = generate({
    config,
    worker: WORKER,
    assets: ASSETS,
    listen: `127.0.0.1:${port}`,
    out: join(work, `workerd-${name}`),
  });
  const started = Date.now();
  const child = spawn(WORKERD, ['serve', capnp], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = [];
  let buffered = '';
  const collect = (chunk) => {
    buffered += chunk;
    const parts = buffered.split('\n');
    buffered = parts.pop();
    lines.push(...parts);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  stops.push(() => child.kill('SIGTERM'));
  const base = `http://127.0.0.1:${port}`;
  for (;;) {
    try {
      await fetch(`${base}/healthz`);
      break;
    } catch {
      if (child.exitCode !== null) throw new Error(`workerd exited: ${lines.join('\n')}`);
      if (Date.now() - started > 20_000) throw new Error('workerd did not start in 20 s');
      await sleep(100);
    }
  }
  return { base, lines, readyMs: Date.now() - started, requests: 1, out: join(work, `workerd-${name}`) };
}

// A one-screen ticket for `event`, held by `sub`, from `usher token mint`.
function mint(keyring, event, sub) {
  return execFileSync(USHER, [
    'token', 'mint', '--kind', 'jwt', '--keyring', keyring, '--event', event, '--ttl', '600',
    '--audience', 'usher', '--issuer', 'tickets.example', '--subject', sub, '--max-streams', '1',
    '--raw',
  ]).toString().trim();
}

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

async function get(workerd, path, init = {}) {
  workerd.requests++;
  const response = await fetch(workerd.base + path, { redirect: 'manual', ...init });
  const body = Buffer.from(await response.arrayBuffer());
  return { status: response.status, headers: response.headers, body, text: body.toString() };
}

const reasonOf = (r) => r.headers.get('x-usher-reason');

// --- the run --------------------------------------------------------------------------------

async function main() {
  const streamRoot = join(work, 'origin');
  const streamDir = makeStream(streamRoot);
  const segments = readdirSync(join(streamDir, '720p')).filter((f) => f.endsWith('.m4s'));
  const origin = await startOrigin(streamRoot);
  const silent = await startSilentOrigin();
  const config = configDir('config', origin.port, silent);
  writeFileSync(join(config, 'health.json'), snapshot(1));
  const broken = configDir('broken', origin.port, silent, (file, text) =>
    file === 'settings.json' ? text.replace('"ttl_secs": 600', '"ttl_secs": 5') : text);
  const edge = await startWorkerd(config, 'edge');
  const misconfigured = await startWorkerd(broken, 'broken');
  console.log(`workerd ready in ${edge.readyMs} ms; origin on 127.0.0.1:${origin.port}; ${segments.length} segments`);

  // The player page: cacheable, with a strong ETag and a 304 for it.
  const page = await get(edge, `/events/${EVENT}/`);
  check('player page is 200 with an ETag', page.status === 200 && page.headers.get('etag')?.startsWith('"'), page.status);
  const again = await get(edge, `/events/${EVENT}/`, { headers: { 'if-none-match': page.headers.get('etag') } });
  check('player page revalidates to 304', again.status === 304 && reasonOf(again) === 'not_modified' && again.body.length === 0, `${again.status} ${reasonOf(again)}`);

  // The player library from the USHER_ASSETS KV namespace.
  const library = await get(edge, `/assets/${HLS_JS}`);
  const expected = readFileSync(join(ASSETS, HLS_JS));
  check('hls.js comes from KV, byte for byte, immutable', library.status === 200 && library.body.equals(expected)
    && library.headers.get('cache-control')?.includes('immutable')
    && library.headers.get('content-type')?.startsWith('text/javascript'), `${library.status} ${library.body.length} bytes`);
  const missing = await get(edge, '/assets/hls.js/0.0.0/hls.min.js');
  check('an unknown asset is 404 not_found', missing.status === 404 && reasonOf(missing) === 'not_found', `${missing.status} ${reasonOf(missing)}`);

  // The multivariant playlist: a ticket, a lease, the rewrite, Content Steering.
  const noTicket = await get(edge, `/events/${EVENT}/master.m3u8`);
  check('no ticket is 401 no_ticket', noTicket.status === 401 && reasonOf(noTicket) === 'no_ticket', `${noTicket.status} ${reasonOf(noTicket)}`);
  const keyring = join(config, 'ticket-keys.json');
  const ticket = mint(keyring, EVENT, 'viewer-1');
  const master = await get(edge, `/events/${EVENT}/master.m3u8?ticket=${ticket}&device=tv`);
  const uris = master.text.split('\n').filter((l) => l && !l.startsWith('#'));
  const steering = /#EXT-X-CONTENT-STEERING:SERVER-URI="([^"]+)",PATHWAY-ID="([^"]+)"/.exec(master.text);
  check('master.m3u8 is rewritten with session tokens and Content Steering', master.status === 200
    && reasonOf(master) === 'ok' && steering && uris.length === 1 && uris[0].includes('?__token__=')
    && uris[0].startsWith('https://cdn-') && master.text.includes(`PATHWAY-ID="${steering[2]}"`)
    && !master.text.includes(ticket), `${master.status} ${reasonOf(master)}\n${master.text}`);
  const token = new URL(uris[0]).searchParams.get('__token__');
  const media = await get(edge, `/events/${EVENT}/720p/index.m3u8?__token__=${encodeURIComponent(token)}`);
  const mediaUris = media.text.split('\n').filter((l) => l && !l.startsWith('#'));
  check('media playlist is rewritten, every segment with a token', media.status === 200
    && mediaUris.length === segments.length && mediaUris.every((u) => u.includes('?__token__='))
    && media.text.includes('#EXT-X-MAP:URI="https://cdn-'), `${media.status} ${reasonOf(media)}\n${media.text}`);
  const head = await get(edge, `/events/${EVENT}/720p/index.m3u8?__token__=${encodeURIComponent(token)}`, { method: 'HEAD' });
  check('HEAD of a playlist has the head only', head.status === 200 && head.body.length === 0, head.status);

  // A segment, streamed from the origin without the viewer's parameters.
  const segment = await get(edge, `/events/${EVENT}/720p/${segments[0]}?__token__=${encodeURIComponent(token)}&CMCD=br%3D1200%2Cot%3Dv`);
  const segmentBytes = readFileSync(join(streamDir, '720p', segments[0]));
  check('segment is streamed from the origin byte for byte', segment.status === 200 && reasonOf(segment) === 'ok'
    && segment.body.equals(segmentBytes) && segment.headers.get('access-control-allow-origin') === '*',
    `${segment.status} ${reasonOf(segment)} ${segment.body.length}/${segmentBytes.length} bytes`);
  const asked = origin.state.requests.filter((r) => r.path.startsWith(`/live/${EVENT}/720p/seg`));
  check('the origin never sees the token, CMCD or a cookie', asked.length > 0
    && asked.every((r) => !r.path.includes('?') && !r.headers.cookie), JSON.stringify(asked.map((r) => r.path)));
  const range = await get(edge, `/events/${EVENT}/720p/${segments[0]}?__token__=${encodeURIComponent(token)}`, { headers: { range: 'bytes=0-99' } });
  check('a range request reaches the origin and comes back 206', range.status === 206 && range.body.equals(segmentBytes.subarray(0, 100)), range.status);

  // Refusals, each with its reason.
  const forged = token.replace(/hmac=([0-9a-f])/, (m, c) => `hmac=${c === '0' ? '1' : '0'}`);
  const refused = await get(edge, `/events/${EVENT}/720p/${segments[0]}?__token__=${encodeURIComponent(forged)}`);
  check('a forged session token is 403 session_bad_signature', refused.status === 403 && reasonOf(refused) === 'session_bad_signature', `${refused.status} ${reasonOf(refused)}`);
  const unknown = await get(edge, '/events/nope/master.m3u8');
  check('an unknown event is 404 unknown_event', unknown.status === 404 && reasonOf(unknown) === 'unknown_event', `${unknown.status} ${reasonOf(unknown)}`);

  // Content Steering, and CMCD beacons.
  const manifest = await get(edge, `/events/${EVENT}/${steering[1].replaceAll('&amp;', '&')}`);
  check('the steering manifest answers', manifest.status === 200 && JSON.parse(manifest.text).VERSION === 1, `${manifest.status} ${manifest.text}`);
  const beacon = await get(edge, `/events/${EVENT}/cmcd`, { method: 'POST', headers: { 'content-type': 'application/cmcd' }, body: 'br=1200,ot=v,sid="s1"\n' });
  check('a CMCD beacon is 204', beacon.status === 204 && reasonOf(beacon) === 'ok', `${beacon.status} ${reasonOf(beacon)}`);
  const huge = await get(edge, `/events/${EVENT}/cmcd`, { method: 'POST', headers: { 'content-type': 'application/cmcd' }, body: 'br=1\n'.repeat(100_000) });
  check('an oversized beacon is 413 bad_request', huge.status === 413 && reasonOf(huge) === 'bad_request', `${huge.status} ${reasonOf(huge)}`);

  // One ticket, one screen: a second device is refused, the first one's reload plays.
  const phone = await get(edge, `/events/${EVENT}/master.m3u8?ticket=${ticket}&device=phone`);
  check('a second screen of a one-screen ticket is 429 too_many_streams', phone.status === 429 && reasonOf(phone) === 'too_many_streams', `${phone.status} ${reasonOf(phone)}`);
  const reload = await get(edge, `/events/${EVENT}/master.m3u8?ticket=${ticket}&device=tv`);
  check('the first screen reloads its player', reload.status === 200, `${reload.status} ${reasonOf(reload)}`);

  // The health snapshot from the USHER_HEALTH KV namespace steers new viewers: everybody to
  // cdn-b (static weights would send a viewer there 30 % of the time), then, once the controller
  // publishes a new one and the isolate's 5 s memo has run out, to cdn-c.
  const pathwayOf = async (sub) => {
    const answer = await get(edge, `/events/${EVENT}/master.m3u8?ticket=${mint(keyring, EVENT, sub)}`);
    return /PATHWAY-ID="([^"]+)"/.exec(answer.text)?.[1];
  };
  const steered = [await pathwayOf('viewer-b1'), await pathwayOf('viewer-b2'), await pathwayOf('viewer-b3')];
  check('the health snapshot in KV steers new viewers', steered.every((p) => p === 'cdn-b') && steering[2] === 'cdn-b', steered.join(' '));
  writeFileSync(join(edge.out, 'seed', 'USHER_HEALTH', 'snapshot'), snapshot(2));
  await sleep(5_200);
  const moved = [await pathwayOf('viewer-c1'), await pathwayOf('viewer-c2'), await pathwayOf('viewer-c3')];
  check('a newly published snapshot is used within the refresh interval', moved.every((p) => p === 'cdn-c'), moved.join(' '));
  // Whoever can write KV but lacks the controller's key cannot steer: a bare snapshot (no
  // signature) is refused and the static weights apply, under which twelve viewers do not all
  // land on cdn-c (20 %).
  writeFileSync(join(edge.out, 'seed', 'USHER_HEALTH', 'snapshot'), snapshotJson(2));
  await sleep(5_200);
  const unsteered = [];
  for (let i = 0; i < 12; i++) unsteered.push(await pathwayOf(`viewer-d${i}`));
  check('an unsigned snapshot is refused: static weights', unsteered.some((p) => p !== 'cdn-c'), unsteered.join(' '));

  // The playlist cache: a fresh copy spares the origin; a stale one stands in when it fails.
  const before = origin.state.requests.length;
  const first = await get(edge, `/events/${EVENT}/720p/index.m3u8?__token__=${encodeURIComponent(token)}`);
  const second = await get(edge, `/events/${EVENT}/720p/index.m3u8?__token__=${encodeURIComponent(token)}`);
  const fetchedNow = origin.state.requests.slice(before).filter((r) => r.path.endsWith('index.m3u8')).length;
  check('a fresh cached playlist is served without the origin', first.status === 200 && second.status === 200 && fetchedNow <= 1, `${fetchedNow} origin fetches`);
  await sleep(1_200); // past max-age=1
  origin.state.failing = true;
  const stale = await get(edge, `/events/${EVENT}/720p/index.m3u8?__token__=${encodeURIComponent(token)}`);
  check('a failing origin gets the stale copy: 200 stale_on_origin_error', stale.status === 200 && reasonOf(stale) === 'stale_on_origin_error'
    && stale.text.includes('?__token__='), `${stale.status} ${reasonOf(stale)}`);
  const uncached = await get(edge, `/events/${EVENT}/720p/${segments[1]}?__token__=${encodeURIComponent(token)}`);
  check('a failing origin passes its 503 on for a segment, as origin_error', uncached.status === 503 && reasonOf(uncached) === 'origin_error', `${uncached.status} ${reasonOf(uncached)}`);
  origin.state.failing = false;

  // An origin that never answers: 504 after the adapter's timeout.
  const semiTicket = mint(keyring, 'semi-2026', 'viewer-2');
  const started = Date.now();
  const slow = await get(edge, `/events/semi-2026/master.m3u8?ticket=${semiTicket}`);
  check('a silent origin is 504 origin_timeout after 10 s', slow.status === 504 && reasonOf(slow) === 'origin_timeout'
    && Date.now() - started >= 9_500, `${slow.status} ${reasonOf(slow)} after ${Date.now() - started} ms`);

  // A configuration the core refuses: 503 config_error everywhere, the why in the log only.
  const down = await get(misconfigured, `/events/${EVENT}/master.m3u8?ticket=${ticket}`);
  const healthz = await get(misconfigured, '/healthz');
  check('a bad configuration is 503 config_error', down.status === 503 && reasonOf(down) === 'config_error'
    && healthz.status === 503 && !down.text.includes('ttl_secs'), `${down.status} ${reasonOf(down)} ${down.text}`);

  await sleep(300); // waitUntil writes and the last log lines
  const access = edge.lines.filter((l) => l.includes('"route"')).map((l) => JSON.parse(l.slice(l.indexOf('{'))));
  const events = edge.lines.filter((l) => l.includes('"cmcd"'));
  check('one access line per request', access.length === edge.requests, `${access.length} lines for ${edge.requests} requests:\n${edge.lines.join('\n')}`);
  check('the access lines carry the lease and cache facts', access.some((a) => a.lease === 'taken')
    && access.some((a) => a.lease === 'full') && access.some((a) => a.cache === 'hit')
    && access.some((a) => a.cache === 'stale'), JSON.stringify(access));
  check('QoE events from CMCD on a request and a beacon', events.length === 2, events.join('\n'));
  const secrets = [ticket, token, semiTicket, readFileSync(join(config, 'session-key.txt'), 'utf8').trim(), '6b3a55e0'];
  const leaked = [...edge.lines, ...misconfigured.lines].filter((l) => secrets.some((s) => l.includes(s)) || l.includes('hmac='));
  check('no ticket, token or key in any log line', leaked.length === 0, leaked.join('\n'));
  const why = misconfigured.lines.find((l) => l.includes('config_error'));
  check('the configuration error is in the log', why?.includes('session.ttl_secs'), why);
  if (process.env.VERBOSE) console.log(edge.lines.join('\n'));
}

try {
  await main();
} catch (error) {
  failed++;
  console.log(`FAIL ${error.stack}`);
} finally {
  for (const stop of stops.reverse()) stop();
  if (!KEEP) rmSync(work, { recursive: true, force: true });
  else console.log(`work directory kept: ${work}`);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
