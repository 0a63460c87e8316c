// Photos end to end in headless Chromium against the local stage and its real S3 stand-in: the
// console shrinks, uploads (presigned POST, progress) and publishes; a viewer in another browser
// context sees them loaded; a photo queued offline is uploaded and published once, also when the
// console is reloaded half way through its photos.
import type { Browser, Page, Route } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import type { Stage } from '../../local/stage';
import type { Entry } from '../../shared/domain/protocol';
import { closeContexts, launchBrowser, newPage, screenshot } from '../support/browser';
import { png } from '../support/images';
import { type CreatedEvent, createEvent, reporterUrl, testStage } from '../support/stage';
import { connect } from '../support/ws-client';

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

const file = (name: string, width: number, height: number) => ({
  name,
  mimeType: 'image/png',
  buffer: png(width, height),
});

async function timeline(eventId: string): Promise<Entry[]> {
  return ((await (await fetch(`${stage.httpUrl}/events/${eventId}/timeline`)).json()) as { items: Entry[] }).items;
}

async function openConsole(event: CreatedEvent) {
  const opened = await newPage(browser, 'phone');
  await opened.page.goto(`${stage.httpUrl}/report/${event.eventId}#token=${event.operatorToken}`);
  await opened.page.locator('[data-testid=status].open').waitFor();
  return opened;
}

const outbox = (page: Page) =>
  page.$$eval('[data-testid=outbox-item]', (els) =>
    els.map((el) => ({ state: (el as HTMLElement).dataset.state, clientId: (el as HTMLElement).dataset.clientId })),
  );

/** Photo uploads storage accepted, as the page saw them (it survives reloads of the page). */
function countUploads(page: Page): { readonly n: number } {
  const seen = { n: 0 };
  page.on('response', (res) => {
    if (res.request().method() === 'POST' && res.url().startsWith(stage.s3.endpoint) && res.ok()) seen.n++;
  });
  return seen;
}

/** What each photo of the live page shows: loaded size, or why not. */
const loaded = (page: Page) =>
  page.locator('[data-testid=entry] [data-testid=photo]').evaluateAll((els) =>
    els.map((el) => {
      const img = el as HTMLImageElement;
      return img.complete && img.naturalWidth > 0 ? `${img.naturalWidth}x${img.naturalHeight}` : 'not loaded';
    }),
  );

// Each test is a whole user story (two pages, shrinking, uploads, a reload): 17–24 s alone, over
// 30 s with other browser files on the 2 shared cores. The cap is for hangs, not speed.
describe('photos', { timeout: 120_000 }, () => {
  it('a photo attached in the console appears, loaded, on the live page of another browser; an edit re-renders it', async () => {
    const event = await createEvent(stage);
    // Its own browser context: no storage, cache or connection shared with the console.
    const live = await newPage(browser, 'phone');
    await live.page.goto(`${stage.httpUrl}/live/${event.eventId}`);
    await live.page.locator('[data-testid=status].open').waitFor();

    const { page, errors } = await openConsole(event);
    const uploads = countUploads(page);
    // A camera-sized landscape photo (shrunk to 1,600 px) and a small portrait one (kept as it is).
    await page.getByTestId('photo-input').setInputFiles([file('stage.png', 2400, 1800), file('crowd.png', 900, 1200)]);
    await expect.poll(() => page.getByTestId('draft-photo').count()).toBe(2);
    await page.getByTestId('photo-alt').first().fill('The stage by the river');
    await page.getByTestId('compose').fill('Opening: the stage');
    await screenshot(page, 'report-photos-attached');
    await page.getByTestId('publish').click();
    await expect.poll(async () => (await outbox(page)).map((i) => i.state), { timeout: 20_000 }).toEqual(['acked']);
    expect(uploads.n).toBe(2);

    const [entry] = await timeline(event.eventId);
    expect(entry?.text).toBe('Opening: the stage');
    expect(entry?.images.map((i) => [i.width, i.height, i.alt])).toEqual([
      [1600, 1200, 'The stage by the river'],
      [900, 1200, undefined],
    ]);
    // Shrunk on the device and encoded as WebP (Chromium encodes it).
    const stored = await fetch(new URL(entry!.images[0]!.url, stage.httpUrl));
    expect(stored.headers.get('content-type')).toBe('image/webp');

    await expect.poll(() => loaded(live.page)).toEqual(['1600x1200', '900x1200']);
    const photos = await live.page.locator('[data-testid=photo]').evaluateAll((els) =>
      els.map((el) => {
        const img = el as HTMLImageElement;
        return {
          w: img.getAttribute('width'),
          h: img.getAttribute('height'),
          alt: img.alt,
          loading: img.loading,
          decoding: img.decoding,
          link: (img.closest('a') as HTMLAnchorElement).href === img.src,
        };
      }),
    );
    expect(photos).toEqual([
      { w: '1600', h: '1200', alt: 'The stage by the river', loading: 'lazy', decoding: 'async', link: true },
      { w: '900', h: '1200', alt: 'Photo 2 of 2', loading: 'lazy', decoding: 'async', link: true },
    ]);
    // Two photos: side by side in square tiles, inside a phone's width.
    for (const tile of await live.page.locator('[data-testid=photo]').all()) {
      const box = (await tile.boundingBox())!;
      expect(box.width).toBeLessThan(195);
      expect(Math.abs(box.width - box.height)).toBeLessThan(1);
    }
    await screenshot(live.page, 'live-photos');
    await screenshot(page, 'report-photos');

    // A correction that drops a photo re-renders the card on the live page.
    const reporter = await connect(reporterUrl(stage, event));
    reporter.send({
      action: 'edit',
      clientId: 'e1',
      seq: 1,
      text: 'Opening: the stage (one photo)',
      images: [{ imageId: imageIdOf(entry!.images[1]!.url) }],
    });
    await reporter.next((f) => f.type === 'ack' && f.clientId === 'e1');
    await reporter.close();
    await expect.poll(() => loaded(live.page)).toEqual(['900x1200']);
    expect(await live.page.locator('[data-testid=photo]').getAttribute('alt')).toBe('Photo 1 of 1');
    // One photo: the card's width, its own proportions (3:4).
    const box = (await live.page.locator('[data-testid=photo]').boundingBox())!;
    expect(box.width).toBeLessThanOrEqual(390);
    expect(Math.abs(box.width / box.height - 3 / 4)).toBeLessThan(0.02);
    await screenshot(live.page, 'live-photo-edited');
    expect(errors).toEqual([]);
    expect(live.errors).toEqual([]);
  });

  it('a photo-only update queued offline is uploaded and published exactly once after reconnecting', async () => {
    const event = await createEvent(stage);
    const { page, errors } = await openConsole(event);
    const uploads = countUploads(page);
    await page.context().setOffline(true);
    await page.evaluate(() =>
      (window as unknown as { livecast: { connection: { drop(): void } } }).livecast.connection.drop(),
    );
    await page.getByTestId('photo-input').setInputFiles([file('boats.png', 1200, 800)]);
    await expect.poll(() => page.getByTestId('draft-photo').count()).toBe(1);
    await page.getByTestId('publish').click(); // no text: a photo-only update
    await expect.poll(async () => (await outbox(page))[0]?.state).toBe('waiting'); // its upload found no network
    await screenshot(page, 'report-photo-offline');

    await page.context().setOffline(false);
    await expect.poll(async () => (await outbox(page)).map((i) => i.state), { timeout: 30_000 }).toEqual(['acked']);
    const entries = await timeline(event.eventId);
    expect(entries.map((e) => [e.seq, e.text, e.images.length])).toEqual([[1, '', 1]]);
    expect(uploads.n).toBe(1);
    expect(errors.filter((e) => !/ERR_INTERNET_DISCONNECTED|WebSocket/.test(e))).toEqual([]);
  });

  it('across a reload half way through its photos: the stored one is not uploaded again, the update is published once with the same clientId', async () => {
    const event = await createEvent(stage);
    const { page } = await openConsole(event);
    const uploads = countUploads(page);
    await page.context().setOffline(true);
    await page.evaluate(() =>
      (window as unknown as { livecast: { connection: { stop(): void } } }).livecast.connection.stop(),
    );
    await page.getByTestId('photo-input').setInputFiles([file('one.png', 1000, 750), file('two.png', 750, 1000)]);
    await expect.poll(() => page.getByTestId('draft-photo').count()).toBe(2);
    await page.getByTestId('compose').fill('Two photos, one reload');
    await page.getByTestId('publish').click();
    const [queued] = await outbox(page);

    // Back online, the first photo goes through; the second one's presign is held, then the tab reloads.
    const held: Route[] = [];
    let presigns = 0;
    await page.route(`${stage.httpUrl}/events/${event.eventId}/images`, (route) => {
      if (++presigns === 1) void route.continue();
      else held.push(route);
    });
    await page.context().setOffline(false);
    await page.evaluate(() => window.dispatchEvent(new Event('online')));
    await expect.poll(() => held.length, { timeout: 30_000 }).toBe(1);
    expect(uploads.n).toBe(1);
    await page.unroute(`${stage.httpUrl}/events/${event.eventId}/images`);
    await page.reload();
    await held[0]!.abort().catch(() => undefined);

    await expect
      .poll(async () => await outbox(page), { timeout: 30_000 })
      .toEqual([{ state: 'acked', clientId: queued!.clientId }]);
    expect(uploads.n).toBe(2); // the first photo was not sent again
    const entries = await timeline(event.eventId);
    expect(entries.map((e) => [e.text, e.images.map((i) => `${i.width}x${i.height}`)])).toEqual([
      ['Two photos, one reload', ['1000x750', '750x1000']],
    ]);
    // The photos' bytes left the device once published.
    await expect
      .poll(() =>
        page.evaluate(
          () =>
            new Promise<number>((resolve) => {
              const req = indexedDB.open(`livecast.photos.${location.pathname.split('/')[2]}`);
              req.onsuccess = () => {
                const count = req.result.transaction('photos').objectStore('photos').count();
                count.onsuccess = () => resolve(count.result);
              };
            }),
        ),
      )
      .toBe(0);
  });
});

/** The imageId in a photo's url (…/images/{eventId}/{imageId}). */
function imageIdOf(url: string): string {
  return url.split('/').at(-1)!.split('?')[0]!;
}
