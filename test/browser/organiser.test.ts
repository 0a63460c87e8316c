// The organiser's console, /organiser, in headless Chromium against a real local stage: signing in
// with the admin key (this tab's sessionStorage only), the list newest first with "load more",
// creating an event with a start time, its links (the reporter's with the token, shown once), the
// embed snippet copied, a token rotation that locks the old console out, signing out.
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import type { Stage } from '../../local/stage';
import { closeContexts, launchBrowser, newPage, screenshot } from '../support/browser';
import { ADMIN_KEY, type CreatedEvent, createEvent, testStage } from '../support/stage';

let stage: Stage;
let browser: Browser;
/** Made through the API before the console opens, oldest first. */
const made: CreatedEvent[] = [];

beforeAll(async () => {
  [stage, browser] = await Promise.all([testStage({ webDir: inject('webDir') }), launchBrowser()]);
  // More than a page of the console's list (20), one at a time so their order is their creation's.
  for (let i = 1; i <= 22; i++) made.push(await createEvent(stage, `Event ${String(i).padStart(2, '0')}`));
}, 120_000);

afterEach(() => closeContexts(browser));

afterAll(async () => {
  await browser?.close();
  await stage?.stop();
});

const titles = (page: Page) => page.getByTestId('event-title').allTextContents();
const storage = (page: Page) =>
  page.evaluate(() => ({
    session: { ...sessionStorage },
    local: Object.keys(localStorage).filter((k) => k !== 'livecast.lang'),
  }));

async function signIn(page: Page, key = ADMIN_KEY) {
  await page.goto(`${stage.httpUrl}/organiser`);
  await page.getByTestId('admin-key').fill(key);
  await page.getByTestId('sign-in').click();
}

/** The card of an event by its title. */
const card = (page: Page, title: string) =>
  page.getByTestId('event').filter({ has: page.getByTestId('event-title').getByText(title, { exact: true }) });

describe('organiser console', () => {
  it('refuses a wrong key with a clear message and keeps nothing', async () => {
    const { page, errors } = await newPage(browser, 'phone');
    await signIn(page, 'not-the-admin-key-at-all');
    await expect
      .poll(() => page.getByTestId('sign-in-error').textContent())
      .toBe('That admin key was refused. Check it and try again.');
    expect(await page.getByTestId('events').count()).toBe(0);
    expect(await storage(page)).toEqual({ session: {}, local: [] });
    // The browser logs the 401 itself; nothing else went wrong.
    expect(errors.filter((e) => !e.includes('401'))).toEqual([]);
  });

  it('signs in, lists newest first a page at a time, keeps the key in sessionStorage only, and signs out', async () => {
    const { page, errors } = await newPage(browser, 'desktop');
    await signIn(page);
    await page.getByTestId('event').first().waitFor();
    const expected = made.map((e) => e.title).reverse();
    expect(await titles(page)).toEqual(expected.slice(0, 20));
    await page.getByTestId('load-more').click();
    await expect.poll(() => titles(page)).toEqual(expected);
    expect(await page.getByTestId('load-more').isHidden()).toBe(true);
    // Events listed (not made here): no token to show, only the way to make one.
    await card(page, 'Event 01').locator('summary').click();
    expect(await card(page, 'Event 01').getByTestId('report-no-token').isVisible()).toBe(true);
    expect(await storage(page)).toEqual({ session: { 'livecast.adminKey': ADMIN_KEY }, local: [] });
    // A reload stays signed in (same tab); another tab (a new context) does not share it.
    await page.reload();
    await page.getByTestId('event').first().waitFor();
    const other = await newPage(browser, 'desktop');
    await other.page.goto(`${stage.httpUrl}/organiser`);
    await other.page.getByTestId('sign-in-form').waitFor();
    await other.page.context().close();
    await page.getByTestId('sign-out').click();
    await page.getByTestId('sign-in-form').waitFor();
    expect(await storage(page)).toEqual({ session: {}, local: [] });
    await page.reload();
    await page.getByTestId('sign-in-form').waitFor();
    expect(errors).toEqual([]);
  });

  it('creates an event with a start time, shows its links and the reporter token once; rotating locks the old console out', async () => {
    const { page, errors } = await newPage(browser, 'phone');
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: stage.httpUrl });
    await signIn(page);
    await page.getByTestId('event').first().waitFor();
    // No title: a clear message, nothing created.
    await page.getByTestId('create').click();
    expect(await page.getByTestId('create-error').textContent()).toBe('Give the event a title.');
    await page.getByTestId('new-title').fill('Lantern Festival "opening" <night>');
    await page.getByTestId('new-starts-at').fill('2026-02-12T19:30');
    await page.getByTestId('create').click();
    const created = card(page, 'Lantern Festival "opening" <night>');
    await created.getByTestId('report-once').waitFor();
    expect((await titles(page))[0]).toBe('Lantern Festival "opening" <night>');
    const eventId = (await created.getAttribute('data-event-id'))!;
    // What the server stored: the title and the start time, as the browser's local time says.
    const stored = (await (await fetch(`${stage.httpUrl}/events/${eventId}`)).json()) as {
      title: string;
      startsAt?: string;
    };
    const startsAt = await page.evaluate(() => new Date('2026-02-12T19:30').toISOString());
    expect(stored).toMatchObject({ title: 'Lantern Festival "opening" <night>', startsAt });
    // The links.
    expect(await created.getByTestId('link-live').getAttribute('href')).toBe(`${stage.httpUrl}/live/${eventId}`);
    expect(await created.getByTestId('link-replay').getAttribute('href')).toBe(`${stage.httpUrl}/replay/${eventId}`);
    const reportLink = (await created.getByTestId('link-report').getAttribute('href'))!;
    expect(reportLink).toMatch(new RegExp(`^${stage.httpUrl}/report/${eventId}#token=[\\w-]+$`));
    expect(await created.getByTestId('report-once').textContent()).toContain('shown only now');
    // The embed snippet (folded away with the rotation), copied, with the title escaped.
    await created.locator('summary').click();
    await created.getByTestId('copy-embed-snippet').click();
    await expect.poll(() => created.getByTestId('copy-embed-snippet').textContent()).toBe('Copied');
    const snippet = await page.evaluate(() => navigator.clipboard.readText());
    expect(snippet).toBe(
      `<iframe src="${stage.httpUrl}/embed/${eventId}" title="Lantern Festival &quot;opening&quot; &lt;night&gt;" width="100%" height="600" style="border:0;max-width:480px" loading="lazy"></iframe>`,
    );
    // At 390 px nothing runs off the side.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await screenshot(page, 'organiser-created', { viewport: true });

    // The reporter opens the link and publishes.
    const reporter = await newPage(browser, 'phone');
    await reporter.page.goto(reportLink);
    await reporter.page.locator('[data-testid=status].open').waitFor();
    await reporter.page.getByTestId('compose').fill('Before the new token');
    await reporter.page.keyboard.press('Enter');
    await reporter.page.locator('[data-testid=outbox-item][data-state=acked]').waitFor();

    // Rotate: asked first; declining changes nothing.
    page.once('dialog', (d) => void d.dismiss());
    await created.getByTestId('rotate').click();
    expect(await created.getByTestId('link-report').getAttribute('href')).toBe(reportLink);
    const asked: string[] = [];
    page.once('dialog', (d) => {
      asked.push(d.message());
      void d.accept();
    });
    await created.getByTestId('rotate').click();
    await expect.poll(() => created.getByTestId('link-report').getAttribute('href')).not.toBe(reportLink);
    expect(asked[0]).toContain('Lantern Festival "opening" <night>');
    expect(await page.getByTestId('notice').textContent()).toBe('New token made: the old one no longer works.');
    const newLink = (await created.getByTestId('link-report').getAttribute('href'))!;

    // The old console's next write is refused; nothing is stored.
    await reporter.page.getByTestId('compose').fill('After the new token');
    await reporter.page.keyboard.press('Enter');
    await reporter.page.locator('[data-testid=outbox-item][data-state=failed]').waitFor();
    // The new link works.
    const fresh = await newPage(browser, 'phone');
    await fresh.page.goto(newLink);
    await fresh.page.locator('[data-testid=status].open').waitFor();
    await fresh.page.getByTestId('compose').fill('With the new token');
    await fresh.page.keyboard.press('Enter');
    await fresh.page.locator('[data-testid=outbox-item][data-state=acked]').waitFor();
    const timeline = (await (await fetch(`${stage.httpUrl}/events/${eventId}/timeline`)).json()) as {
      items: { text: string }[];
    };
    expect(timeline.items.map((e) => e.text)).toEqual(['Before the new token', 'With the new token']);

    // After a reload the token is gone from the console (it was shown once); the key is still there.
    await page.reload();
    await card(page, 'Lantern Festival "opening" <night>').locator('summary').click();
    await card(page, 'Lantern Festival "opening" <night>').getByTestId('report-no-token').waitFor();
    expect(await page.getByTestId('link-report').count()).toBe(0);
    await screenshot(page, 'organiser-phone', { viewport: true });
    expect(errors).toEqual([]);
  });

  it('opens the replay, where the exports are', async () => {
    const { page, errors } = await newPage(browser, 'desktop');
    await signIn(page);
    const first = card(page, 'Event 22');
    await first.waitFor();
    const [replay] = await Promise.all([page.context().waitForEvent('page'), first.getByTestId('link-replay').click()]);
    await replay.getByTestId('summary').waitFor();
    expect(new URL(replay.url()).pathname).toBe(`/replay/${made[21]!.eventId}`);
    expect(await replay.getByTestId('export-csv').isVisible()).toBe(true);
    await screenshot(page, 'organiser-desktop', { viewport: true });
    expect(errors).toEqual([]);
  });
});
