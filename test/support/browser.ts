// Headless Chromium for the page tests: Debian's package, driven by playwright-core (no browser download).
import { existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Where the tests leave their screenshots (looked at by eye; see docs/pages.md). */
export const SCREENSHOTS = resolve('test-results', 'screenshots');

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `no Chromium at ${CHROMIUM}: install Debian's package (apt-get install chromium; .ci/run does) or set CHROMIUM_PATH`,
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Without the background-networking flags Chromium keeps dialling out of this closed network.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
}

/**
 * A phone-sized page (the live page's main reader) or a desktop one, collecting console errors.
 * `locale` is the browser's language (navigator.languages, which the pages choose theirs from):
 * English unless a test asks for another, so tests that read English words get English pages.
 */
export async function newPage(
  browser: Browser,
  size: 'phone' | 'desktop' = 'phone',
  { locale = 'en-US' }: { locale?: string } = {},
): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext({
    locale,
    ...(size === 'phone'
      ? { viewport: { width: 390, height: 780 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true }
      : { viewport: { width: 1280, height: 860 } }),
  });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  return { page, errors };
}

/**
 * Closes every context still open, for `afterEach(() => closeContexts(browser))`: a test that fails
 * before its own close would otherwise leave its pages running (sockets, timers) into the next test.
 */
export async function closeContexts(browser: Browser | undefined): Promise<void> {
  await Promise.all((browser?.contexts() ?? []).map((context) => context.close()));
}

/** The whole page, or (`viewport`) what the reader sees where they have scrolled to. */
export async function screenshot(page: Page, name: string, { viewport = false } = {}): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = resolve(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: !viewport });
  return path;
}
