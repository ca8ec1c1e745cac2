// The post-event report in headless Chromium: runs the real `usher control report` on a
// controller's data directory, opens the report.html it wrote, and checks that it loads without
// a console error, that every chart has a drawn path for every CDN, and that the decision log
// holds what the caller expects; then saves a full-page screenshot.
//
// dashboard.mjs calls checkReport() on the data its controller just recorded. On its own:
//   node report.mjs --data DIR [--config control.toml] [--event final]
// (USHER_BIN: the usher binary; SCREENSHOT_DIR: where report.png goes.)

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, '../../..');
export const USHER = process.env.USHER_BIN
  || join(process.env.CARGO_TARGET_DIR || join(repo, 'target'), 'debug', 'usher');
export const SCREENSHOTS = process.env.SCREENSHOT_DIR || '/tmp';

// A pass/fail tally that prints one line per check.
export function tally() {
  const t = {
    passed: 0,
    failed: 0,
    check(name, ok, detail = '') {
      if (ok) t.passed += 1; else t.failed += 1;
      console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${!ok && detail ? `: ${detail}` : ''}`);
      return ok;
    },
    summary() { console.log(`${t.passed} passed, ${t.failed} failed`); },
  };
  return t;
}

// `expect`: { cdns: [ids], reasons: [reason codes the log must show], why: [audit reasons] }.
export async function checkReport({ browser, data, config, event = 'final', expect, t }) {
  const out = mkdtempSync(join(tmpdir(), 'usher-report-'));
  try {
    const args = ['control', 'report', '--event', event, '--data', data, '--out', out];
    if (config) args.push('--config', config);
    const run = spawnSync(USHER, args, { encoding: 'utf8' });
    const written = run.stdout.trim().split('\n').filter(Boolean);
    if (!t.check('usher control report writes report.html, report.json, timeline.csv and decisions.csv',
      run.status === 0 && ['report.html', 'report.json', 'timeline.csv', 'decisions.csv']
        .every((f) => written.includes(join(out, f))),
      `exit ${run.status}: ${run.stderr.trim()} ${run.stdout.trim()}`)) return;

    const json = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    t.check('report.json lists every CDN with its figures',
      expect.cdns.every((id) => json.cdns.some((c) => c.id === id && c.ticks > 0 && c.sla.length === 4)),
      JSON.stringify(json.cdns.map((c) => [c.id, c.ticks])));
    const csv = readFileSync(join(out, 'timeline.csv'), 'utf8').trim().split('\r\n');
    t.check('timeline.csv has a row per tick per CDN',
      csv.length === 1 + json.summary.ticks * expect.cdns.length, `${csv.length} lines, ${json.summary.ticks} ticks`);

    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const errors = [];
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('request', (r) => { if (!r.url().startsWith('file:')) errors.push(`request to ${r.url()}`); });
    await page.goto(pathToFileURL(join(out, 'report.html')).href);

    const charts = await page.evaluate((ids) => [...document.querySelectorAll('#charts svg.chart')].map((svg) => ({
      id: svg.id,
      missing: ids.filter((id) => ![...svg.querySelectorAll('path.series')]
        .some((p) => p.dataset.cdn === id && /[ML]\s*[\d.]+/.test(p.getAttribute('d') || ''))),
      labels: svg.querySelectorAll('text').length,
    })), expect.cdns);
    t.check('the report has its ten charts', charts.length === 10, `${charts.length}`);
    const bare = charts.filter((c) => c.missing.length > 0);
    t.check('every report chart has a drawn path for every CDN', charts.length > 0 && bare.length === 0,
      JSON.stringify(bare));
    t.check('every report chart has axis labels', charts.every((c) => c.labels >= 4), JSON.stringify(charts));

    const log = await page.locator('#log').innerText();
    for (const reason of expect.reasons) {
      t.check(`the report's decision log shows ${reason}`, log.includes(reason));
    }
    for (const why of expect.why) {
      t.check(`the report's decision log shows the operator's reason "${why}"`, log.includes(why));
    }
    const sections = await page.evaluate(() => ['summary', 'recommendations', 'cdns', 'sla', 'charts', 'log', 'quality']
      .filter((id) => !document.getElementById(id)));
    t.check('the report has every section', sections.length === 0, `missing ${sections}`);
    await page.screenshot({ path: join(SCREENSHOTS, 'report.png'), fullPage: true });
    await page.screenshot({ path: join(SCREENSHOTS, 'report-top.png') });
    await page.locator('#charts').screenshot({ path: join(SCREENSHOTS, 'report-charts.png') });
    t.check('the report loads with no console error and fetches nothing', errors.length === 0, errors.join(' | '));
    await page.close();
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : undefined; };
  const data = arg('--data');
  if (!data) {
    console.error('usage: node report.mjs --data DIR [--config control.toml] [--event final]');
    process.exit(2);
  }
  const { launchChromium } = await import('../../../edge/core/tests/browser/chromium.mjs');
  const t = tally();
  const browser = await launchChromium();
  try {
    const timeline = readFileSync(join(data, 'timeline.jsonl'), 'utf8').trim().split('\n');
    const cdns = JSON.parse(timeline[timeline.length - 1]).cdns.map((c) => c.id);
    await checkReport({ browser, data, config: arg('--config'), event: arg('--event') || 'final', expect: { cdns, reasons: [], why: [] }, t });
  } finally {
    await browser.close();
  }
  t.summary();
  process.exit(t.failed ? 1 : 0);
}
