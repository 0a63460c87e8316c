// Every page in Simplified Chinese and in English, from the browser's language, with a switch that
// sticks. In zh-CN no interface text may be English: the test reads every visible text node and the
// labels (placeholder, aria-label, title) outside what is data — update texts, titles, ids, marked
// translate="no" — and fails on any ASCII letters left. The same reading of the English page must
// find English, or the reading itself is broken.
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import type { Stage } from '../../local/stage';
import { closeContexts, launchBrowser, newPage, screenshot } from '../support/browser';
import { ADMIN_KEY, type CreatedEvent, createEvent, reporterUrl, testStage } from '../support/stage';
import { png, postUpload, type Upload } from '../support/images';
import { connect } from '../support/ws-client';

let stage: Stage;
let browser: Browser;
let event: CreatedEvent;

beforeAll(async () => {
  [stage, browser] = await Promise.all([testStage({ webDir: inject('webDir') }), launchBrowser()]);
  // Texts in both scripts, so data with ASCII letters is on every page (it must not count).
  event = await createEvent(stage, '龙溪镇香鱼节开幕式 Longxi Sweetfish Festival');
  const reporter = await connect(reporterUrl(stage, event));
  let n = 0;
  const send = async (frame: Record<string, unknown>) => {
    const clientId = `l${++n}`;
    reporter.send({ ...frame, clientId });
    await reporter.next((f) => f.type === 'ack' && f.clientId === clientId);
  };
  await send({ action: 'publish', text: '仪式开始：镇长致辞。The ceremony begins.' });
  await send({ action: 'publish', text: '剪彩！Ribbon cut', kind: 'key' });
  await send({ action: 'edit', seq: 1, text: '仪式开始：镇长致辞（更正）。The ceremony begins.' });
  await send({ action: 'pin', seq: 2, pinned: true });
  await send({ action: 'publish', text: 'Dragon boats on the river' });
  await send({ action: 'delete', seq: 3 });
  // A photo-only update (no alt text: the pages name it "Photo 1 of 1" in their language).
  const photo = png(320, 240);
  const presigned = (await (
    await fetch(`${stage.httpUrl}/events/${event.eventId}/images`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${event.operatorToken}` },
      body: JSON.stringify({ contentType: 'image/png', bytes: photo.length }),
    })
  ).json()) as { imageId: string; upload: Upload };
  expect((await postUpload(presigned.upload, photo, 'image/png')).ok).toBe(true);
  await send({ action: 'publish', text: '', images: [presigned.imageId] });
  await reporter.close();
  await stage.settled();
}, 120_000);

afterEach(() => closeContexts(browser));

afterAll(async () => {
  await browser?.close();
  await stage?.stop();
});

/** Words a Chinese page may show in Latin letters: file formats, and the Shift key's printed name. */
const ALLOWED = /\b(JSON|CSV|Shift)\b/g;

/** Interface text with ASCII letters: visible text nodes and labels outside `[translate=no]`. */
function untranslated(page: Page): Promise<string[]> {
  return page.evaluate((allowed) => {
    const re = new RegExp(allowed, 'g');
    const latin = (s: string) => /[A-Za-z]/.test(s.replace(re, ''));
    const isData = (el: Element | null) => !!el?.closest('[translate=no]');
    const found: string[] = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const el = node.parentElement;
      if (!el || isData(el) || el.closest('noscript, script, style')) continue;
      if (!el.checkVisibility() && !el.closest('svg')) continue;
      const text = node.textContent?.trim() ?? '';
      if (latin(text)) found.push(text);
    }
    for (const el of document.body.querySelectorAll('[placeholder], [aria-label], [title]')) {
      if (isData(el)) continue;
      for (const name of ['placeholder', 'aria-label', 'title']) {
        const v = el.getAttribute(name);
        if (v && latin(v)) found.push(`${name}="${v}"`);
      }
    }
    return found;
  }, ALLOWED.source);
}

type PageKind = 'live' | 'report' | 'replay';

/** Opens a page ready to read, with the given browser language. */
async function open(kind: PageKind, locale: string): Promise<{ page: Page; errors: string[] }> {
  const opened = await newPage(browser, kind === 'replay' ? 'desktop' : 'phone', { locale });
  const { page } = opened;
  // The live page opened at an entry, so its "linked" highlight is read too.
  const path = `${stage.httpUrl}/${kind}/${event.eventId}${kind === 'report' ? `#token=${event.operatorToken}` : kind === 'live' ? '#entry-1' : ''}`;
  await page.goto(path);
  if (kind === 'replay') {
    await page.getByTestId('summary').waitFor();
    // The moment everything has happened: every kind of card on screen.
    await page.getByTestId('scrubber').fill((await page.getByTestId('scrubber').getAttribute('max')) ?? '0');
    await expect.poll(() => page.getByTestId('entry').count()).toBeGreaterThanOrEqual(2);
  } else {
    await page.locator('[data-testid=status].open').waitFor();
    // (The console's test below publishes one more.)
    await expect.poll(() => page.getByTestId('entry').count()).toBeGreaterThanOrEqual(kind === 'live' ? 2 : 3);
  }
  if (kind === 'live') {
    // Issue 15's parts: the linked entry, the corrected entry's earlier versions, a copied link's confirmation.
    await page.locator('[data-testid=entry].linked').waitFor();
    await page.locator('[data-seq="1"] [data-testid=versions]').click();
    await page.locator('[data-seq="1"] [data-testid=version]').waitFor();
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: stage.httpUrl });
    await page.locator('[data-seq="1"] [data-testid=share]').click();
    await page.getByTestId('toast').waitFor();
  }
  return opened;
}

describe('languages', () => {
  for (const kind of ['live', 'report', 'replay'] as const) {
    it(`${kind}: a zh-CN browser gets the page in Chinese, <html lang="zh-CN">, no English interface text`, async () => {
      const { page, errors } = await open(kind, 'zh-CN');
      expect(await page.evaluate(() => document.documentElement.lang)).toBe('zh-CN');
      if (kind === 'report') {
        // A photo being attached: its preview, alt text box and remove button are read too.
        await page
          .getByTestId('photo-input')
          .setInputFiles([{ name: 'photo.png', mimeType: 'image/png', buffer: png(200, 150) }]);
        await page.getByTestId('draft-photo').waitFor();
        expect(await untranslated(page)).toEqual([]);
        // Something in the outbox, with a photo, so its rows are read too.
        await page.getByTestId('compose').fill('新消息 new message');
        await page.keyboard.press('Enter');
        await page.locator('[data-testid=outbox-item][data-state=acked]').waitFor();
      }
      expect(await untranslated(page)).toEqual([]);
      // A photo without alt text is named in the page's language.
      expect(await page.locator('[data-testid=photo]').first().getAttribute('alt')).toBe('第 1 张照片，共 1 张');
      // Data stays as typed, whatever the language.
      expect(await page.locator('[data-testid=text]').allTextContents()).toContain('剪彩！Ribbon cut');
      await screenshot(page, `${kind}-zh-CN`);
      expect(errors).toEqual([]);
    });

    it(`${kind}: an English browser gets it in English (and the reading above finds English there)`, async () => {
      const { page, errors } = await open(kind, 'en-GB');
      expect(await page.evaluate(() => document.documentElement.lang)).toBe('en');
      const english = await untranslated(page);
      expect(english.length).toBeGreaterThan(3);
      expect(english).toContain(kind === 'replay' ? 'Timeline at this moment' : 'Live');
      expect(await page.locator('[data-testid=photo]').first().getAttribute('alt')).toBe('Photo 1 of 1');
      if (kind === 'report') expect(english).toContain('Add photos');
      if (kind === 'live')
        expect(english).toEqual(
          expect.arrayContaining([
            'Linked update',
            'Earlier versions',
            'Oldest',
            'Link copied',
            'Share',
            'aria-label="Share update #1"',
          ]),
        );
      await screenshot(page, `${kind}-en`);
      expect(errors).toEqual([]);
    });
  }

  it('the landing page, /, in both languages: Chinese with no English interface text, and English', async () => {
    const zh = await newPage(browser, 'phone', { locale: 'zh-CN' });
    await zh.page.goto(`${stage.httpUrl}/`);
    await zh.page.getByTestId('home-pages').waitFor();
    expect(await zh.page.evaluate(() => [document.documentElement.lang, document.title])).toEqual([
      'zh-CN',
      'livecast — 活动微博直播',
    ]);
    expect(await untranslated(zh.page)).toEqual([]);
    await screenshot(zh.page, 'home-zh-CN');
    const en = await newPage(browser, 'phone', { locale: 'en-US' });
    await en.page.goto(`${stage.httpUrl}/`);
    await en.page.getByTestId('home-pages').waitFor();
    expect(await en.page.evaluate(() => document.documentElement.lang)).toBe('en');
    expect(await untranslated(en.page)).toContain('follow the event live');
    // The switch works here too, and the choice is the one every page reads.
    await en.page.getByTestId('lang-switch').click();
    await en.page.getByTestId('home-pages').waitFor();
    expect(await en.page.evaluate(() => document.documentElement.lang)).toBe('zh-CN');
    expect([...zh.errors, ...en.errors]).toEqual([]);
  });

  it('the switch sticks: chosen on one page, kept across a reload and on the other pages; <html lang> follows', async () => {
    const { page } = await open('live', 'zh-CN');
    await expect.poll(() => page.getByTestId('status').textContent()).toBe('直播中');
    await page.getByTestId('lang-switch').click();
    await page.locator('[data-testid=status].open').waitFor();
    expect(await page.getByTestId('status').textContent()).toBe('Live');
    expect(await page.evaluate(() => document.documentElement.lang)).toBe('en');
    await page.reload();
    await page.locator('[data-testid=status].open').waitFor();
    expect(await page.getByTestId('status').textContent()).toBe('Live');
    // Another page in the same browser.
    await page.goto(`${stage.httpUrl}/replay/${event.eventId}`);
    await page.getByTestId('summary').waitFor();
    expect(await page.evaluate(() => document.documentElement.lang)).toBe('en');
    expect(await page.getByTestId('export-csv').textContent()).toBe('Export CSV');
    // And back.
    await page.getByTestId('lang-switch').click();
    await page.getByTestId('summary').waitFor();
    expect(await page.getByTestId('export-csv').textContent()).toBe('导出 CSV');
    expect(await page.evaluate(() => document.documentElement.lang)).toBe('zh-CN');
  });

  it('times, dates and counts follow the locale (Intl)', async () => {
    const zh = await open('replay', 'zh-CN');
    const en = await open('replay', 'en-US');
    const created = new Date(event.createdAt);
    // The replay's position line names the day: 2025年5月1日 / May 1, 2025.
    expect(await zh.page.locator('.player .muted').textContent()).toContain(`${created.getFullYear()}年`);
    expect(await en.page.locator('.player .muted').textContent()).toMatch(/^at \d\d:\d\d:\d\d \(\w{3} \d+, \d{4}\)$/);
    // Plurals: English picks a form, Chinese has one.
    expect(await en.page.getByTestId('summary').textContent()).toMatch(
      /^\d+ updates · \d+ revisions · 0 reposts · 0 spikes$/,
    );
    expect(await zh.page.getByTestId('summary').textContent()).toMatch(
      /^\d+ 条动态 · \d+ 次修改 · 0 次转发 · 0 次激增$/,
    );
  });

  it("the console's token form and a missing event are in Chinese too", async () => {
    const { page, errors } = await newPage(browser, 'phone', { locale: 'zh-CN' });
    await page.goto(`${stage.httpUrl}/report/${event.eventId}`);
    await page.getByTestId('token').waitFor();
    expect(await untranslated(page)).toEqual([]);
    await page.goto(`${stage.httpUrl}/live/no-such-event`);
    await page.getByTestId('load-error').waitFor();
    expect(await page.getByTestId('load-error').textContent()).toBe('没有编号为“no-such-event”的活动，请检查链接。');
    expect(await untranslated(page)).toEqual([]);
    expect(errors.filter((e) => !e.includes('404'))).toEqual([]);
  });
});

// organiser and embed (issue 15): the console signed in, with a token just made (its once-only
// notice) and an event's folded part open; the embed standing alone.
describe('languages: the organiser console and the embed', () => {
  async function organiser(locale: string): Promise<{ page: Page; errors: string[] }> {
    const opened = await newPage(browser, 'phone', { locale });
    const { page } = opened;
    await page.goto(`${stage.httpUrl}/organiser`);
    await page.getByTestId('admin-key').waitFor();
    // The sign-in form is read first, with a refusal on it.
    await page.getByTestId('admin-key').fill('wrong-key-wrong-key');
    await page.getByTestId('sign-in').click();
    await page.getByTestId('sign-in-error').waitFor();
    expect(await untranslated(page)).toEqual(locale.startsWith('zh') ? [] : expect.arrayContaining(['Sign in']));
    await page.getByTestId('admin-key').fill(ADMIN_KEY);
    await page.getByTestId('sign-in').click();
    await page.getByTestId('event').first().waitFor();
    await page.getByTestId('create').click();
    await page.getByTestId('create-error').waitFor();
    await page.getByTestId('new-title').fill('灯会 Lantern night');
    await page.getByTestId('create').click();
    await page.getByTestId('report-once').waitFor();
    for (const more of await page.locator('[data-testid=event] summary').all()) await more.click();
    return opened;
  }

  it('organiser: Chinese with no English interface text, and English', async () => {
    const zh = await organiser('zh-CN');
    expect(await zh.page.evaluate(() => [document.documentElement.lang, document.title])).toEqual([
      'zh-CN',
      '主办方控制台',
    ]);
    expect(await untranslated(zh.page)).toEqual([]);
    await screenshot(zh.page, 'organiser-zh-CN', { viewport: true });
    const en = await organiser('en-US');
    expect(await en.page.evaluate(() => document.documentElement.lang)).toBe('en');
    expect(await untranslated(en.page)).toEqual(
      expect.arrayContaining(['Organiser console', 'Create event', 'New reporter token']),
    );
    expect(zh.errors.filter((e) => !e.includes('401'))).toEqual([]);
    expect(en.errors.filter((e) => !e.includes('401'))).toEqual([]);
  });

  it('embed: Chinese with no English interface text, and English', async () => {
    for (const locale of ['zh-CN', 'en-US']) {
      const { page, errors } = await newPage(browser, 'phone', { locale });
      await page.goto(`${stage.httpUrl}/embed/${event.eventId}`);
      await page.locator('[data-testid=status].open').waitFor();
      await expect.poll(() => page.getByTestId('entry').count()).toBeGreaterThanOrEqual(2);
      if (locale === 'zh-CN') {
        expect(await untranslated(page)).toEqual([]);
        expect(await page.getByTestId('open-full').first().textContent()).toBe('打开完整直播页 ↗');
        expect(await page.locator('[data-testid=photo]').first().getAttribute('alt')).toBe('第 1 张照片，共 1 张');
        await screenshot(page, 'embed-zh-CN');
      } else {
        expect(await untranslated(page)).toEqual(expect.arrayContaining(['Live', 'Open the full live page ↗']));
      }
      expect(errors).toEqual([]);
      await page.context().close();
    }
  });
});
