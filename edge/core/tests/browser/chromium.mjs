// Debian's Chromium, headless, as every browser test here launches it: the system browser
// (`CHROMIUM` overrides its path; no downloaded one), and flags that keep it from reaching
// anything outside 127.0.0.1 (this machine's network is closed, and background fetches would be
// refused by the dozen). Playwright adds a fresh profile per launch.

import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

export function launchChromium() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
}
