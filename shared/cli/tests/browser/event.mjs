// The local live event end to end, in a real browser: `usher dev` (two origin zones, an nginx
// shield, three CDNs each an nginx cache behind the edge component and a fault injector, the
// entry edge, the steering controller) and headless Chromium playing the edge's own player page
// with hls.js, several viewers at once, each with its own ticket and browser profile.
//
// Scenarios, in the order they run (faults are switched through `usher dev fault`, as an
// operator would):
//   1. a valid ticket plays at least 30 s of live video with no stall;
//   2. an expired, a forged and an other-event ticket never play, and the page says why;
//   3. a segment URL copied out of a viewer's playlist works, then stops working once its
//      session token expires (the event runs with 30 s session tokens, the
//      least the edge allows);
//   5. a gradual latency degradation on the busiest CDN moves traffic away without flapping:
//      its weight falls and never climbs back while the latency holds, and no viewer switches
//      CDN more than once;
//   4. an outage of the busiest CDN during playback: playback continues, every viewer on it is
//      off it within two reloads of each of its playlists (video and audio), and no stall is
//      longer than one segment;
//   6. the active origin node (zone a, the one the shield prefers) is killed with SIGKILL: zone b
//      carries on, and no viewer stalls longer than one segment.
// Then it stops `usher dev` with SIGTERM and checks nothing it started is left running.
// Screenshots (player pages, the dashboard) go to $SCREENSHOT_DIR/event-*.png.
//
// Usage: node event.mjs   (USHER_BIN: the usher binary; USHER_EDGE_WASM, USHER_EDGE_ASSETS: the
// component and assets, defaults under <repo>/target)
// Needs: Debian's chromium, ffmpeg and nginx; `npm ci` in edge/core/tests/browser. 127.0.0.1 only.

import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from '../../../../edge/core/tests/browser/chromium.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../../../..');
const USHER = process.env.USHER_BIN || join(repo, 'target/debug/usher');
const WASM = process.env.USHER_EDGE_WASM
  || join(repo, 'target/wasm32-wasip2/release/usher-edge-wasi-http.wasm');
const ASSETS = process.env.USHER_EDGE_ASSETS || join(repo, 'target/edge-assets');
const SCREENSHOTS = process.env.SCREENSHOT_DIR || '/tmp';
const SEGMENT_S = 2; // usher origin's default --segment-seconds
const SESSION_TTL_S = 30; // the least the edge allows
const VIEWERS = 4;
// Freezes longer than this are explained in the log (requests, errors, buffer) even when they
// pass, to study a flaky run; failing ones always are.
const EXPLAIN_MS = Number(process.env.USHER_EXPLAIN_FREEZES_MS || Infinity);

let passed = 0;
let failed = 0;
function check(name, ok, detail = '') {
  if (ok) passed++; else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? ` — ${detail}` : ''}`);
}
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
const round = (x, digits = 2) => Number(x.toFixed(digits));

// --- usher dev -----------------------------------------------------------------------------

const data = mkdtempSync(join(tmpdir(), 'usher-event-'));
const dev = spawn(USHER, [
  'dev', '--data', join(data, 'dev'), '--port', '0', '--session-ttl-secs', String(SESSION_TTL_S),
  '--wasm', WASM, '--assets', ASSETS,
], { stdio: ['ignore', 'ignore', 'pipe'] });
let devLog = '';
dev.stderr.on('data', (d) => { devLog += d; });
const devExit = new Promise((ok) => dev.on('exit', (code, signal) => ok({ code, signal })));
let devExited = null;
devExit.then((e) => { devExited = e; });

async function onAir(limitMs) {
  const file = join(data, 'dev', 'dev.json');
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline && !devExited) {
    if (existsSync(file)) {
      try {
        return JSON.parse(readFileSync(file, 'utf8'));
      } catch { /* being written */ }
    }
    await sleep(250);
  }
  throw new Error(`usher dev did not come on the air: ${JSON.stringify(devExited)}\n${devLog}`);
}

function usherDev(...args) {
  return execFileSync(USHER, ['dev', ...args, '--data', join(data, 'dev')], { encoding: 'utf8' }).trim();
}

// --- viewers ---------------------------------------------------------------------------------

// Which CDN a URL is on, by the host of the CDN's base URL (one port on 127.0.0.1, .2, .3).
let cdnOf = () => null;

// What a page does, recorded from the browser's side: every request with its CDN and outcome,
// and the video's clock sampled in the page every 100 ms.
async function openViewer(browser, name, url) {
  const context = await browser.newContext({ viewport: { width: 800, height: 560 } });
  const page = await context.newPage();
  const viewer = { name, context, page, requests: [], sent: [], errors: [] };
  // By the path alone: the query's token names paths too (its ACL).
  const kind = (u) => {
    const path = new URL(u).pathname;
    return /steering\.json$/.test(path) ? 'steering'
      : /master\.m3u8$/.test(path) ? 'master'
        : /\.m3u8$/.test(path) ? 'playlist'
          : /\.m4s$|init\.mp4$/.test(path) ? 'media' : 'other';
  };
  const record = (request, ok, status) => {
    const u = request.url();
    viewer.requests.push({ t: Date.now(), url: u, kind: kind(u), cdn: cdnOf(u), ok, status });
  };
  page.on('requestfinished', async (request) => {
    const response = await request.response().catch(() => null);
    const status = response ? response.status() : 0;
    record(request, status >= 200 && status < 400, status);
    if (kind(request.url()) === 'steering' && response) {
      try {
        const manifest = await response.json();
        viewer.steering = { t: Date.now(), priority: manifest['PATHWAY-PRIORITY'] || [] };
      } catch { /* not JSON: reported by the edge tests */ }
    }
  });
  page.on('requestfailed', (request) => record(request, false, 0));
  // When each request went out, to tell a slow answer from none (explainFreeze).
  page.on('request', (request) => viewer.sent.push({ t: Date.now(), url: request.url() }));
  page.on('pageerror', (e) => viewer.errors.push(String(e)));
  await page.addInitScript(() => {
    // hls.js's errors, as the page's own instance reports them (the page keeps it private).
    window.hlsErrors = [];
    let Hls;
    Object.defineProperty(window, 'Hls', {
      configurable: true,
      get: () => Hls,
      set: (value) => {
        // hls.js's own log, the newest 3000 lines, to explain a freeze (see explainFreeze).
        window.hlsLog = [];
        const keep = (level) => (...args) => {
          window.hlsLog.push([Date.now(), `${level} ${args.map(String).join(' ')}`.slice(0, 300)]);
          if (window.hlsLog.length > 3000) window.hlsLog.splice(0, 1000);
        };
        const debug = { log: keep('log'), info: keep('info'), warn: keep('warn'), error: keep('error'), debug: () => {}, trace: () => {} };
        Hls = class extends value {
          constructor(config) {
            super({ ...config, debug });
            this.on('hlsError', (_, d) => window.hlsErrors.push({
              t: Date.now(), fatal: d.fatal, details: d.details,
              url: d.url || d.frag?.url || d.context?.url, code: d.response?.code,
            }));
          }
        };
      },
    });
    window.clock = [];
    const start = () => {
      const v = document.getElementById('v');
      if (!v) return setTimeout(start, 50);
      setInterval(() => {
        const b = v.buffered;
        const ahead = b.length ? b.end(b.length - 1) - v.currentTime : 0;
        window.clock.push([Date.now(), v.currentTime, v.paused, ahead]);
      }, 100);
    };
    start();
  });
  await page.goto(url);
  return viewer;
}

async function clock(viewer) {
  return viewer.page.evaluate(() => window.clock);
}

// The longest time the video's clock stood still once it had started, within [from, to] (wall
// clock ms), when that freeze began, and how far the clock advanced.
function freezes(samples, from, to) {
  let longest = 0;
  let longestAt = null;
  let stillSince = null;
  let last = null;
  let first = null;
  for (const [t, time] of samples) {
    if (t < from || t > to || time <= 0) continue;
    if (first === null) first = [t, time];
    if (last && time === last[1]) {
      stillSince ??= last[0];
      if (t - stillSince > longest) [longest, longestAt] = [t - stillSince, stillSince];
    } else {
      stillSince = null;
    }
    last = [t, time];
  }
  const advanced = first && last ? last[1] - first[1] : 0;
  return { longestMs: longest, longestAt, advancedS: advanced };
}

// What a viewer saw around a freeze longer than `limitMs` (the check's), or than
// EXPLAIN_MS, for the log: the buffer ahead of the playhead, every request sent and answered,
// hls.js's log and errors, from 10 s before the freeze to its end, in milliseconds relative to
// the freeze's start.
async function explainFreeze(viewer, f, limitMs) {
  if (f.longestAt === null || f.longestMs <= Math.min(limitMs, EXPLAIN_MS)) return;
  const from = f.longestAt - 10_000;
  const to = f.longestAt + f.longestMs;
  const rel = (t) => String(t - f.longestAt).padStart(6);
  const samples = (await clock(viewer)).filter(([t], i) => t >= from && t <= to && i % 5 === 0);
  const errors = (await viewer.page.evaluate(() => window.hlsErrors))
    .filter((e) => e.t >= from && e.t <= to);
  const log = (await viewer.page.evaluate(() => window.hlsLog ?? []))
    .filter(([t]) => t >= from && t <= to);
  // A playlist request's blocking-reload directives (RFC 8216bis §6.2.5.2), not its token.
  const directives = (u) => [...new URL(u).searchParams]
    .filter(([k]) => k.startsWith('_HLS_')).map(([k, v]) => `${k}=${v}`).join('&');
  const lines = [
    ...samples.map(([t, time, paused, ahead]) => [t, `clock ${round(time, 2)} s, buffer ${round(ahead ?? 0, 2)} s ahead${paused ? ', paused' : ''}`]),
    ...viewer.requests.filter((r) => r.t >= from && r.t <= to)
      .map((r) => [r.t, `${r.kind} ${r.status} ${r.cdn ?? '-'} ${new URL(r.url).pathname} ${directives(r.url)}`]),
    ...viewer.sent.filter((r) => r.t >= from && r.t <= to)
      .map((r) => [r.t, `sent ${cdnOf(r.url) ?? '-'} ${new URL(r.url).pathname} ${directives(r.url)}`]),
    ...log.map(([t, line]) => [t, `hls.js: ${line}`]),
    ...errors.map((e) => [e.t, `hls.js ${e.fatal ? 'fatal ' : ''}${e.details} ${e.code ?? ''} ${e.url ? new URL(e.url).pathname : ''}`]),
  ].sort((a, b) => a[0] - b[0]);
  console.log(`  ${viewer.name}'s freeze of ${f.longestMs} ms (times in ms from its start):`);
  for (const [t, what] of lines) console.log(`  ${rel(t)}  ${what}`);
}

// The CDN a viewer fetches media from now: that of its last successful media request.
function currentCdn(viewer) {
  const media = viewer.requests.filter((r) => r.kind === 'media' && r.ok && r.cdn);
  return media.length ? media[media.length - 1].cdn : null;
}

// Which of a viewer's streams a media request is for: the audio rendition (the origin's
// `audio/`) or the video, whatever its rung. Each moves between CDNs on its own playlist's
// schedule, so their requests interleave across a switch.
const stream = (url) => (new URL(url).pathname.split('/').at(-2) === 'audio' ? 'audio' : 'video');

// The CDNs a viewer's video and audio came from, in order, with repeats collapsed, from time
// `from` on: { video: [...], audio: [...] }.
function cdnPaths(viewer, from) {
  const paths = { video: [], audio: [] };
  for (const r of viewer.requests) {
    if (r.t < from || r.kind !== 'media' || !r.ok || !r.cdn) continue;
    const path = paths[stream(r.url)];
    if (path[path.length - 1] !== r.cdn) path.push(r.cdn);
  }
  return paths;
}

// hls.js errors counted by kind and answer: "fragLoadError 502 ×3, levelLoadError 502 ×1".
function summarize(errors) {
  const counts = {};
  for (const e of errors) {
    const key = `${e.details}${e.code ? ` ${e.code}` : ''}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return Object.entries(counts).map(([key, n]) => `${key} ×${n}`).join(', ') || 'none';
}

async function state(dashboard) {
  return (await fetch(`${dashboard}v1/state`)).json();
}

function weightOf(tick, cdn) {
  return tick.cdns.find((c) => c.id === cdn)?.weight_bp ?? 0;
}

// --- the run -----------------------------------------------------------------------------------

const started = Date.now();
let browser;
let viewers = [];
try {
  const running = await onAir(300_000);
  console.log(`usher dev on the air after ${round((Date.now() - started) / 1000, 1)} s`);
  const hosts = Object.fromEntries(Object.entries(running.cdns)
    .map(([id, url]) => [new URL(url).host, id]));
  cdnOf = (u) => {
    try {
      return hosts[new URL(u).host] ?? null;
    } catch {
      return null;
    }
  };
  browser = await launchChromium();

  // 1. Viewers with valid tickets, each in its own profile.
  for (let i = 0; i < VIEWERS; i++) {
    const url = usherDev('ticket', '--sub', `viewer-${i}`);
    viewers.push(await openViewer(browser, `viewer-${i}`, url));
  }
  const playing = await Promise.all(viewers.map((v) => v.page
    .waitForFunction(() => document.getElementById('v').currentTime > 0.5, null, { timeout: 30_000 })
    .then(() => true, () => false)));
  check('every viewer with a valid ticket starts playing within 30 s',
    playing.every(Boolean), `${playing.filter(Boolean).length}/${VIEWERS}`);
  const playStart = Date.now();

  // 2. Refused tickets, while the viewers play.
  const ticket = usherDev('ticket', '--raw', '--sub', 'refused');
  const forged = ticket.slice(0, -4) + (ticket.endsWith('AAAA') ? 'BBBB' : 'AAAA');
  const refusals = [
    ['expired', usherDev('ticket', '--raw', '--ttl-secs', '-300'), 'ticket_expired', 'has expired'],
    ['forged', forged, 'ticket_bad_signature', 'is not valid'],
    ['other-event', usherDev('ticket', '--raw', '--event', 'another-match'), 'ticket_wrong_event', 'another event'],
  ];
  for (const [what, token, reason, words] of refusals) {
    const viewer = await openViewer(browser, what, `${running.watch}?ticket=${encodeURIComponent(token)}`);
    const said = await viewer.page.waitForFunction(
      () => document.getElementById('msg').dataset.reason, null, { timeout: 15_000 },
    ).then((h) => h.jsonValue(), () => null);
    const text = await viewer.page.textContent('#msg');
    await sleep(1000);
    const time = await viewer.page.evaluate(() => document.getElementById('v').currentTime);
    const media = viewer.requests.filter((r) => r.kind === 'media' || r.kind === 'playlist');
    check(`an ${what} ticket never plays and the page says why (${reason})`,
      said === reason && text.includes(words) && time === 0 && media.length === 0,
      `reason ${said}, "${text}", currentTime ${time}, ${media.length} media requests`);
    if (what === 'expired') await viewer.page.screenshot({ path: join(SCREENSHOTS, 'event-refused-expired.png') });
    await viewer.context.close();
  }

  // 3. A segment URL copied out of a viewer's playlist, replayed from elsewhere.
  const copied = viewers[0].requests.filter((r) => r.kind === 'media' && r.ok && /\.m4s/.test(r.url)).pop();
  const exp = Number(/exp=(\d+)/.exec(copied?.url ?? '')?.[1] ?? 0);
  const first = copied ? await fetch(copied.url) : null;
  check('a copied segment URL works while its session token is valid',
    first?.status === 200, `status ${first?.status}`);
  await first?.arrayBuffer();
  const waitMs = exp * 1000 - Date.now() + 1500;
  await sleep(Math.max(0, waitMs));
  const again = copied ? await fetch(copied.url) : null;
  const why = again?.headers.get('x-usher-reason');
  check('the copied segment URL is refused once its session token expired',
    again && [403, 410].includes(again.status) && /^session_/.test(why ?? ''),
    `status ${again?.status}, reason ${why}, ${round(waitMs / 1000, 1)} s after it was copied`);

  // 1 (end). 30 s of playback, with no stall.
  await sleep(Math.max(0, playStart + 31_000 - Date.now()));
  for (const viewer of viewers) {
    const f = freezes(await clock(viewer), playStart, Date.now());
    check(`${viewer.name} plays 30 s of live video with no stall`,
      f.advancedS >= 29 && f.longestMs <= 1000,
      `advanced ${round(f.advancedS, 1)} s, longest freeze ${f.longestMs} ms`);
    await explainFreeze(viewer, f, 1000);
  }
  // Sound: the origin carries audio as a rendition of its own, which only hls.js's full build
  // plays (page.rs says why). Chromium counts the audio bytes it decoded, muted or not.
  const audio = await Promise.all(viewers.map((v) => v.page.evaluate(
    () => document.getElementById('v').webkitAudioDecodedByteCount)));
  check('every viewer gets the event\'s sound, not only its picture', audio.every((n) => n > 0),
    audio.map((n, i) => `${viewers[i].name}: ${n} audio bytes decoded`).join(', '));
  // The page plays at standard latency (edge/core/src/page.rs says why): whole segments, never
  // the parts (`{msn}.{part}.m4s`) the origin also lists.
  const parts = viewers.flatMap((v) => v.requests.filter((r) => /\.\d+\.m4s$/.test(new URL(r.url).pathname)));
  check('every viewer loads whole segments, never a part',
    parts.length === 0 && viewers.every((v) => v.requests.some((r) => r.kind === 'media' && r.ok)),
    parts.slice(0, 3).map((r) => new URL(r.url).pathname).join(' '));
  // And its playlist reloads poll rather than block (page.rs says why).
  const blocking = viewers.flatMap((v) => v.requests.filter((r) => r.kind === 'playlist'
    && /[?&]_HLS_(msn|part)=/.test(r.url)));
  check('no viewer\'s playlist reload asks to be held (no _HLS_msn or _HLS_part)',
    blocking.length === 0 && viewers.every((v) => v.requests.filter((r) => r.kind === 'playlist').length > 5),
    blocking.slice(0, 2).map((r) => r.url.replace(/__token__=[^&]*/, '__token__=…')).join(' '));
  await viewers[0].page.screenshot({ path: join(SCREENSHOTS, 'event-player.png') });
  // The players' CMCD (one session id each) reaches the controller through the CDNs' edges.
  const heard = (await state(running.dashboard)).ticks.at(-1);
  check('the controller counts every viewer from their CMCD, with fresh QoE',
    heard?.viewers === VIEWERS && heard?.qoe_age_ms != null && heard.qoe_age_ms < 10_000,
    `${heard?.viewers} viewers (${heard?.cdns.map((c) => `${c.id}: ${c.viewers}`).join(', ')}), `
      + `newest QoE ${heard?.qoe_age_ms} ms old`);

  // 5. A gradual latency degradation on the busiest CDN.
  const busiest = () => {
    const counts = {};
    for (const v of viewers) {
      const cdn = currentCdn(v);
      if (cdn) counts[cdn] = (counts[cdn] ?? 0) + 1;
    }
    return Object.entries(counts).sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'cdn-a';
  };
  const slow = busiest();
  const before = (await state(running.dashboard)).ticks.at(-1);
  const slowStart = Date.now();
  usherDev('fault', slow, 'latency', '1500', '--ramp', '15');
  const weights = [];
  while (Date.now() < slowStart + 40_000) {
    const tick = (await state(running.dashboard)).ticks.at(-1);
    if (tick && tick.at_ms > slowStart && weights.at(-1)?.[0] !== tick.at_ms) {
      weights.push([tick.at_ms, weightOf(tick, slow)]);
    }
    await sleep(1000);
  }
  let climbs = 0;
  for (let i = 1; i < weights.length; i++) {
    if (weights[i][1] > weights[i - 1][1] + 100) climbs++;
  }
  const startWeight = weightOf(before, slow);
  const endWeight = weights.at(-1)?.[1] ?? startWeight;
  check(`a latency ramp on ${slow} moves its weight away (${startWeight} → ${endWeight} bp)`,
    endWeight <= startWeight * 0.6, weights.map((w) => w[1]).join(' '));
  check(`${slow}'s weight never climbs back while the latency holds (no flapping)`, climbs === 0,
    `${climbs} climbs of more than 100 bp`);
  const switches = viewers.map((v) => [v.name, cdnPaths(v, slowStart)]);
  check('no viewer switches CDN more than once during the degradation (video or audio)',
    switches.every(([, p]) => p.video.length <= 2 && p.audio.length <= 2),
    switches.map(([n, p]) => `${n}: video ${p.video.join('→')}, audio ${p.audio.join('→')}`).join('; '));
  // Two segments after a viewer's last steering manifest, its video and audio both come from
  // the manifest's first pathway.
  const steered = viewers.filter((v) => v.steering && v.steering.t > slowStart + 5_000);
  const astray = steered.map((v) => {
    const wanted = v.steering.priority[0];
    const after = v.requests.filter((r) => r.kind === 'media' && r.ok && r.t > v.steering.t + 2 * SEGMENT_S * 1000);
    return [v, wanted, after.filter((r) => r.cdn !== wanted)];
  });
  check('every viewer follows its steering manifest\'s first pathway',
    steered.length === VIEWERS && astray.every(([, , off]) => off.length === 0),
    `${astray.filter(([, , off]) => off.length === 0).length}/${steered.length} of ${VIEWERS}; `
      + astray.filter(([, , off]) => off.length > 0).map(([v, wanted, off]) => `${v.name} wants ${wanted}, got `
        + off.slice(0, 3).map((r) => `${stream(r.url)} from ${r.cdn} ${r.t - v.steering.t} ms after`).join(', ')).join('; '));
  await viewers[0].page.bringToFront();
  usherDev('fault', slow, 'clear');
  await sleep(5_000);

  // 4. An outage of the busiest CDN.
  const down = busiest();
  const onDown = viewers.filter((v) => currentCdn(v) === down);
  const outageAt = Date.now();
  usherDev('fault', down, 'outage');
  await sleep(20_000);
  const outageEnd = Date.now();
  for (const viewer of viewers) {
    const f = freezes(await clock(viewer), outageAt, outageEnd);
    check(`${viewer.name} plays through ${down}'s outage with no stall longer than one segment`,
      f.longestMs <= SEGMENT_S * 1000 && f.advancedS >= 15,
      `longest freeze ${f.longestMs} ms, advanced ${round(f.advancedS, 1)} s`);
    await explainFreeze(viewer, f, SEGMENT_S * 1000);
  }
  for (const viewer of onDown) {
    // A player reloads each of its playlists (the video rendition's, the audio's) in a loop of
    // its own. For each loop: the reloads sent to the failed CDN after the outage began,
    // before that playlist was first answered by another CDN.
    const after = viewer.requests.filter((r) => r.t >= outageAt && r.kind === 'playlist');
    const loops = [...new Set(after.map((r) => new URL(r.url).pathname.split('/').slice(-2).join('/')))];
    const lostPerLoop = loops.map((loop) => {
      const mine = after.filter((r) => new URL(r.url).pathname.endsWith(loop));
      const moved = mine.findIndex((r) => r.ok && r.cdn && r.cdn !== down);
      const lost = (moved < 0 ? mine : mine.slice(0, moved)).filter((r) => r.cdn === down).length;
      return [loop, moved < 0 ? Infinity : lost, mine[moved]?.cdn];
    });
    const lastMedia = viewer.requests.filter((r) => r.kind === 'media' && r.t >= outageAt + 5_000);
    check(`${viewer.name} (on ${down}) is off it within two reloads of each playlist`,
      lostPerLoop.length > 0 && lostPerLoop.every(([, lost]) => lost <= 2)
        && lastMedia.every((r) => r.cdn !== down),
      lostPerLoop.map(([loop, lost, to]) => `${loop}: ${lost} lost, then ${to}`).join('; '));
  }
  check(`at least one viewer was on ${down} when it failed`, onDown.length > 0,
    `${onDown.length} of ${VIEWERS}`);
  await sleep(3_000); // the controller gates the CDN from its probes
  const gated = (await state(running.dashboard)).ticks.at(-1)?.cdns.find((c) => c.id === down);
  check(`the controller gates ${down} and steers no one to it`,
    gated?.state === 'gated' && gated?.weight_bp === 0, `${gated?.state} at ${gated?.weight_bp} bp`);
  const dashboardPage = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await dashboardPage.goto(running.dashboard);
  await sleep(3_000);
  await dashboardPage.screenshot({ path: join(SCREENSHOTS, 'event-dashboard.png'), fullPage: true });
  await viewers.find((v) => onDown.includes(v))?.page.screenshot({ path: join(SCREENSHOTS, 'event-player-outage.png') });
  usherDev('fault', down, 'clear');

  // 6. The active origin node is killed.
  const zoneA = running.origins.a.pid;
  const killedAt = Date.now();
  process.kill(zoneA, 'SIGKILL');
  await sleep(20_000);
  for (const viewer of viewers) {
    const f = freezes(await clock(viewer), killedAt, Date.now());
    const media = viewer.requests.filter((r) => r.kind === 'media' && r.t > killedAt + 4_000);
    check(`${viewer.name} plays on after zone a's origin node is killed, no gap longer than one segment`,
      f.longestMs <= SEGMENT_S * 1000 && f.advancedS >= 15 && media.some((r) => r.ok),
      `longest freeze ${f.longestMs} ms, advanced ${round(f.advancedS, 1)} s, ${media.filter((r) => r.ok).length} media answers`);
    await explainFreeze(viewer, f, SEGMENT_S * 1000);
  }
  for (const viewer of viewers) {
    const errors = await viewer.page.evaluate(() => window.hlsErrors);
    const fatal = errors.filter((e) => e.fatal);
    check(`${viewer.name}'s player met no fatal error`, fatal.length === 0,
      `${errors.length} errors (${summarize(errors)}), fatal: ${JSON.stringify(fatal).slice(0, 600)}`);
  }
  check('the page threw no script error', viewers.every((v) => v.errors.length === 0),
    viewers.flatMap((v) => v.errors).join('; '));
} catch (error) {
  check('the scenarios ran to the end', false, String(error?.stack ?? error));
} finally {
  for (const v of viewers) await v.context.close().catch(() => {});
  await browser?.close().catch(() => {});
  // Ctrl-C (or SIGTERM) stops everything: nothing of the event may be left.
  if (!devExited) dev.kill('SIGTERM');
  const exit = await Promise.race([devExit, sleep(20_000).then(() => null)]);
  check('usher dev stops cleanly on SIGTERM', exit && exit.code === 0, JSON.stringify(exit));
  if (!exit) dev.kill('SIGKILL');
  await sleep(500);
  let left = '';
  try {
    left = execFileSync('pgrep', ['-af', join(data, 'dev')], { encoding: 'utf8' }).trim();
  } catch { /* pgrep exits 1 when nothing matches */ }
  check('no process of the event is left running', left === '', left);
  if (failed) console.log(`usher dev's output:\n${devLog.slice(-4000)}`);
  rmSync(data, { recursive: true, force: true });
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
