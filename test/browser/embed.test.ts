// The embed, /embed/{eventId}, in headless Chromium: a page on another origin frames it (that origin
// is in the stage's frame-ancestors setting) and sees the event live, with a way out to the full
// page; the same page cannot frame /live (every page but the embed is framed by its own origin
// only), and a site not in the setting cannot frame the embed either.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Frame, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import type { Stage } from '../../local/stage';
import { closeContexts, launchBrowser, newPage, screenshot } from '../support/browser';
import { type CreatedEvent, createEvent, reporterUrl, testStage } from '../support/stage';
import { connect, type TestClient } from '../support/ws-client';

/** A site of someone else's: its own origin (another port), one page that frames `src` by query. */
async function hostSite(): Promise<{ origin: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    const src = new URL(req.url ?? '/', 'http://x').searchParams.get('src') ?? '';
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(
      `<!doctype html><title>portal</title><h1>The organiser's portal</h1><iframe id="f" src="${src.replace(/"/g, '&quot;')}" width="380" height="560" style="border:1px solid #ccc"></iframe>`,
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

let stage: Stage;
let browser: Browser;
let allowed: Awaited<ReturnType<typeof hostSite>>;
let stranger: Awaited<ReturnType<typeof hostSite>>;
let event: CreatedEvent;
let reporter: TestClient;
let n = 0;

async function publish(text: string, kind: 'text' | 'key' = 'text') {
  const clientId = `e${++n}`;
  reporter.send({ action: 'publish', text, kind, clientId });
  await reporter.next((f) => f.type === 'ack' && f.clientId === clientId);
}

beforeAll(async () => {
  [allowed, stranger, browser] = await Promise.all([hostSite(), hostSite(), launchBrowser()]);
  // The setting names the portal's origin only.
  stage = await testStage({ webDir: inject('webDir'), embedAncestors: ["'self'", allowed.origin] });
  event = await createEvent(stage, 'Longxi Sweetfish Festival — opening');
  reporter = await connect(reporterUrl(stage, event));
  await publish('Gates open.');
  await publish('Ribbon cut!', 'key');
}, 120_000);

afterEach(() => closeContexts(browser));

afterAll(async () => {
  await reporter?.close();
  await browser?.close();
  await stage?.stop();
  await allowed?.close();
  await stranger?.close();
});

/** The portal page framing `path` of the stage; the frame once it has navigated (or been refused). */
async function framed(site: { origin: string }, path: string): Promise<{ page: Page; frame: Frame; errors: string[] }> {
  const { page, errors } = await newPage(browser, 'desktop');
  await page.goto(`${site.origin}/?src=${encodeURIComponent(`${stage.httpUrl}${path}`)}`);
  const frame = await (await page.waitForSelector('#f')).contentFrame();
  if (!frame) throw new Error('no frame');
  return { page, frame, errors };
}

/** Whether the frame holds the page (its shell's #app) or the browser's refusal (an error page with no document of ours). */
async function holdsPage(frame: Frame): Promise<boolean> {
  await frame.waitForLoadState('load');
  return frame.evaluate(() => document.getElementById('app') !== null).catch(() => false);
}

describe('embed', () => {
  it('is framed by a listed site on another origin and shows the event live, newest first, with a link out to the full page', async () => {
    const { page, frame, errors } = await framed(allowed, `/embed/${event.eventId}`);
    await frame.locator('[data-testid=status].open').waitFor();
    expect(await frame.getByTestId('title').textContent()).toBe('Longxi Sweetfish Festival — opening');
    expect(await frame.locator('[data-testid=entry] [data-testid=text]').allTextContents()).toEqual([
      'Ribbon cut!',
      'Gates open.',
    ]);
    // Live: a new update arrives in the frame without a reload.
    await publish('Dragon boats are on the water.');
    await expect
      .poll(() => frame.locator('[data-testid=entry] [data-testid=text]').first().textContent())
      .toBe('Dragon boats are on the water.');
    const out = frame.getByTestId('open-full').first();
    expect(await out.getAttribute('target')).toBe('_top');
    expect(new URL(await out.evaluate((a) => (a as HTMLAnchorElement).href)).pathname).toBe(`/live/${event.eventId}`);
    await screenshot(page, 'embed-framed');
    // The link replaces the portal's page with the full live page (not a live page inside the frame).
    await out.click();
    await page.waitForURL(`${stage.httpUrl}/live/${event.eventId}`);
    await page.locator('[data-testid=status].open').waitFor();
    expect(errors).toEqual([]);
  });

  it('the live page (and the console, the replay, the organiser) refuse that same site', async () => {
    for (const path of [
      `/live/${event.eventId}`,
      `/report/${event.eventId}`,
      `/replay/${event.eventId}`,
      '/organiser',
    ]) {
      const { page, frame } = await framed(allowed, path);
      expect(await holdsPage(frame), path).toBe(false);
      await page.context().close();
    }
  });

  it('a site the setting does not name cannot frame the embed', async () => {
    const { frame } = await framed(stranger, `/embed/${event.eventId}`);
    expect(await holdsPage(frame)).toBe(false);
  });

  it('standing alone (no frame) it is the same compact view, at phone width', async () => {
    const { page, errors } = await newPage(browser, 'phone');
    await page.goto(`${stage.httpUrl}/embed/${event.eventId}`);
    await page.locator('[data-testid=status].open').waitFor();
    await expect.poll(() => page.getByTestId('entry').count()).toBe(3);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await screenshot(page, 'embed-phone');
    expect(errors).toEqual([]);
  });
});
