// The controller's live dashboard and its post-event report in headless Chromium, against the
// real `usher control run` steering three local stand-in CDNs (cdns.mjs) from real probes.
//
// It writes a control.toml and health-keys.json into a temporary directory, starts the
// controller on 127.0.0.1:0 (the address comes from its "dashboard on http://ADDR/" line),
// feeds it CMCD lines from forty virtual viewers placed by the controller's own slot shares,
// opens the dashboard and checks: it loads without a console error; every chart has a drawn
// path per CDN; live ticks arrive (the seq moves on at least three times); when cdn-b starts
// failing every second request the decision log shows it gated with reason gated_error_rate;
// `usher control drain cdn-x --who test --why "browser test"` appears in the operator log live
// and on cdn-x's card; after the controller restarts on the same address, the page reconnects,
// re-reads /v1/state and ticks on. Then it stops the controller, runs `usher control report` on
// the data it recorded and checks the report page (report.mjs). Screenshots: dashboard.png (1280×800),
// dashboard-full.png, dashboard-restarted.png, report.png, report-top.png, report-charts.png in
// $SCREENSHOT_DIR.
//
// Usage: node dashboard.mjs   (USHER_BIN: the usher binary, default target/debug/usher)
// Needs: Debian's chromium; `npm ci` in edge/core/tests/browser. Talks to 127.0.0.1 only.
// Stops everything it started. The last line is "N passed, M failed".

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchChromium } from '../../../edge/core/tests/browser/chromium.mjs';
import { startCdn } from './cdns.mjs';
import { SCREENSHOTS, USHER, checkReport, tally } from './report.mjs';

const CDN_IDS = ['cdn-a', 'cdn-b', 'cdn-x'];
const WEIGHTS = [4000, 3000, 3000];
const VIEWERS = 40;
const HEALTH_KEYS = '{"h1": "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"}';

// A controller tuned to react in seconds (one-second evaluations, short half-lives), as the
// Rust integration test of `usher control run` configures it; publishing to a file.
function configText(cdns) {
  let text = `interval_ms = 1000
metrics_window_ms = 5000
viewer_window_ms = 10000
[signing]
key_id = "h1"
keys_file = "health-keys.json"
[probe]
interval_ms = 250
timeout_ms = 2000
[health]
half_life_ms = 2000
stale_after_ms = 8000
snapshot_ttl_ms = 20000
[health.gate]
half_life_ms = 1000
min_requests = 4.0
[health.steering]
min_dwell_ms = 1000
max_migration_bp = 2000
[health.score]
throughput_target_bps = 4000000.0
[sla]
ttfb_p95_ms = 400.0
throughput_bps = 4000000.0
[[event]]
id = "final"
probe_playlists = ["v1/playlist.m3u8"]
[[publish]]
kind = "file"
path = "health.json"
`;
  cdns.forEach((cdn, i) => {
    text += `[[cdn]]\nid = "${cdn.id}"\nbase_url = "${cdn.baseUrl}"\nstatic_weight_bp = ${WEIGHTS[i]}\n`;
  });
  return text;
}

// `usher control run`, resolved with its address once it prints the dashboard line.
function startController(config, data, listen = '127.0.0.1:0') {
  const child = spawn(USHER, ['control', 'run', '--config', config, '--listen', listen, '--data', data],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  const log = [];
  const address = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no dashboard line in 60 s: ${log.join(' | ')}`)), 60_000);
    let buffer = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      buffer += chunk;
      let nl;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        log.push(line);
        const m = line.match(/dashboard on (http:\/\/[^/\s]+)\//);
        if (m) { clearTimeout(timer); resolve(m[1]); }
      }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`usher control run exited ${code}: ${log.join(' | ')}`)); });
  });
  const stop = () => new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', (code, signal) => { clearTimeout(timer); resolve(code ?? signal); });
    child.kill('SIGTERM');
  });
  return { address, stop, log };
}

// Forty viewers, each on the CDN the controller's slot shares give its place in the audience,
// reporting CMCD (session id, 3 Mbit/s rendition) once a second, as an edge's log would.
function startViewers(base) {
  let stopped = false;
  let timer;
  const round = async () => {
    try {
      const state = await (await fetch(`${base}/v1/state`)).json();
      const tick = state.ticks[state.ticks.length - 1];
      if (tick) {
        const now = Date.now();
        const lines = [];
        let edge = 0;
        const bounds = tick.cdns.map((c) => (edge += c.slot_share));
        for (let v = 0; v < VIEWERS; v++) {
          const place = (v + 0.5) / VIEWERS;
          const i = Math.max(0, bounds.findIndex((b) => place <= b + 1e-9));
          lines.push(JSON.stringify({ at: now, event: 'final', pathway: tick.cdns[i].id, source: 'request',
            cmcd: { sid: `viewer-${v}`, br: 3000 } }));
        }
        await fetch(`${base}/v1/qoe`, { method: 'POST', body: lines.join('\n') + '\n' });
      }
    } catch { /* the controller is starting or stopping: the next round tries again */ }
    if (!stopped) timer = setTimeout(round, 1000);
  };
  round();
  return () => { stopped = true; clearTimeout(timer); };
}

async function main() {
  const t = tally();
  const dir = mkdtempSync(join(tmpdir(), 'usher-dashboard-'));
  const data = join(dir, 'data');
  const cdns = [];
  let controller, stopViewers, browser;
  try {
    for (const id of CDN_IDS) cdns.push(await startCdn(id));
    writeFileSync(join(dir, 'health-keys.json'), HEALTH_KEYS);
    const config = join(dir, 'control.toml');
    writeFileSync(config, configText(cdns));
    controller = startController(config, data);
    const base = await controller.address;
    stopViewers = startViewers(base);

    browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const errors = [];
    // While the controller restarts, the browser reports the event stream it cut and the
    // reconnections it refused; those are the point of that step, not faults of the page.
    let restarting = false;
    const expected = [];
    page.on('console', (m) => {
      if (m.type() !== 'error') return;
      const cut = restarting && m.location().url === `${base}/v1/stream`;
      (cut ? expected : errors).push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${base}/`);

    // Live updates: the seq moves on three times after the state was loaded.
    await page.waitForFunction(() => window.usherDashboard.stateLoads > 0, null, { timeout: 15_000 });
    const first = await page.evaluate(() => window.usherDashboard.lastSeq);
    const live = await page.waitForFunction((s) => window.usherDashboard.lastSeq >= s + 3
      && window.usherDashboard.ticksReceived >= 3 && Number(document.body.dataset.seq) >= s + 3,
    first, { timeout: 20_000 }).then(() => true, () => false);
    t.check('at least three live ticks arrive over the event stream', live,
      JSON.stringify(await page.evaluate(() => window.usherDashboard)));

    // Charts: every chart has a non-empty path for every CDN (probe figures arrive within seconds).
    const chartsOk = await page.waitForFunction((ids) => {
      const charts = [...document.querySelectorAll('#charts svg.chart')];
      return charts.length === 8 && charts.every((svg) => ids.every((id) =>
        [...svg.querySelectorAll('path.series')].some((p) => p.dataset.cdn === id && /^M[\d.]+ [\d.]+L/.test(p.getAttribute('d') || ''))));
    }, CDN_IDS, { timeout: 20_000 }).then(() => true, () => false);
    t.check('every dashboard chart draws a line for every CDN', chartsOk,
      JSON.stringify(await page.evaluate(() => [...document.querySelectorAll('#charts svg.chart')]
        .map((s) => [s.id, [...s.querySelectorAll('path.series')].map((p) => `${p.dataset.cdn}:${(p.getAttribute('d') || '').length}`)]))));
    const cards = await page.locator('.card[data-cdn]').count();
    t.check('a card per CDN, and the data sources card', cards === 3 && await page.locator('#sources').count() === 1, `${cards}`);
    const sources = await page.locator('#sources').innerText();
    t.check('the data sources card shows the publish target and QoE age', /publish file/.test(sources) && /QoE/.test(sources), sources);

    // cdn-b fails every second request: gated, with its reason code in the decision log.
    cdns[1].set({ errorRate: 0.5 });
    const gated = await page.waitForSelector('#decisions tr[data-cdn="cdn-b"][data-reason="gated_error_rate"]',
      { timeout: 30_000 }).then(() => true, () => false);
    t.check('the decision log shows cdn-b gated with reason gated_error_rate within 30 s', gated,
      await page.locator('#decisions').innerText());
    const badge = await page.locator('.card[data-cdn="cdn-b"] .badge').first().innerText().catch(() => '');
    t.check('cdn-b\'s card says gated', badge === 'gated', badge);

    // An operator drains cdn-x: the audit entry arrives live, and the card shows the override.
    const auditBefore = await page.evaluate(() => window.usherDashboard.auditReceived);
    const drain = spawnSync(USHER, ['control', 'drain', 'cdn-x', '--who', 'test', '--why', 'browser test',
      '--controller', `${base}/`], { encoding: 'utf8' });
    t.check('usher control drain cdn-x is applied', drain.status === 0, `exit ${drain.status}: ${drain.stderr}`);
    const audited = await page.waitForFunction((n) => window.usherDashboard.auditReceived > n
      && [...document.querySelectorAll('#audit tr[data-who="test"]')].some((r) => r.innerText.includes('browser test')),
    auditBefore, { timeout: 10_000 }).then(() => true, () => false);
    t.check('the audit entry (who, why) appears live in the operator log', audited,
      await page.locator('#audit').innerText());
    const drained = await page.waitForFunction(() => [...document.querySelectorAll('.card[data-cdn="cdn-x"] .badge.operator')]
      .some((b) => b.textContent === 'drain'), null, { timeout: 10_000 }).then(() => true, () => false);
    t.check('cdn-x\'s card shows the operator\'s drain', drained);
    const drainLogged = await page.waitForSelector('#decisions tr[data-cdn="cdn-x"][data-reason="operator_drain"]',
      { timeout: 10_000 }).then(() => true, () => false);
    t.check('the decision log shows operator_drain for cdn-x', drainLogged);

    // A couple more ticks so the charts show the aftermath, then the screenshots.
    const seq = await page.evaluate(() => window.usherDashboard.lastSeq);
    await page.waitForFunction((s) => window.usherDashboard.lastSeq >= s + 3, seq, { timeout: 10_000 }).catch(() => {});
    await page.screenshot({ path: join(SCREENSHOTS, 'dashboard.png') });
    await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-full.png'), fullPage: true });

    // The controller restarts on the same address: the page reconnects by itself, re-reads the
    // state and goes on from the resumed seq.
    const before = await page.evaluate(() => ({ ...window.usherDashboard }));
    restarting = true;
    const stopped = await controller.stop();
    t.check('the controller stops on SIGTERM', stopped === 0, `exit ${stopped}`);
    controller = startController(config, data, base.replace('http://', ''));
    await controller.address;
    const resumed = await page.waitForFunction((b) => window.usherDashboard.stateLoads > b.stateLoads
      && window.usherDashboard.lastSeq > b.lastSeq && document.getElementById('conn').textContent === 'live',
    before, { timeout: 20_000 }).then(() => true, () => false);
    restarting = false;
    t.check('after a controller restart the page reconnects, re-reads the state and ticks on', resumed,
      JSON.stringify({ before, after: await page.evaluate(() => window.usherDashboard) }));

    await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-restarted.png') });
    t.check('the dashboard ran with no console error', errors.length === 0, errors.join(' | '));
    await page.close();

    stopViewers();
    stopViewers = null;
    const exit = await controller.stop();
    controller = null;
    t.check('the controller stops cleanly on SIGTERM', exit === 0, `exit ${exit}`);

    await checkReport({
      browser, data, config, event: 'final', t,
      expect: { cdns: CDN_IDS, reasons: ['gated_error_rate', 'operator_drain'], why: ['browser test'] },
    });
  } catch (error) {
    t.check('the run completes', false, error.stack || String(error));
    if (controller) console.log(controller.log.join('\n'));
  } finally {
    stopViewers?.();
    if (browser) await browser.close();
    if (controller) await controller.stop();
    await Promise.all(cdns.map((c) => c.close()));
    // USHER_KEEP_DIR=1 keeps the configuration and the recorded data for a look afterwards.
    if (process.env.USHER_KEEP_DIR) console.log(`kept ${dir}`); else rmSync(dir, { recursive: true, force: true });
  }
  t.summary();
  return t.failed ? 1 : 0;
}

process.exitCode = await main();
