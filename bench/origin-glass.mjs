// Glass-to-glass samples for bench/origin.py: plays a live `usher origin` (LL-HLS) with hls.js in
// headless Chromium, as edge/core/tests/browser/origin.mjs does, and captures N frames of the
// playing video, each with the wall-clock instant it was due on screen.
//
// Each sample is taken in a requestVideoFrameCallback: the callback runs for the frame the
// compositor is about to show, and its metadata says when (expectedDisplayTime, on the page's
// monotonic clock, turned into Unix ms with Date.now() − performance.now() read in the same
// callback). In the same callback the frame is drawn into a canvas (drawImage draws the frame
// being presented), the burned-in clock's band is cropped, made black on white at 3x for OCR,
// and written out as a PNG; bench/origin.py reads the clock off it with tesseract. Beside it, the
// same instant against hls.js's EXT-X-PROGRAM-DATE-TIME of the playing position (hls.playingDate),
// the estimate edge/core/tests/browser/origin.mjs reports.
//
// Usage: node bench/origin-glass.mjs --master URL --out DIR [--samples 20] [--interval-ms 1500]
//          [--settle-ms 10000]
// Prints one JSON document on stdout. Needs Debian's chromium and `npm ci` in
// edge/core/tests/browser (playwright-core, hls.js). Talks to 127.0.0.1 only.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { launchChromium } from '../edge/core/tests/browser/chromium.mjs';
import { servePage } from '../edge/core/tests/browser/page-server.mjs';

const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

const { values: opts } = parseArgs({
  options: {
    master: { type: 'string' },
    out: { type: 'string' },
    samples: { type: 'string', default: '20' },
    'interval-ms': { type: 'string', default: '1500' },
    'settle-ms': { type: 'string', default: '10000' },
  },
});
if (!opts.master || !opts.out) {
  console.error('usage: node bench/origin-glass.mjs --master URL --out DIR [--samples N]');
  process.exit(2);
}

// A 640x360 player, and hls.js capping its level to the player's size: the 360p rung, as a
// small player would pick (and one software decode that leaves the encoder its two cores).
const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>usher origin, glass to glass</title>
<style>html,body{margin:0;background:#000}video{display:block;width:640px;height:360px}</style>
<video id="v" muted playsinline></video>
<script src="/hls.min.js"></script>
<script>
  const v = document.getElementById('v');
  const t = window.t = { errors: [], fatal: [], stalls: 0, playingAt: null };
  const hls = window.hls = new Hls({ lowLatencyMode: true, capLevelToPlayerSize: true });
  hls.on(Hls.Events.ERROR, (_, d) => {
    const what = d.type + '/' + d.details;
    t.errors.push(what);
    if (d.fatal) t.fatal.push(what);
  });
  hls.on(Hls.Events.MANIFEST_PARSED, () => v.play().catch((e) => t.errors.push(String(e))));
  v.addEventListener('waiting', () => { if (t.playingAt !== null) t.stalls++; });
  v.addEventListener('playing', () => {
    if (t.playingAt === null) t.playingAt = performance.now();
  });
  hls.loadSource(new URLSearchParams(location.search).get('src'));
  hls.attachMedia(v);

  // One frame: its display instant, the clock band as a PNG, and the PROGRAM-DATE-TIME estimate.
  window.capture = () => new Promise((done) => {
    v.requestVideoFrameCallback((now, meta) => {
      const offset = Date.now() - performance.now();
      const w = v.videoWidth;
      const h = v.videoHeight;
      // The test source's drawtext: font h/12, its box bottom edge h/10 above the bottom,
      // centred; this band holds the box and little else.
      const x0 = Math.round(w * 0.22);
      const y0 = Math.round(h * 0.79);
      const cw = Math.round(w * 0.56);
      const ch = Math.round(h * 0.13);
      const scale = Math.max(1, Math.round(3 * 360 / h));
      const c = document.createElement('canvas');
      c.width = cw * scale;
      c.height = ch * scale;
      const g = c.getContext('2d', { willReadFrequently: true });
      g.imageSmoothingQuality = 'high';
      g.drawImage(v, x0, y0, cw, ch, 0, 0, c.width, c.height);
      // White text on a 60 % black box over a colour pattern: keep the near-white pixels as
      // black ink on white paper, which is what tesseract reads best.
      const img = g.getImageData(0, 0, c.width, c.height);
      const d = img.data;
      for (let i = 0; i < d.length; i += 4) {
        const y = 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
        const grey = Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]) < 60;
        const ink = y > 170 && grey;
        d[i] = d[i + 1] = d[i + 2] = ink ? 0 : 255;
        d[i + 3] = 255;
      }
      g.putImageData(img, 0, 0);
      const date = hls.playingDate;
      done({
        displayMs: offset + meta.expectedDisplayTime,
        callbackMs: offset + now,
        pdtLatencyMs: date ? Date.now() - date.getTime() : null,
        hlsLatency: hls.latency,
        mediaTime: meta.mediaTime,
        height: h,
        level: hls.currentLevel,
        png: c.toDataURL('image/png'),
      });
    });
  });
</script>
`;

function startPageServer() {
  return servePage(PAGE);
}

async function main() {
  mkdirSync(opts.out, { recursive: true });
  const server = await startPageServer();
  let browser;
  try {
    browser = await launchChromium();
    const page = await (await browser.newContext({ viewport: { width: 640, height: 360 } }))
      .newPage();
    const url = `http://127.0.0.1:${server.address().port}/?src=${encodeURIComponent(opts.master)}`;
    await page.goto(url);
    await page.waitForFunction(() => window.t.playingAt !== null
      && document.getElementById('v').currentTime > 0, null, { timeout: 30_000 });
    // hls.js seeks to its live edge and then adjusts its playback rate toward its target
    // latency: the first seconds are not the steady state.
    await sleep(Number(opts['settle-ms']));
    const samples = [];
    for (let i = 0; i < Number(opts.samples); i++) {
      const s = await page.evaluate(() => window.capture());
      const png = join(opts.out, `clock-${String(i).padStart(3, '0')}.png`);
      writeFileSync(png, Buffer.from(s.png.split(',')[1], 'base64'));
      delete s.png;
      samples.push({ ...s, png });
      await sleep(Number(opts['interval-ms']));
    }
    const state = await page.evaluate(() => ({
      errors: window.t.errors, fatal: window.t.fatal, stalls: window.t.stalls,
      levels: window.hls.levels.map((l) => `${l.width}x${l.height}`),
    }));
    await page.screenshot({ path: join(opts.out, 'page.png') });
    console.log(JSON.stringify({ samples, ...state }));
  } finally {
    if (browser) await browser.close();
    server.close();
  }
}

await main();
