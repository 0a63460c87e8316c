// The reporter console in headless Chromium against the local stage.
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import type { Stage } from '../../local/stage';
import type { Entry } from '../../shared/domain/protocol';
import { closeContexts, launchBrowser, newPage, screenshot } from '../support/browser';
import { type CreatedEvent, createEvent, testStage, viewerUrl } from '../support/stage';
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

async function timeline(eventId: string): Promise<Entry[]> {
  return ((await (await fetch(`${stage.httpUrl}/events/${eventId}/timeline`)).json()) as { items: Entry[] }).items;
}

async function openConsole(event: CreatedEvent, page?: Page) {
  const opened = page ? { page, errors: [] as string[] } : await newPage(browser, 'phone');
  await opened.page.goto(`${stage.httpUrl}/report/${event.eventId}#token=${event.operatorToken}`);
  await opened.page.getByTestId('status').filter({ hasText: 'Live' }).waitFor();
  return opened;
}

const outboxStates = (page: Page) =>
  page.$$eval('[data-testid=outbox-item]', (els) => els.map((el) => (el as HTMLElement).dataset.state));

describe('reporter console', () => {
  it('publishes on Enter (Shift+Enter is a new line), shows the ack with seq and round trip, counts characters', async () => {
    const event = await createEvent(stage);
    const viewer = await connect(viewerUrl(stage, event.eventId));
    const { page, errors } = await openConsole(event);
    // The token left the address bar for the tab's storage.
    expect(new URL(page.url()).hash).toBe('');

    const box = page.getByTestId('compose');
    await box.fill('香鱼节开幕');
    expect(await page.getByTestId('counter').textContent()).toBe('5 / 2,000');
    await box.press('Shift+Enter');
    await box.pressSequentially('Line two');
    await page.getByTestId('key').check();
    await box.press('Enter');
    expect(await box.inputValue()).toBe('');

    const item = page.locator('[data-testid=outbox-item]').first();
    await expect.poll(() => item.getAttribute('data-state')).toBe('acked');
    expect(await item.textContent()).toMatch(/#1 · rev 1 · \d+ ms/);
    const update = await viewer.next((f) => f.type === 'update');
    expect(update.type === 'update' && update.entry).toMatchObject({
      seq: 1,
      text: '香鱼节开幕\nLine two',
      kind: 'key',
    });
    await expect
      .poll(() => page.locator('[data-testid=entries] [data-seq="1"] [data-testid=text]').textContent())
      .toBe('香鱼节开幕\nLine two');
    // A viewer reposts it: the console's count follows the live stats.
    viewer.send({ action: 'repost', seq: 1 });
    await expect
      .poll(() => page.locator('[data-testid=entries] [data-seq="1"] [data-testid=repost-count]').textContent())
      .toBe('1');

    // Over 2,000 characters (counted as a person counts them) cannot be published.
    await box.fill('鱼'.repeat(2001));
    expect(await page.getByTestId('counter').textContent()).toBe('2,001 / 2,000');
    expect(await page.getByTestId('publish').isDisabled()).toBe(true);
    await box.fill('');
    await screenshot(page, 'report-phone');
    expect(errors).toEqual([]);
    await viewer.close();
  });

  it('keeps updates typed offline and re-sends them once connected: each stored exactly once', async () => {
    const event = await createEvent(stage);
    const { page, errors } = await openConsole(event);
    await page.context().setOffline(true);
    await page.evaluate(() =>
      (window as unknown as { livecast: { connection: { drop(): void } } }).livecast.connection.drop(),
    );
    await page
      .getByTestId('status')
      .filter({ hasText: /Offline|Reconnecting|Connecting/ })
      .waitFor();

    const box = page.getByTestId('compose');
    for (const text of ['Boats at the start line', 'And they are off!', '第一条香鱼']) {
      await box.fill(text);
      await box.press('Enter');
    }
    expect(await outboxStates(page)).toEqual(['waiting', 'waiting', 'waiting']);
    expect(await page.getByTestId('pending').textContent()).toBe('3 waiting to send');
    await screenshot(page, 'report-offline-queue');

    await page.context().setOffline(false);
    await expect.poll(() => outboxStates(page), { timeout: 20_000 }).toEqual(['acked', 'acked', 'acked']);
    expect((await timeline(event.eventId)).map((e) => [e.seq, e.text])).toEqual([
      [1, 'Boats at the start line'],
      [2, 'And they are off!'],
      [3, '第一条香鱼'],
    ]);
    expect(errors.filter((e) => !/ERR_INTERNET_DISCONNECTED|WebSocket/.test(e))).toEqual([]);
  });

  it('keeps what was not yet sent across a reload of the page', async () => {
    const event = await createEvent(stage);
    const { page } = await openConsole(event);
    await page.context().setOffline(true);
    await page.evaluate(() =>
      (window as unknown as { livecast: { connection: { stop(): void } } }).livecast.connection.stop(),
    );
    await page.getByTestId('compose').fill('Typed just before the phone reloaded the tab');
    await page.getByTestId('compose').press('Enter');
    expect(await outboxStates(page)).toEqual(['waiting']);
    await page.context().setOffline(false);
    await page.reload();
    await page.getByTestId('status').filter({ hasText: 'Live' }).waitFor();
    await expect.poll(() => outboxStates(page), { timeout: 20_000 }).toEqual(['acked']);
    expect((await timeline(event.eventId)).map((e) => e.text)).toEqual([
      'Typed just before the phone reloaded the tab',
    ]);
  });

  it('edits, pins and deletes published entries', async () => {
    const event = await createEvent(stage);
    const { page, errors } = await openConsole(event);
    const box = page.getByTestId('compose');
    for (const text of ['The mayor spekas', 'Second update']) {
      await box.fill(text);
      await box.press('Enter');
    }
    await expect.poll(() => outboxStates(page)).toEqual(['acked', 'acked']);

    const first = page.locator('[data-testid=entries] [data-seq="1"]');
    await first.getByTestId('edit').click();
    await page.getByTestId('edit-text').fill('The mayor speaks');
    await page.getByTestId('save-edit').click();
    await expect.poll(() => first.getByTestId('text').textContent()).toBe('The mayor speaks');
    await first.getByTestId('pin').click();
    await expect.poll(() => first.locator('.badge.pin').count()).toBe(1);

    page.once('dialog', (d) => void d.accept());
    await page.locator('[data-testid=entries] [data-seq="2"]').getByTestId('delete').click();
    await expect.poll(() => page.locator('[data-testid=entries] [data-seq="2"] .badge.deleted').count()).toBe(1);

    const stored = await timeline(event.eventId);
    expect(stored.map((e) => ({ seq: e.seq, rev: e.rev, text: e.text, pinned: e.pinned, deleted: e.deleted }))).toEqual(
      [
        { seq: 1, rev: 3, text: 'The mayor speaks', pinned: true, deleted: false },
        { seq: 2, rev: 2, text: '', pinned: false, deleted: true },
      ],
    );
    await screenshot(page, 'report-edited');
    expect(errors).toEqual([]);
  });

  it('asks for the token when the address has none, and says so when a token is refused', async () => {
    const event = await createEvent(stage);
    const { page } = await newPage(browser, 'phone');
    await page.goto(`${stage.httpUrl}/report/${event.eventId}#token=not-the-token`);
    await page.getByTestId('connect-error').waitFor({ timeout: 20_000 });
    await page.getByText('Change token').click();
    await page.getByTestId('token').fill(event.operatorToken);
    await page.getByTestId('token-submit').click();
    await page.getByTestId('status').filter({ hasText: 'Live' }).waitFor();
  });
});
