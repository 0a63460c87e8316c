// The organiser's replay in headless Chromium against the local stage.
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import type { Stage } from '../../local/stage';
import { closeContexts, launchBrowser, newPage, screenshot } from '../support/browser';
import { type CreatedEvent, createEvent, reporterUrl, testStage } from '../support/stage';
import { repostStore, repostStorm } from '../support/storm';
import { connect } from '../support/ws-client';

let stage: Stage;
let browser: Browser;
let event: CreatedEvent;
let spikeMoment: number;

beforeAll(async () => {
  [stage, browser] = await Promise.all([testStage({ webDir: inject('webDir') }), launchBrowser()]);
  // An event with a past: three updates a second or more apart, a correction, a storm on the key moment.
  event = await createEvent(stage, '香鱼节开幕式 — replay');
  const reporter = await connect(reporterUrl(stage, event));
  let n = 0;
  const send = async (frame: Record<string, unknown>) => {
    const clientId = `r${++n}`;
    reporter.send({ ...frame, clientId });
    await reporter.next((f) => f.type === 'ack' && f.clientId === clientId);
  };
  await send({ action: 'publish', text: 'The ceremony begins, 仪式开始' });
  await sleep(1500);
  await send({ action: 'publish', text: 'The ribbon is cut — 剪彩！', kind: 'key' });
  await repostStorm(repostStore(stage), event.eventId, 2, 400);
  await sleep(1500);
  await send({ action: 'edit', seq: 1, text: 'The ceremony begins, 仪式开始 (corrected, "quoted", with a comma)' });
  await send({ action: 'publish', text: 'Dragon boats\non the river' });
  await reporter.close();
  await stage.settled();
  const reposts = (await (await fetch(`${stage.httpUrl}/events/${event.eventId}/reposts?bucket=1`)).json()) as {
    spikes: { startedAt: number }[];
    total: number;
  };
  if (reposts.total !== 400 || reposts.spikes.length !== 1)
    throw new Error(`setup: expected 400 reposts and a spike, got ${JSON.stringify(reposts)}`);
  // The spike is dated to the start of its first second; the page jumps to it, or to the moment its
  // entry was posted when that came later within the second.
  const timeline = (await (await fetch(`${stage.httpUrl}/events/${event.eventId}/timeline`)).json()) as {
    items: { seq: number; createdAt: string }[];
  };
  spikeMoment = Math.max(reposts.spikes[0]!.startedAt, Date.parse(timeline.items.find((e) => e.seq === 2)!.createdAt));
}, 120_000);

afterEach(() => closeContexts(browser));

afterAll(async () => {
  await browser?.close();
  await stage?.stop();
});

const shown = (page: Page) =>
  page.$$eval('[data-testid=entry]', (els) =>
    els.map((el) => `${(el as HTMLElement).dataset.seq}:${el.querySelector('[data-testid=text]')?.textContent}`),
  );
const position = (page: Page) =>
  page.evaluate(() => (window as unknown as { livecast: { replay: { position: number } } }).livecast.replay.position);

describe('replay page', () => {
  it('loads the whole timeline and plays it back, entries appearing at their moments; the scrubber moves through time', async () => {
    const { page, errors } = await newPage(browser, 'desktop');
    await page.goto(`${stage.httpUrl}/replay/${event.eventId}`);
    await page.getByTestId('summary').waitFor();
    expect(await page.getByTestId('summary').textContent()).toBe('3 updates · 4 revisions · 400 reposts · 1 spike');
    // At the start only the first update exists, in its first wording.
    expect(await shown(page)).toEqual(['1:The ceremony begins, 仪式开始']);
    await screenshot(page, 'replay-start');

    await page.getByTestId('speed-10').click();
    await page.getByTestId('play').click();
    await expect
      .poll(() => shown(page), { timeout: 10_000 })
      .toEqual([
        '3:Dragon boats\non the river',
        '2:The ribbon is cut — 剪彩！',
        '1:The ceremony begins, 仪式开始 (corrected, "quoted", with a comma)',
      ]);
    await expect.poll(() => page.getByTestId('play').textContent()).toBe('↺ Replay');

    // Back to the start with the scrubber.
    await page.getByTestId('scrubber').fill('0');
    expect(await shown(page)).toEqual(['1:The ceremony begins, 仪式开始']);
    expect(errors).toEqual([]);
  });

  it('draws the repost series with the spike marked; clicking the spike jumps to its moment', async () => {
    const { page, errors } = await newPage(browser, 'desktop');
    await page.goto(`${stage.httpUrl}/replay/${event.eventId}`);
    await page.getByTestId('summary').waitFor();
    expect(await page.locator('[data-testid=chart] rect.bar').count()).toBeGreaterThan(0);
    await page.locator('[data-testid=chart] [data-testid=spike-0]').click();
    expect(await position(page)).toBe(spikeMoment);
    expect((await shown(page)).map((s) => s.split(':')[0])).toEqual(['2', '1']);
    await page.getByTestId('scrubber').fill('0');
    await page.getByTestId('spike-jump').click();
    expect(await position(page)).toBe(spikeMoment);
    await screenshot(page, 'replay-spike');
    expect(errors).toEqual([]);
  });

  it('exports every revision of every entry with its repost count as JSON and as CSV', async () => {
    const { page } = await newPage(browser, 'desktop');
    await page.goto(`${stage.httpUrl}/replay/${event.eventId}`);
    await page.getByTestId('summary').waitFor();

    const [jsonDownload] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-json').click()]);
    expect(jsonDownload.suggestedFilename()).toBe(`livecast-${event.eventId}.json`);
    const json = JSON.parse(await readFile(await jsonDownload.path(), 'utf8')) as {
      event: { eventId: string };
      entries: { seq: number; reposts: number; revisions: { changeNo: number; rev: number; text: string }[] }[];
      reposts: { total: number; spikes: unknown[] };
    };
    expect(json.event.eventId).toBe(event.eventId);
    // (Change numbers are shared with the live stats frames the storm sent, so only their order is known.)
    expect(json.entries.map((e) => [e.seq, e.reposts, e.revisions.map((r) => r.rev)])).toEqual([
      [1, 0, [1, 2]],
      [2, 400, [1]],
      [3, 0, [1]],
    ]);
    const changeNos = json.entries.flatMap((e) => e.revisions.map((r) => r.changeNo));
    expect(new Set(changeNos).size).toBe(4);
    expect(json.reposts.total).toBe(400);
    expect(json.reposts.spikes).toHaveLength(1);

    const [csvDownload] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-csv').click()]);
    const csv = await readFile(await csvDownload.path(), 'utf8');
    expect(
      csv.startsWith('\uFEFFchangeNo,seq,rev,kind,pinned,deleted,createdAt,updatedAt,text,repostsTotal,images\r\n'),
    ).toBe(true);
    const rows = csv.slice(1).trimEnd().split('\r\n');
    expect(rows).toHaveLength(5);
    expect(rows[3]).toMatch(
      /^\d+,1,2,text,false,false,[^,]+,[^,]+,"The ceremony begins, 仪式开始 \(corrected, ""quoted"", with a comma\)",0,$/,
    ); // no photos: the images column is empty
    expect(csv).toContain('"Dragon boats\non the river"');
  });
});
