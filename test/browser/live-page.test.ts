// The live page in headless Chromium against the local stage: real sockets, real delivery.
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import type { Stage } from '../../local/stage';
import type { DynamoRepostStore } from '../../shared/adapters/dynamo-repost-store';
import { closeContexts, launchBrowser, newPage, screenshot } from '../support/browser';
import { type CreatedEvent, createEvent, testStage } from '../support/stage';
import { repostStore, repostStorm } from '../support/storm';
import { type Reporter, reporterFor } from '../support/reporter';

let stage: Stage;
let browser: Browser;
let store: DynamoRepostStore;

beforeAll(async () => {
  [stage, browser] = await Promise.all([testStage({ webDir: inject('webDir') }), launchBrowser()]);
  store = repostStore(stage);
}, 120_000);

afterEach(() => closeContexts(browser));

afterAll(async () => {
  await browser?.close();
  await stage?.stop();
});

const newReporter = (event: CreatedEvent) => reporterFor(stage, event, { prefix: 't' });

/** The cards as the reader sees them, top to bottom. */
const cards = (page: Page) =>
  page.$$eval('[data-testid=entry]', (els) =>
    els.map((el) => ({
      seq: Number((el as HTMLElement).dataset.seq),
      text: el.querySelector('[data-testid=text]')?.textContent ?? '',
    })),
  );

async function openLive(event: CreatedEvent) {
  const { page, errors } = await newPage(browser, 'phone');
  await page.goto(`${stage.httpUrl}/live/${event.eventId}`);
  await page.getByTestId('status').filter({ hasText: 'Live' }).waitFor();
  return { page, errors };
}

describe('live page', () => {
  let event: CreatedEvent;
  let reporter: Reporter;

  beforeAll(async () => {
    event = await createEvent(stage, '香鱼节开幕式 · Sweetfish Festival opening');
    reporter = await newReporter(event);
  });
  afterAll(async () => reporter.socket.close());

  it('shows updates live, newest first, as text (markup in an update never runs), corrections in place', async () => {
    await reporter.publish('仪式开始：镇长致辞。The ceremony begins.');
    const { page, errors } = await openLive(event);
    await expect.poll(() => cards(page)).toEqual([{ seq: 1, text: '仪式开始：镇长致辞。The ceremony begins.' }]);

    const markup = '<img src=x onerror="window.__pwned=1"><b>bold?</b>';
    await reporter.publish('剪彩！The ribbon is cut', 'key');
    await reporter.publish(markup);
    await expect
      .poll(() => cards(page))
      .toEqual([
        { seq: 3, text: markup },
        { seq: 2, text: '剪彩！The ribbon is cut' },
        { seq: 1, text: '仪式开始：镇长致辞。The ceremony begins.' },
      ]);
    expect(await page.$$('[data-testid=entries] img, [data-testid=entries] b')).toHaveLength(0);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(await page.locator('[data-seq="2"] .badge.key').count()).toBe(1);

    // A correction changes the card in place; a deletion takes it away; a pin puts it on top.
    await reporter.edit(1, '仪式开始：县长致辞。The ceremony begins (corrected).');
    await expect
      .poll(() => page.locator('[data-seq="1"] [data-testid=text]').textContent())
      .toBe('仪式开始：县长致辞。The ceremony begins (corrected).');
    expect(await page.locator('[data-seq="1"] .badge.corrected').count()).toBe(1);
    await reporter.remove(3);
    await reporter.pin(1);
    await expect.poll(async () => (await cards(page)).map((c) => c.seq)).toEqual([1, 2]);
    expect(await page.locator('[data-seq="1"] .badge.pin').count()).toBe(1);

    // Key moments only.
    await page.getByTestId('filter-key').click();
    expect((await cards(page)).map((c) => c.seq)).toEqual([2]);
    await page.getByText('All updates').click();
    await screenshot(page, 'live-phone');
    expect(errors).toEqual([]);
  });

  it('loses nothing and shows nothing twice across a dropped connection, corrections made meanwhile included', async () => {
    const { page, errors } = await openLive(event);
    // "Live" shows when the socket opens; the catch-up's entries follow.
    await expect.poll(async () => (await cards(page)).length).toBe(2);
    // The network goes away: the socket drops and reconnecting fails until it is back.
    await page.context().setOffline(true);
    await page.evaluate(() =>
      (window as unknown as { livecast: { connection: { drop(): void } } }).livecast.connection.drop(),
    );
    await page
      .getByTestId('status')
      .filter({ hasText: /Offline|Reconnecting|Connecting/ })
      .waitFor();
    await reporter.publish('龙舟出发 — the dragon boats are off');
    await reporter.publish('第一条香鱼！The first sweetfish is caught', 'key');
    await reporter.edit(2, '剪彩！The ribbon is cut by the mayor');
    await page.context().setOffline(false);
    await page.getByTestId('status').filter({ hasText: 'Live' }).waitFor({ timeout: 20_000 });
    await expect.poll(async () => (await cards(page)).map((c) => c.seq)).toEqual([1, 5, 4, 2]);
    const after = await cards(page);
    expect(after.find((c) => c.seq === 2)?.text).toBe('剪彩！The ribbon is cut by the mayor');
    expect(new Set(after.map((c) => c.seq)).size).toBe(after.length);
    expect(errors.filter((e) => !/ERR_INTERNET_DISCONNECTED|WebSocket/.test(e))).toEqual([]);
  });

  it('reads the history over HTTP and asks the socket only for what came after it', async () => {
    const parade = await createEvent(stage, 'Lantern parade');
    const rep = await newReporter(parade);
    for (let i = 1; i <= 3; i++) await rep.publish(`Lantern ${i}`);
    await rep.edit(2, 'Lantern 2, the tallest');
    const { page, errors } = await newPage(browser, 'phone');
    const timelineReads: string[] = [];
    const syncs: Record<string, unknown>[] = [];
    page.on('request', (req) => {
      const url = new URL(req.url());
      if (url.pathname.endsWith('/timeline')) timelineReads.push(url.search);
    });
    page.on('websocket', (ws) =>
      ws.on('framesent', ({ payload }) => {
        const frame = JSON.parse(String(payload)) as Record<string, unknown>;
        if (frame.action === 'sync') syncs.push(frame);
      }),
    );
    await page.goto(`${stage.httpUrl}/live/${parade.eventId}`);
    await page.getByTestId('status').filter({ hasText: 'Live' }).waitFor();
    await expect
      .poll(() => cards(page))
      .toEqual([
        { seq: 3, text: 'Lantern 3' },
        { seq: 2, text: 'Lantern 2, the tallest' },
        { seq: 1, text: 'Lantern 1' },
      ]);
    expect(timelineReads).toEqual(['?after=0&limit=500']);
    // The socket's first sync starts after the three entries read, from the change they reflect.
    expect(syncs[0]).toEqual({ action: 'sync', since: 3, sinceChange: expect.any(Number), limit: 100 });
    // And the page is live: a new update arrives over the socket.
    await rep.publish('Lantern 4');
    await expect.poll(async () => (await cards(page)).map((c) => c.seq)).toEqual([4, 3, 2, 1]);
    expect(syncs).toHaveLength(1);
    expect(errors).toEqual([]);
    await rep.socket.close();
  });

  it('counts unseen updates in a bar and the title while the reader is scrolled away', async () => {
    const other = await createEvent(stage, 'Dragon boat heats');
    const rep = await newReporter(other);
    for (let i = 1; i <= 14; i++)
      await rep.publish(`Heat ${i}: boats on the water, crowd cheering on both banks of the river.`);
    const { page } = await openLive(other);
    await expect.poll(async () => (await cards(page)).length).toBe(14);
    await page.evaluate(() => window.scrollTo(0, 900));
    await expect.poll(() => page.evaluate(() => window.scrollY)).toBeGreaterThan(500);
    await rep.publish('Heat 15');
    await rep.publish('Heat 16');
    const bar = page.getByTestId('new-bar');
    await expect.poll(() => bar.textContent()).toBe('↑ 2 new updates');
    expect(await page.title()).toBe('(2) Dragon boat heats');
    await screenshot(page, 'live-new-updates-bar', { viewport: true });
    await bar.click();
    await expect.poll(() => bar.isHidden()).toBe(true);
    expect(await page.title()).toBe('Dragon boat heats');
    await rep.socket.close();
  });

  it('reposts once, shows live counts and viewers, and announces a spike', async () => {
    const storm = await createEvent(stage, 'Opening ceremony — the moment');
    const rep = await newReporter(storm);
    await rep.publish('The ribbon is cut — 剪彩！', 'key');
    await rep.publish('Fireworks over the river');
    const { page, errors } = await openLive(storm);
    const second = await openLive(storm);
    await expect.poll(() => page.getByTestId('viewers').textContent(), { timeout: 10_000 }).toBe('2 watching');

    const button = page.locator('[data-seq="1"] [data-testid=repost]');
    await button.click();
    await expect.poll(() => button.getAttribute('aria-pressed')).toBe('true');
    // In the same render as "Reposted": the count holds this repost, not 0 until the next live count.
    expect(await page.locator('[data-seq="1"] [data-testid=repost-count]').textContent()).toBe('1');
    // The other page learns the count from stats frames.
    await expect
      .poll(() => second.page.locator('[data-seq="1"] [data-testid=repost-count]').textContent(), { timeout: 10_000 })
      .toBe('1');
    expect(await button.isDisabled()).toBe(true);

    await repostStorm(store, storm.eventId, 1, 400);
    const notice = page.getByTestId('spike');
    await notice.waitFor({ timeout: 15_000 });
    expect(await notice.textContent()).toMatch(/Repost spike!.*reposts a second on “The ribbon is cut — 剪彩！”/);
    await expect
      .poll(() => page.locator('[data-seq="1"] [data-testid=repost-count]').textContent(), { timeout: 15_000 })
      .toBe('401');
    await screenshot(page, 'live-spike');
    // A page opened now shows the counts so far (its sync carries them).
    const late = await openLive(storm);
    await expect.poll(() => late.page.locator('[data-seq="1"] [data-testid=repost-count]').textContent()).toBe('401');
    await late.page.context().close();
    expect(errors).toEqual([]);
    await rep.socket.close();
  });

  it('says clearly when the event does not exist', async () => {
    const { page } = await newPage(browser, 'phone');
    await page.goto(`${stage.httpUrl}/live/no-such-event`);
    await expect
      .poll(() => page.getByTestId('load-error').textContent())
      .toBe('There is no event “no-such-event”. Check the link.');
  });
});
