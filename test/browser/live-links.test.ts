// The live page's issue-15 parts in headless Chromium against the local stage: links to one entry
// (#entry-{seq}, on load, after a hashchange, and for an entry that arrives later), sharing, the
// correction trail read on request, the reading order, and the JSON-LD and head tags kept current.
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import type { Stage } from '../../local/stage';
import { closeContexts, launchBrowser, newPage, screenshot } from '../support/browser';
import { type CreatedEvent, createEvent, testStage } from '../support/stage';
import { reporterFor } from '../support/reporter';

let stage: Stage;
let browser: Browser;

beforeAll(async () => {
  [stage, browser] = await Promise.all([testStage({ webDir: inject('webDir') }), launchBrowser()]);
}, 120_000);

afterEach(() => closeContexts(browser));

afterAll(async () => {
  await browser?.close();
  await stage?.stop();
});

const newReporter = (event: CreatedEvent) => reporterFor(stage, event, { prefix: 'k' });

const LONG = 'boats on the water, the crowd cheering on both banks of the river as the drums keep time.';

/** An event with `n` updates long enough that 14 of them are several phone screens. */
async function longEvent(title: string, n = 14) {
  const event = await createEvent(stage, title);
  const rep = await newReporter(event);
  for (let i = 1; i <= n; i++) await rep.publish(`Heat ${i}: ${LONG}`);
  return { event, rep };
}

const seqs = (page: Page) =>
  page.$$eval('[data-testid=entry]', (els) => els.map((el) => Number((el as HTMLElement).dataset.seq)));

/** Where a card is on screen: wholly below the sticky header and starting inside the viewport. */
const placement = (page: Page, seq: number) =>
  page.evaluate((s) => {
    const card = document.querySelector(`[data-seq="${s}"]`);
    const header = document.querySelector('header.topbar');
    if (!card || !header) return undefined;
    const top = card.getBoundingClientRect().top;
    return {
      belowHeader: top >= header.getBoundingClientRect().bottom - 1,
      inView: top < window.innerHeight,
      scrollY: window.scrollY,
    };
  }, seq);

/** The linked card: marked, named in words, current, focused. */
const linked = (page: Page) =>
  page.evaluate(() => {
    const marked = [...document.querySelectorAll('[data-testid=entry].linked')].map((el) =>
      Number((el as HTMLElement).dataset.seq),
    );
    const el = document.querySelector('[data-testid=entry].linked');
    return {
      marked,
      current: el?.getAttribute('aria-current') ?? null,
      badge: el?.querySelector('[data-testid=linked]')?.textContent ?? null,
      focused: !!el && document.activeElement === el,
    };
  });

async function open(event: CreatedEvent, hash = '', { size = 'phone' }: { size?: 'phone' | 'desktop' } = {}) {
  const opened = await newPage(browser, size);
  await opened.page.goto(`${stage.httpUrl}/live/${event.eventId}${hash}`);
  await opened.page.locator('[data-testid=status].open').waitFor();
  return opened;
}

describe('links to one entry', () => {
  it('opens scrolled to the linked entry, highlighted and focused; a hashchange (or its time link) moves the highlight', async () => {
    const { event, rep } = await longEvent('Dragon boat heats — links');
    const { page, errors } = await open(event, '#entry-3');
    await expect
      .poll(() => linked(page))
      .toEqual({ marked: [3], current: 'location', badge: 'Linked update', focused: true });
    // Newest first, #3 is near the bottom: the page scrolled down to it, under the header.
    expect(await placement(page, 3)).toEqual({ belowHeader: true, inView: true, scrollY: expect.any(Number) });
    expect((await placement(page, 3))?.scrollY).toBeGreaterThan(500);
    await screenshot(page, 'live-linked-entry', { viewport: true });

    await page.evaluate(() => (location.hash = '#entry-12'));
    await expect
      .poll(() => linked(page))
      .toEqual({ marked: [12], current: 'location', badge: 'Linked update', focused: true });
    expect(await placement(page, 12)).toMatchObject({ belowHeader: true, inView: true });
    // The entry's time is its link.
    await page.locator('[data-seq="7"] a.permalink').click();
    await expect.poll(() => linked(page)).toMatchObject({ marked: [7], focused: true });
    expect(page.url()).toBe(`${stage.httpUrl}/live/${event.eventId}#entry-7`);
    expect(errors).toEqual([]);
    await rep.socket.close();
  });

  it('brings in an entry that arrives after the page loaded: the history cut short, or not yet published', async () => {
    const { event, rep } = await longEvent('Dragon boat heats — late links');
    // The history read fails: every entry comes later, over the socket's catch-up.
    const cut = await newPage(browser, 'phone');
    await cut.page.route('**/timeline?**', (route) => route.abort());
    await cut.page.goto(`${stage.httpUrl}/live/${event.eventId}#entry-2`);
    await expect
      .poll(() => linked(cut.page))
      .toEqual({ marked: [2], current: 'location', badge: 'Linked update', focused: true });
    await expect.poll(async () => (await seqs(cut.page)).length).toBe(14);
    // Entries the catch-up brought after it (newer, so above it) did not push it out of view.
    expect(await placement(cut.page, 2)).toMatchObject({ belowHeader: true, inView: true });
    expect(cut.errors.filter((e) => !/Failed to load resource/.test(e))).toEqual([]);
    await cut.page.context().close();

    // Not yet published, oldest first (so the entry lands at the end, far below the reader).
    const early = await newPage(browser, 'phone');
    await early.page.addInitScript(() => localStorage.setItem('livecast.order', 'oldest'));
    await early.page.goto(`${stage.httpUrl}/live/${event.eventId}#entry-16`);
    await early.page.locator('[data-testid=status].open').waitFor();
    await expect.poll(async () => (await seqs(early.page)).length).toBe(14);
    expect((await linked(early.page)).marked).toEqual([]);
    expect(await early.page.evaluate(() => window.scrollY)).toBe(0);
    await rep.publish('Heat 15');
    await rep.publish('Heat 16: the final');
    await expect
      .poll(() => linked(early.page))
      .toEqual({ marked: [16], current: 'location', badge: 'Linked update', focused: true });
    await expect.poll(() => placement(early.page, 16)).toMatchObject({ belowHeader: true, inView: true });
    expect(early.errors).toEqual([]);
    await rep.socket.close();
  });

  it('a key-moment filter does not hide the linked entry', async () => {
    const event = await createEvent(stage, 'Filter and link');
    const rep = await newReporter(event);
    await rep.publish('Key one', 'key');
    await rep.publish('Plain two');
    const { page } = await open(event);
    await page.getByTestId('filter-key').click();
    expect(await seqs(page)).toEqual([1]);
    await page.evaluate(() => (location.hash = '#entry-2'));
    await expect.poll(() => linked(page)).toMatchObject({ marked: [2] });
    expect(await page.getByTestId('filter-key').getAttribute('aria-pressed')).toBe('false');
    await rep.socket.close();
  });
});

describe('sharing an entry', () => {
  it('copies the canonical link with a confirmation where there is no share sheet, and the link opens at the entry', async () => {
    const event = await createEvent(stage, 'Share by copy');
    const rep = await newReporter(event);
    for (let i = 1; i <= 3; i++) await rep.publish(`Lantern ${i}`);
    const { page, errors } = await open(event);
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: stage.httpUrl });
    // Chromium on Linux has no share sheet: this is the clipboard path a desktop reader meets.
    expect(await page.evaluate(() => typeof navigator.share)).toBe('undefined');
    expect(await page.locator('[data-seq="2"] [data-testid=share]').getAttribute('aria-label')).toBe('Share update #2');
    await page.locator('[data-seq="2"] [data-testid=share]').click();
    await expect.poll(() => page.getByTestId('toast').textContent()).toBe('Link copied');
    const link = `${stage.httpUrl}/live/${event.eventId}#entry-2`;
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(link);
    await screenshot(page, 'live-share-copied', { viewport: true });
    await page.goto('about:blank');
    await page.goto(link);
    await expect.poll(() => linked(page)).toMatchObject({ marked: [2], focused: true });
    expect(errors).toEqual([]);
    await rep.socket.close();
  });

  it('hands the link to the share sheet where the browser has one (and copies nothing)', async () => {
    const event = await createEvent(stage, 'Share by sheet');
    const rep = await newReporter(event);
    await rep.publish('Fireworks');
    const { page, errors } = await newPage(browser, 'phone');
    // The phone's share sheet belongs to the operating system; the page's side of it is what is checked.
    await page.addInitScript(() => {
      const shared: ShareData[] = [];
      (window as unknown as { shared: ShareData[] }).shared = shared;
      Object.defineProperty(navigator, 'share', { value: async (d: ShareData) => void shared.push(d) });
    });
    await page.goto(`${stage.httpUrl}/live/${event.eventId}`);
    await page.locator('[data-seq="1"] [data-testid=share]').click();
    await expect
      .poll(() => page.evaluate(() => (window as unknown as { shared: ShareData[] }).shared))
      .toEqual([{ url: `${stage.httpUrl}/live/${event.eventId}#entry-1`, title: 'Share by sheet' }]);
    expect(await page.getByTestId('toast').isHidden()).toBe(true);
    expect(errors).toEqual([]);
    await rep.socket.close();
  });
});

describe('correction trail', () => {
  it('shows a corrected entry’s earlier versions with their times, read only when asked; not for pins only; kept current', async () => {
    const event = await createEvent(stage, 'Corrections');
    const rep = await newReporter(event);
    await rep.publish('The mayor opens the festival');
    await rep.publish('Only pinned');
    await rep.publish('Posted then deleted');
    await rep.edit(1, 'The county head opens the festival');
    await rep.pin(2);
    await rep.edit(3, 'Edited then deleted');
    await rep.remove(3);
    await rep.pin(1);
    await rep.edit(1, 'The county head, Ms Li, opens the festival');
    await rep.publish('Never changed');
    const { page, errors } = await newPage(browser, 'phone');
    const revisionReads: string[] = [];
    page.on('request', (req) => {
      const url = new URL(req.url());
      if (url.pathname.endsWith('/revisions')) revisionReads.push(url.search);
    });
    await page.goto(`${stage.httpUrl}/live/${event.eventId}`);
    await page.locator('[data-testid=status].open').waitFor();
    await expect.poll(() => seqs(page)).toEqual([2, 1, 4]);
    // Offered on the corrected entry only: not on the pinned-only one, nor on one never changed (the deleted one is not shown at all).
    expect(await page.locator('[data-testid=versions]').count()).toBe(1);
    expect(await page.locator('[data-seq="1"] [data-testid=versions]').count()).toBe(1);
    expect(revisionReads).toEqual([]);

    const button = page.locator('[data-seq="1"] [data-testid=versions]');
    await button.click();
    expect(await button.getAttribute('aria-expanded')).toBe('true');
    const versions = () =>
      page.$$eval('[data-seq="1"] [data-testid=version]', (els) =>
        els.map((el) => ({
          text: el.querySelector('.text')?.textContent,
          time: el.querySelector('time')?.textContent,
        })),
      );
    await expect
      .poll(() => versions())
      .toEqual([
        { text: 'The county head opens the festival', time: expect.stringMatching(/^written \d\d:\d\d:\d\d$/) },
        { text: 'The mayor opens the festival', time: expect.stringMatching(/^written \d\d:\d\d:\d\d$/) },
      ]);
    expect(revisionReads).toEqual(['?after=0&limit=500']);
    await screenshot(page, 'live-correction-trail', { viewport: true });

    // Corrected again while open: the trail is read again and holds the wording just replaced.
    await rep.edit(1, 'The county head, Ms Li, opens the festival at 10:00');
    await expect
      .poll(async () => (await versions()).map((v) => v.text))
      .toEqual([
        'The county head, Ms Li, opens the festival',
        'The county head opens the festival',
        'The mayor opens the festival',
      ]);
    await button.click();
    await expect.poll(() => page.locator('[data-testid=trail]').count()).toBe(0);
    expect(await page.locator('[data-seq="1"] [data-testid=versions]').getAttribute('aria-expanded')).toBe('false');

    // Deleted while a reader looks: gone, trail and all.
    await page.locator('[data-seq="1"] [data-testid=versions]').click();
    await page.locator('[data-seq="1"] [data-testid=version]').first().waitFor();
    await rep.remove(1);
    await expect.poll(() => seqs(page)).toEqual([2, 4]);
    expect(await page.locator('[data-testid=trail]').count()).toBe(0);
    expect(errors).toEqual([]);
    await rep.socket.close();
  });
});

describe('reading order', () => {
  it('newest first by default; oldest first sticks across a reload and applies to live arrivals', async () => {
    const event = await createEvent(stage, 'Order');
    const rep = await newReporter(event);
    for (let i = 1; i <= 3; i++) await rep.publish(`Step ${i}`);
    await rep.pin(2);
    const { page, errors } = await open(event);
    await expect.poll(() => seqs(page)).toEqual([2, 3, 1]);
    expect(await page.getByTestId('order-newest').getAttribute('aria-pressed')).toBe('true');
    await page.getByTestId('order-oldest').click();
    expect(await seqs(page)).toEqual([2, 1, 3]);
    expect(await page.evaluate(() => localStorage.getItem('livecast.order'))).toBe('oldest');
    await page.reload();
    await page.locator('[data-testid=status].open').waitFor();
    await expect.poll(() => seqs(page)).toEqual([2, 1, 3]);
    expect(await page.getByTestId('order-oldest').getAttribute('aria-pressed')).toBe('true');
    await rep.publish('Step 4');
    await expect.poll(() => seqs(page)).toEqual([2, 1, 3, 4]);
    await page.getByTestId('order-newest').click();
    expect(await seqs(page)).toEqual([2, 4, 3, 1]);
    expect(await page.evaluate(() => localStorage.getItem('livecast.order'))).toBe('newest');
    expect(errors).toEqual([]);
    await rep.socket.close();
  });

  it('oldest first: away from the end, new updates are counted in a ↓ bar and the place is kept; at the end, the page follows them', async () => {
    const { event, rep } = await longEvent('Order — unseen');
    const { page, errors } = await newPage(browser, 'phone');
    await page.addInitScript(() => localStorage.setItem('livecast.order', 'oldest'));
    await page.goto(`${stage.httpUrl}/live/${event.eventId}`);
    await page.locator('[data-testid=status].open').waitFor();
    await expect.poll(async () => (await seqs(page)).length).toBe(14);
    // Reading from the start, far from the end where new ones land.
    await page.evaluate(() => window.scrollTo(0, 300));
    await expect.poll(() => page.evaluate(() => window.scrollY)).toBe(300);
    const firstVisible = await page.evaluate(
      () => document.querySelector('[data-seq="2"]')!.getBoundingClientRect().top,
    );
    await rep.publish('Heat 15');
    await rep.publish('Heat 16');
    const bar = page.getByTestId('new-bar');
    await expect.poll(() => bar.textContent()).toBe('↓ 2 new updates');
    expect(await page.title()).toBe('(2) Order — unseen');
    expect((await seqs(page)).slice(-2)).toEqual([15, 16]);
    // What they were reading did not move.
    expect(
      await page.evaluate(() => [
        window.scrollY,
        document.querySelector('[data-seq="2"]')!.getBoundingClientRect().top,
      ]),
    ).toEqual([300, firstVisible]);
    await screenshot(page, 'live-oldest-first-bar', { viewport: true });
    // The bar takes them to the first new one.
    await bar.click();
    await expect.poll(() => placement(page, 15)).toMatchObject({ belowHeader: true, inView: true });
    await expect.poll(() => bar.isHidden()).toBe(true);
    expect(await page.title()).toBe('Order — unseen');

    // At the end: the page follows a new update down, and nothing is counted.
    await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
    await rep.publish(`Heat 17: ${LONG}`);
    await expect.poll(() => placement(page, 17)).toMatchObject({ inView: true });
    await expect
      .poll(() => page.evaluate(() => document.documentElement.scrollHeight - window.innerHeight - window.scrollY))
      .toBeLessThan(2);
    expect(await bar.isHidden()).toBe(true);
    expect(errors).toEqual([]);
    await rep.socket.close();
  });
});

describe('search engines and sharing', () => {
  type Ld = {
    '@type': string;
    url: string;
    headline: string;
    liveBlogUpdate: { url: string; articleBody: string; '@type': string }[];
    coverageStartTime: string;
    coverageEndTime: string;
  };
  const head = (page: Page) =>
    page.evaluate(() => {
      const blocks = document.querySelectorAll('script[type="application/ld+json"]');
      const meta = (sel: string) => document.head.querySelector(sel)?.getAttribute('content') ?? null;
      return {
        blocks: blocks.length,
        ld: blocks[0] ? (JSON.parse(blocks[0].textContent ?? 'null') as unknown) : null,
        title: document.title,
        description: meta('meta[name=description]'),
        ogTitle: meta('meta[property="og:title"]'),
        ogDescription: meta('meta[property="og:description"]'),
        ogUrl: meta('meta[property="og:url"]'),
        canonical: document.head.querySelector('link[rel=canonical]')?.getAttribute('href') ?? null,
      };
    });

  it('carries LiveBlogPosting JSON-LD, description and Open Graph tags, kept current as entries arrive, change and go', async () => {
    const event = await createEvent(stage, '香鱼节 Sweetfish Festival');
    const rep = await newReporter(event);
    await rep.publish('Gates open');
    await rep.publish('</script><script>window.__pwned=1</script> ribbon cut', 'key');
    await rep.publish('Posted by mistake');
    await rep.remove(3);
    const { page, errors } = await open(event);
    const url = `${stage.httpUrl}/live/${event.eventId}`;
    await expect.poll(async () => ((await head(page)).ld as Ld | null)?.liveBlogUpdate.length).toBe(2);
    const first = await head(page);
    const ld = first.ld as Ld;
    expect(first).toMatchObject({
      blocks: 1,
      title: '香鱼节 Sweetfish Festival',
      ogTitle: '香鱼节 Sweetfish Festival',
      ogUrl: url,
      canonical: url,
    });
    expect(ld).toMatchObject({
      '@type': 'LiveBlogPosting',
      url,
      headline: '香鱼节 Sweetfish Festival',
      coverageStartTime: event.createdAt,
    });
    // Newest first, the deleted one left out; the markup is text in the data, and never ran.
    expect(ld.liveBlogUpdate.map((u) => [u['@type'], u.url, u.articleBody])).toEqual([
      ['BlogPosting', `${url}#entry-2`, '</script><script>window.__pwned=1</script> ribbon cut'],
      ['BlogPosting', `${url}#entry-1`, 'Gates open'],
    ]);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    // The description is the newest key moment, as the crawler snapshot's.
    expect(first.description).toBe('</script><script>window.__pwned=1</script> ribbon cut');
    expect(first.ogDescription).toBe(first.description);

    await rep.publish('Fireworks at nine', 'key');
    await rep.edit(1, 'Gates open at eight');
    await expect
      .poll(async () => ((await head(page)).ld as Ld).liveBlogUpdate.map((u) => u.articleBody))
      .toEqual(['Fireworks at nine', '</script><script>window.__pwned=1</script> ribbon cut', 'Gates open at eight']);
    expect((await head(page)).description).toBe('Fireworks at nine');
    await rep.remove(4);
    await expect.poll(async () => ((await head(page)).ld as Ld).liveBlogUpdate.length).toBe(2);
    expect((await head(page)).blocks).toBe(1);
    expect(errors).toEqual([]);
    await rep.socket.close();
  });
});
