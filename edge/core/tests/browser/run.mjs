// Plays the edge's player page in headless Chromium, against a local server that stands in for
// the edge: the page comes from the Rust code (the `write_player_page` example), hls.js from
// node_modules at the versioned asset path, and `master.m3u8` answers as the edge would for a
// few ticket values (a refusal with its `x-usher-reason`, or a real HLS stream made by ffmpeg).
//
// Usage: node run.mjs [--page FILE]  (without --page it runs `cargo run --example write_player_page`)
// Needs: Debian's chromium and ffmpeg; `npm ci` in this directory. Talks to 127.0.0.1 only.

import { execFileSync, spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from './chromium.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../../../..');
const EVENT = 'final-2026';
const PAGE_PATH = `/events/${EVENT}/`;
const SCREENSHOTS = process.env.SCREENSHOT_DIR || '/tmp';

// --- the page, from the Rust code ------------------------------------------------------------

function pageHtml() {
  const i = process.argv.indexOf('--page');
  if (i > 0) return readFileSync(process.argv[i + 1]);
  return execFileSync(
    'cargo',
    ['run', '--quiet', '-p', 'usher-edge-core', '--example', 'write_player_page', EVENT],
    { cwd: repo, stdio: ['ignore', 'pipe', 'inherit'] },
  );
}

// --- a few seconds of real HLS ----------------------------------------------------------------

function makeStream(dir) {
  const r = spawnSync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', 'testsrc=size=320x180:rate=25',
    '-f', 'lavfi', '-i', 'sine=frequency=440',
    '-t', '8', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-g', '25', '-c:a', 'aac',
    '-f', 'hls', '-hls_time', '2', '-hls_playlist_type', 'vod',
    join(dir, 'index.m3u8'),
  ], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('ffmpeg failed (is it installed?)');
  writeFileSync(join(dir, 'master.m3u8'),
    '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=400000,RESOLUTION=320x180\nmedia/index.m3u8\n');
}

// --- the stand-in edge ------------------------------------------------------------------------

// Ticket values the stand-in refuses, with the status and reason the real edge gives
// (edge/core/src/reason.rs: 410 for timing, 429 for streams, 403 otherwise).
const REFUSALS = {
  expired: [410, 'ticket_expired'],
  early: [410, 'ticket_not_yet_valid'],
  other: [403, 'ticket_wrong_event'],
  forged: [403, 'ticket_bad_signature'],
  busy: [429, 'too_many_streams'],
};

function startServer({ html, hlsJs, hlsJsPath, mediaDir, requests }) {
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    requests.push(url.pathname + url.search);
    const send = (status, type, body, headers = {}) => {
      res.writeHead(status, { 'content-type': type, ...headers });
      res.end(body);
    };
    if (url.pathname === PAGE_PATH) {
      return send(200, 'text/html; charset=utf-8', html, { 'cache-control': 'public, max-age=300' });
    }
    if (url.pathname === hlsJsPath) {
      return send(200, 'text/javascript', hlsJs, {
        'cache-control': 'public, max-age=31536000, immutable',
      });
    }
    if (url.pathname === `${PAGE_PATH}master.m3u8`) {
      const ticket = url.searchParams.get('ticket');
      const refusal = ticket ? REFUSALS[ticket] : [401, 'no_ticket'];
      if (refusal) {
        return send(refusal[0], 'text/plain', 'refused\n', {
          'x-usher-reason': refusal[1], 'cache-control': 'no-store',
        });
      }
      // The media is on another host, as a CDN's is: `localhost` instead of `127.0.0.1`.
      const cdn = `http://localhost:${req.socket.localPort}${PAGE_PATH}`;
      const master = readFileSync(join(mediaDir, 'master.m3u8'), 'utf8').replace('media/', `${cdn}media/`);
      return send(200, 'application/vnd.apple.mpegurl', master, { 'x-usher-reason': 'ok' });
    }
    const media = url.pathname.match(/^\/events\/[^/]+\/media\/([\w.-]+\.(m3u8|ts))$/);
    if (media) {
      const type = media[2] === 'ts' ? 'video/mp2t' : 'application/vnd.apple.mpegurl';
      try {
        return send(200, type, readFileSync(join(mediaDir, media[1])),
          { 'access-control-allow-origin': '*' });
      } catch {
        return send(404, 'text/plain', 'no such segment\n');
      }
    }
    return send(404, 'text/plain', 'not found\n');
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(server)));
}

// --- the checks -------------------------------------------------------------------------------

let passed = 0;
let failed = 0;
function check(name, ok, detail = '') {
  if (ok) passed++; else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${ok || !detail ? '' : ` — ${detail}`}`);
}

async function main() {
  const html = pageHtml();
  const hlsPkg = JSON.parse(readFileSync(join(here, 'node_modules/hls.js/package.json'), 'utf8'));
  const hlsJsPath = `/assets/hls.js/${hlsPkg.version}/hls.min.js`;
  check(`page is under 2.75 KiB (${html.length} bytes)`, html.length < 2816);
  check(`page loads the npm-pinned hls.js ${hlsPkg.version}`,
    html.toString().includes(`import("${hlsJsPath}")`),
    'HLS_JS_VERSION in page.rs and hls.js in package.json differ');

  const mediaDir = mkdtempSync(join(tmpdir(), 'usher-page-media-'));
  makeStream(mediaDir);
  const requests = [];
  const server = await startServer({
    html,
    hlsJs: readFileSync(join(here, 'node_modules/hls.js/dist/hls.min.js')),
    hlsJsPath,
    mediaDir,
    requests,
  });
  const base = `http://127.0.0.1:${server.address().port}${PAGE_PATH}`;

  const browser = await launchChromium();

  // One fresh browser context (cookies, cache) per scenario.
  async function scenario(name, fn, { initScript } = {}) {
    const context = await browser.newContext({ viewport: { width: 1024, height: 720 } });
    if (initScript) await context.addInitScript(initScript);
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    requests.length = 0;
    try {
      await fn(page, context);
      check(`${name}: no script errors`, errors.length === 0, errors.join('; '));
    } catch (e) {
      check(name, false, String(e).split('\n')[0]);
    } finally {
      await context.close();
    }
  }
  const asked = (prefix) => requests.filter((r) => r.startsWith(prefix));
  const message = async (page) => {
    await page.waitForSelector('#msg:not([hidden])', { timeout: 10_000 });
    return page.$eval('#msg', (m) => ({ text: m.textContent, reason: m.dataset.reason }));
  };

  await scenario('no ticket', async (page) => {
    await page.goto(base);
    const m = await message(page);
    check('no ticket: says a ticket is required', /need a ticket/.test(m.text), m.text);
    check('no ticket: data-reason=no_ticket', m.reason === 'no_ticket', m.reason);
    await page.waitForTimeout(500);
    check('no ticket: requests neither the manifest nor hls.js',
      asked(`${PAGE_PATH}master.m3u8`).length === 0 && asked('/assets/').length === 0,
      requests.join(' '));
  });

  const refusals = [
    ['expired', 'ticket_expired', /expired/],
    ['early', 'ticket_not_yet_valid', /not valid yet/],
    ['other', 'ticket_wrong_event', /another event/],
    ['forged', 'ticket_bad_signature', /ticket is not valid/],
    ['busy', 'too_many_streams', /too many screens/],
  ];
  for (const [ticket, reason, text] of refusals) {
    await scenario(`ticket ${ticket}`, async (page) => {
      await page.goto(`${base}?ticket=${ticket}`);
      const m = await message(page);
      check(`ticket ${ticket}: message "${m.text}"`, text.test(m.text), m.text);
      check(`ticket ${ticket}: data-reason=${reason}`, m.reason === reason, m.reason);
      check(`ticket ${ticket}: video hidden`, await page.$eval('#v', (v) => v.hidden));
      if (ticket === 'expired') {
        await page.screenshot({ path: join(SCREENSHOTS, 'usher-page-expired.png') });
      }
    });
  }

  await scenario('valid ticket', async (page, context) => {
    await page.goto(`${base}?ticket=good.ticket-1&lang=fr#t`);
    await page.waitForFunction(() => document.getElementById('v').currentTime > 2, null,
      { timeout: 30_000 });
    check('valid ticket: video plays past 2 s', true);
    check('valid ticket: loaded hls.js (MSE path)', asked('/assets/hls.js/').length === 1,
      requests.join(' '));
    check('valid ticket: manifest asked with the ticket',
      asked(`${PAGE_PATH}master.m3u8?ticket=good.ticket-1`).length >= 1, requests.join(' '));
    const url = page.url();
    check('valid ticket: ticket removed from the address bar, the rest kept',
      url === `${base}?lang=fr#t`, url);
    const cookies = await context.cookies();
    const c = cookies.find((k) => k.name === 'usher_ticket');
    check('valid ticket: ticket kept in a cookie for the event path',
      c && c.value === 'good.ticket-1' && c.path === PAGE_PATH && c.sameSite === 'Lax'
        && !c.secure && c.expires > Date.now() / 1000 + 3600,
      JSON.stringify(c));
    // The page turns low-latency mode off (page.rs says why) and keeps hls.js's live sync;
    // shared/cli/tests/browser/event.mjs checks that no part is loaded from a real LL origin.
    const sync = await page.evaluate(() => Hls.DefaultConfig.liveSyncDurationCount);
    check('valid ticket: hls.js plays 3 target durations behind live (its default)', sync === 3,
      JSON.stringify(sync));
    check('valid ticket: no message shown', await page.$eval('#msg', (m) => m.hidden));
    // CMCD (CTA-5004 request mode) on every request to the CDN's host, none to the page's own.
    const cmcd = requests.filter((r) => r.includes('/media/'))
      .map((r) => new URL(r, 'http://x').searchParams.get('CMCD'));
    const sids = new Set(cmcd.map((c) => c?.match(/(?:^|,)sid="([^"]+)"/)?.[1]));
    check('valid ticket: every request to the CDN carries CMCD with one session id',
      cmcd.length >= 3 && cmcd.every((c) => c !== null) && sids.size === 1 && !sids.has(undefined),
      `${cmcd.length} requests, ${[...sids].join(' ')}`);
    const keys = cmcd.at(-1)?.split(',').map((m) => m.split('=')[0]) ?? [];
    check('valid ticket: CMCD keys sorted, with buffer, bitrate, throughput and session',
      ['bl', 'br', 'mtp', 'sid'].every((k) => keys.includes(k))
        && keys.join() === [...keys].sort().join(), cmcd.at(-1));
    check('valid ticket: no CMCD on requests to the page\'s own host',
      requests.filter((r) => r.startsWith(`${PAGE_PATH}master.m3u8`)).every((r) => !r.includes('CMCD')),
      requests.filter((r) => r.includes('master')).join(' '));
    await page.screenshot({ path: join(SCREENSHOTS, 'usher-page-playing.png') });

    // The device hint a stream lease is taken over with: the same on every load of this browser.
    const device = (r) => new URL(r, base).searchParams.get('device');
    const firstDevice = device(asked(`${PAGE_PATH}master.m3u8?`)[0] || '/');
    // A reload without the ticket in the URL plays from the cookie.
    requests.length = 0;
    await page.goto(base);
    await page.waitForFunction(() => document.getElementById('v').currentTime > 0.5, null,
      { timeout: 30_000 });
    check('reload: plays with the ticket from the cookie',
      asked(`${PAGE_PATH}master.m3u8?ticket=good.ticket-1`).length >= 1, requests.join(' '));
    const again = asked(`${PAGE_PATH}master.m3u8?`).map(device);
    check('reload: the same device hint as the first load',
      firstDevice && again.length >= 1 && again.every((d) => d === firstDevice),
      `${firstDevice} ${again.join(' ')}`);
  });

  // Apple's WebKit plays natively: pretend to be it, and check that no player script is loaded.
  const apple = () => Object.defineProperty(Navigator.prototype, 'vendor', {
    get: () => 'Apple Computer, Inc.',
  });
  await scenario('Apple WebKit', async (page) => {
    await page.goto(`${base}?ticket=good.ticket-2`);
    await page.waitForFunction(() => document.getElementById('v').src !== '', null,
      { timeout: 10_000 });
    const src = await page.$eval('#v', (v) => v.src);
    check('Apple WebKit: native HLS on the manifest URL, with the device hint',
      /^[0-9.]+$/.test(new URL(src).searchParams.get('device') || '')
        && src.startsWith(`${base}master.m3u8?ticket=good.ticket-2&device=`), src);
    await page.waitForTimeout(500);
    check('Apple WebKit: no hls.js download', asked('/assets/').length === 0, requests.join(' '));
  }, { initScript: apple });

  await scenario('Apple WebKit, expired ticket', async (page) => {
    await page.goto(`${base}?ticket=expired`);
    const m = await message(page);
    check('Apple WebKit, expired ticket: the native error also reads the reason',
      m.reason === 'ticket_expired' && /expired/.test(m.text), JSON.stringify(m));
  }, { initScript: apple });

  // A ticket with characters that mean something in a cookie or a query stays one value.
  await scenario('odd ticket', async (page, context) => {
    const odd = 'a;path=/&b=c d';
    await page.goto(`${base}?ticket=${encodeURIComponent(odd)}`);
    await page.waitForFunction(() => document.getElementById('v').currentTime > 0.5, null,
      { timeout: 30_000 });
    const c = (await context.cookies()).find((k) => k.name === 'usher_ticket');
    check('odd ticket: cookie holds it encoded, path unchanged',
      c && decodeURIComponent(c.value) === odd && c.path === PAGE_PATH, JSON.stringify(c));
    check('odd ticket: the manifest gets exactly that ticket',
      requests.some((r) => r.startsWith(`${PAGE_PATH}master.m3u8?`)
        && new URLSearchParams(r.split('?')[1]).get('ticket') === odd), requests.join(' '));
  });

  // A browser with neither MSE nor native HLS says so instead of spinning.
  const noMse = () => {
    delete window.MediaSource;
    delete window.ManagedMediaSource;
    HTMLMediaElement.prototype.canPlayType = () => '';
  };
  await scenario('no MSE, no native HLS', async (page) => {
    await page.goto(`${base}?ticket=good.ticket-3`);
    const m = await message(page);
    check('no MSE, no native HLS: says the browser cannot play',
      m.reason === 'unsupported' && /cannot play/.test(m.text), JSON.stringify(m));
    check('no MSE, no native HLS: no hls.js download', asked('/assets/').length === 0,
      requests.join(' '));
  }, { initScript: noMse });

  await browser.close();
  server.close();
  rmSync(mediaDir, { recursive: true, force: true });
}

try {
  await main();
} catch (e) {
  check('harness', false, e.stack || String(e));
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
