// Plays the origin's live LL-HLS output with hls.js in headless Chromium: a real `usher origin`
// (the FFmpeg test source, two renditions and audio) on one port, a tiny page on another (so
// every playlist and part is a cross-origin fetch, as from a CDN), and hls.js in low-latency
// mode. It watches 20 s of playback and holds it to: a quick start, a clock that keeps up with
// real time, no fatal error, no stall longer than one segment, the ladder as configured, a live
// latency under 6 s (wall clock against EXT-X-PROGRAM-DATE-TIME), and a clean stop that leaves
// no FFmpeg behind.
//
// Usage: node origin.mjs  (USHER_BIN: the usher binary; default <repo>/target/debug/usher)
// Needs: Debian's chromium and ffmpeg; `npm ci` in this directory. Talks to 127.0.0.1 only.

import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from './chromium.mjs';
import { servePage } from './page-server.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../../../..');
const USHER = process.env.USHER_BIN || join(repo, 'target/debug/usher');
const SCREENSHOTS = process.env.SCREENSHOT_DIR || '/tmp';
const CHANNEL = 'final';
const LADDER = [[640, 360], [426, 240]];
const SEGMENT_S = 2; // the origin's default --segment-seconds
const START_BUDGET_MS = 20_000;
const WATCH_MS = 20_000;
const MAX_LATENCY_S = 6;

let passed = 0;
let failed = 0;
function check(name, ok, detail = '') {
  if (ok) passed++; else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${ok || !detail ? '' : ` — ${detail}`}`);
}
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
const round = (x, digits = 2) => Number(x.toFixed(digits));

// --- the origin -------------------------------------------------------------------------------

// Starts `usher origin` on a port the kernel picks (--listen 127.0.0.1:0), and resolves with
// the address it prints once it listens.
function startOrigin(dataDir) {
  const child = spawn(USHER, [
    'origin', '--channel', CHANNEL, '--source', 'test', '--listen', '127.0.0.1:0',
    '--data', dataDir, '--ladder', LADDER.map(([w, h]) => `${w}x${h}`).join(','),
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  const origin = { child, stderr: '', exited: null };
  child.stderr.on('data', (d) => { origin.stderr += d; });
  origin.exit = new Promise((ok) => child.on('exit', (code, signal) => {
    origin.exited = { code, signal };
    ok(origin.exited);
  }));
  origin.address = new Promise((ok, fail) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/ on (http:\/\/127\.0\.0\.1:\d+)\//);
      if (m) ok(m[1]);
    });
    child.on('error', fail);
    origin.exit.then((e) => fail(new Error(`usher origin exited early: ${JSON.stringify(e)}`)));
  });
  return origin;
}

async function waitHealthy(origin, base, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline && !origin.exited) {
    try {
      const r = await fetch(`${base}/healthz`);
      last = `${r.status} ${(await r.text()).trim()}`;
      if (r.status === 200) return { ok: true, last };
    } catch (e) {
      last = String(e);
    }
    await sleep(250);
  }
  return { ok: false, last };
}

// The origin's child processes (its FFmpeg), by pid.
function children(pid) {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .split('\n').filter(Boolean).map(Number);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}
function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
function command(pid) {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}

// --- the page ---------------------------------------------------------------------------------

// hls.js in low-latency mode on a muted video; what the test reads is kept in `window.t`.
const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>usher origin, live</title>
<style>html,body{margin:0;background:#000}video{display:block;width:640px;height:360px}</style>
<video id="v" muted playsinline></video>
<script src="/hls.min.js"></script>
<script>
  const v = document.getElementById('v');
  const t = window.t = { errors: [], fatal: [], stalls: [], stallFrom: null, playingAt: null };
  const hls = window.hls = new Hls({ lowLatencyMode: true });
  hls.on(Hls.Events.ERROR, (_, d) => {
    const what = d.type + '/' + d.details + (d.response ? ' ' + d.response.code : '');
    t.errors.push(what);
    if (d.fatal) t.fatal.push(what);
  });
  hls.on(Hls.Events.MANIFEST_PARSED, () => v.play().catch((e) => t.errors.push(String(e))));
  // A stall: from 'waiting' to the next 'playing', once playback has started.
  v.addEventListener('waiting', () => {
    if (t.playingAt !== null && t.stallFrom === null) t.stallFrom = performance.now();
  });
  v.addEventListener('playing', () => {
    if (t.playingAt === null) t.playingAt = performance.now();
    if (t.stallFrom !== null) t.stalls.push(performance.now() - t.stallFrom);
    t.stallFrom = null;
  });
  hls.loadSource(new URLSearchParams(location.search).get('src'));
  hls.attachMedia(v);
</script>
`;

function startPageServer() {
  return servePage(PAGE);
}

// --- the checks -------------------------------------------------------------------------------

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), 'usher-origin-hlsjs-'));
  const spawnedAt = Date.now();
  const origin = startOrigin(dataDir);
  let browser;
  let server;
  try {
    let timer;
    const base = await Promise.race([
      origin.address,
      new Promise((_, fail) => {
        timer = setTimeout(() => fail(new Error('usher origin printed no address in 60 s')),
          60_000);
      }),
    ]).finally(() => clearTimeout(timer));
    const health = await waitHealthy(origin, base, 60_000);
    check(`origin: /healthz answers 200 within 60 s (${Date.now() - spawnedAt} ms)`, health.ok,
      `${health.last}\n--- origin stderr ---\n${origin.stderr}`);
    if (!health.ok) return;

    server = await startPageServer();
    const pageUrl = `http://127.0.0.1:${server.address().port}/`;
    const master = `${base}/${CHANNEL}/master.m3u8`;

    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 640, height: 360 } });
    const page = await context.newPage();
    const scriptErrors = [];
    page.on('pageerror', (e) => scriptErrors.push(String(e)));
    const requests = [];
    page.on('requestfinished', async (r) => {
      const response = await r.response();
      requests.push({
        url: r.url(),
        status: response ? response.status() : 0,
        // The reason code, and for a refusal the origin's own words.
        reason: !response ? null : response.status() < 400
          ? await response.headerValue('x-usher-reason')
          : (await response.text().catch(() => '')).trim(),
      });
    });
    // hls.js aborts its own requests (a blocking reload it no longer needs, a level switch):
    // those are kept apart from answers the origin failed to give.
    page.on('requestfailed', (r) => requests.push({
      url: r.url(), status: 0, reason: r.failure()?.errorText,
    }));

    const loadedAt = Date.now();
    await page.goto(`${pageUrl}?src=${encodeURIComponent(master)}`);
    let startMs = null;
    try {
      await page.waitForFunction(() => window.t.playingAt !== null
        && document.getElementById('v').currentTime > 0, null, { timeout: START_BUDGET_MS });
      startMs = Date.now() - loadedAt;
    } catch { /* reported below */ }
    const early = await page.evaluate(() => ({ errors: window.t.errors, fatal: window.t.fatal }));
    check(`playback starts within ${START_BUDGET_MS / 1000} s of loading the page`
      + (startMs === null ? '' : ` (${startMs} ms; ${Date.now() - spawnedAt} ms after spawning the origin)`),
    startMs !== null, `hls.js errors: ${early.errors.join(', ') || 'none'}`);
    if (startMs === null) return;

    // Watch: sample the clock, the latency and the frames once a second.
    const sample = () => page.evaluate(() => {
      const v = document.getElementById('v');
      const date = window.hls.playingDate;
      return {
        at: Date.now(),
        currentTime: v.currentTime,
        hlsLatency: window.hls.latency,
        // Wall clock against the playing frame's EXT-X-PROGRAM-DATE-TIME: capture to screen.
        wallLatency: date ? (Date.now() - date.getTime()) / 1000 : null,
        frames: v.getVideoPlaybackQuality().totalVideoFrames,
        dropped: v.getVideoPlaybackQuality().droppedVideoFrames,
        level: window.hls.currentLevel,
      };
    });
    const samples = [await sample()];
    while (Date.now() - samples[0].at < WATCH_MS) {
      await sleep(1000);
      samples.push(await sample());
    }
    const first = samples[0];
    const last = samples[samples.length - 1];
    const state = await page.evaluate(() => ({
      errors: window.t.errors,
      fatal: window.t.fatal,
      stalls: window.t.stalls.concat(
        window.t.stallFrom === null ? [] : [performance.now() - window.t.stallFrom]),
      levels: window.hls.levels.map((l) => ({
        width: l.width, height: l.height, resolution: l.attrs.RESOLUTION })),
    }));

    const watched = (last.at - first.at) / 1000;
    const advanced = last.currentTime - first.currentTime;
    check(`video.currentTime advances >= 15 s over ${round(watched, 1)} s of watching`
      + ` (${round(advanced)} s)`, watched >= WATCH_MS / 1000 && advanced >= 15,
    `advanced ${round(advanced)} s`);
    check('no fatal hls.js error', state.fatal.length === 0, state.fatal.join(', '));
    const longest = Math.max(0, ...state.stalls);
    check(`no stall longer than one segment (${SEGMENT_S} s): ${state.stalls.length} stalls,`
      + ` longest ${Math.round(longest)} ms`, longest <= SEGMENT_S * 1000,
    state.stalls.map(Math.round).join(', '));
    const frames = last.frames - first.frames;
    check(`video frames are decoded throughout (${frames} frames in ${round(watched, 1)} s,`
      + ` ${last.dropped} dropped)`, frames >= 10 * watched, `${frames} frames`);

    const want = LADDER.map(([w, h]) => `${w}x${h}`);
    const got = state.levels.map((l) => `${l.width}x${l.height}/${l.resolution}`);
    check(`hls.levels lists both renditions with their RESOLUTION (${want.join(', ')})`,
      state.levels.length === LADDER.length
        && LADDER.every(([w, h]) => state.levels.some((l) => l.width === w && l.height === h
          && l.resolution === `${w}x${h}`)), got.join(', '));

    const wall = samples.map((s) => s.wallLatency);
    const hlsLat = samples.map((s) => s.hlsLatency);
    const stats = (xs) => {
      const s = [...xs].sort((a, b) => a - b);
      return `min ${round(s[0])} s, median ${round(s[Math.floor(s.length / 2)])} s,`
        + ` max ${round(s[s.length - 1])} s`;
    };
    check(`live latency (now - PROGRAM-DATE-TIME of the playing frame) stays under`
      + ` ${MAX_LATENCY_S} s: ${wall.every((x) => x !== null) ? stats(wall) : 'n/a'}`
      + `; hls.latency ${stats(hlsLat)}`,
    wall.every((x) => x !== null && x >= 0 && x < MAX_LATENCY_S)
      && hlsLat.every((x) => x < MAX_LATENCY_S), wall.map((x) => x && round(x, 1)).join(' '));

    // Low-latency mode in use: blocking reloads (RFC 8216bis §6.2.5.2) and parts, cross-origin.
    const fromOrigin = requests.filter((r) => r.url.startsWith(`${base}/`));
    const blocking = fromOrigin.filter((r) => /index\.m3u8\?.*_HLS_msn=/.test(r.url));
    const parts = fromOrigin.filter((r) => /\/\d+\.\d+\.m4s$/.test(r.url));
    const aborted = fromOrigin.filter((r) => r.status === 0 && r.reason === 'net::ERR_ABORTED');
    const bad = fromOrigin.filter((r) => r.status !== 200 && !aborted.includes(r));
    const show = (rs) => rs.slice(0, 5).map((r) => `${r.status} ${r.reason} ${r.url}`).join(', ');
    check(`hls.js loads parts with blocking playlist reloads, cross-origin`
      + ` (${blocking.length} blocking reloads, ${parts.length} parts)`,
    blocking.length >= 10 && parts.length >= 10, show(bad));
    check(`origin answers every player request with 200 (${fromOrigin.length} requests,`
      + ` ${aborted.length} aborted by hls.js)`, bad.length === 0, show(bad));
    check('no script errors on the page', scriptErrors.length === 0, scriptErrors.join('; '));
    console.log(`     figures: start ${startMs} ms, latency ${stats(wall)},`
      + ` hls.latency ${stats(hlsLat)}, stalls ${state.stalls.length},`
      + ` level ${last.level}, non-fatal hls.js errors ${state.errors.length}`
      + (state.errors.length ? ` (${[...new Set(state.errors)].join(', ')})` : ''));

    const shot = join(SCREENSHOTS, 'origin-hlsjs.png');
    await page.screenshot({ path: shot });
    console.log(`     screenshot: ${shot}`);
  } finally {
    if (browser) await browser.close();
    if (server) server.close();
    await stopOrigin(origin);
    if (failed > 0) console.log(`--- origin stderr (end) ---\n${origin.stderr.slice(-3000)}`);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// SIGTERM, then the origin must exit cleanly within 15 s and take its FFmpeg with it.
async function stopOrigin(origin) {
  const { pid } = origin.child;
  if (pid === undefined) return; // never started: the harness line says why
  if (origin.exited) {
    check('origin: runs until it is stopped', false,
      `${JSON.stringify(origin.exited)}\n--- origin stderr ---\n${origin.stderr}`);
    return;
  }
  const kids = children(pid);
  const ffmpeg = kids.filter((k) => command(k) === 'ffmpeg');
  origin.child.kill('SIGTERM');
  const exited = await Promise.race([origin.exit, sleep(15_000).then(() => null)]);
  check(`origin: exits 0 within 15 s of SIGTERM`, exited && exited.code === 0,
    `${JSON.stringify(exited)}\n--- origin stderr ---\n${origin.stderr.slice(-2000)}`);
  if (!exited) origin.child.kill('SIGKILL');
  await sleep(200);
  const left = kids.filter(alive);
  check(`origin: no FFmpeg left after it stops (had ${ffmpeg.length} ffmpeg children)`,
    ffmpeg.length >= 1 && left.length === 0,
    left.map((k) => `${k} ${command(k)}`).join(', ') || 'no ffmpeg child seen while running');
  for (const k of left) {
    try { process.kill(k, 'SIGKILL'); } catch { /* gone meanwhile */ }
  }
}

try {
  await main();
} catch (e) {
  check('harness', false, e.stack || String(e));
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
