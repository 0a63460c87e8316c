// The feeds end to end on the real local stage: JSON Feed 1.1 and Atom 1.0 of an event with 300
// 2,000-character Chinese entries (~1.8 MB: no one Query page holds the newest 200), corrections,
// deletions, a key moment, markup in the text; parsed as a reader would (JSON, a real XML parser).
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Stage } from '../../local/stage';
import { FEED_ITEMS } from '../../shared/domain/feeds';
import type { AckFrame, ServerFrame } from '../../shared/domain/protocol';
import { longChineseText, seedLongEntries } from '../support/long-entries';
import { type CreatedEvent, createEvent, reporterUrl, stageDb, testStage } from '../support/stage';
import { OpenClients, type TestClient } from '../support/ws-client';

const LONG = 300;
const TITLE = '香鱼节 <script>alert("t")</script> & 开幕式';
const SCRIPT_TEXT = '开幕 <script>alert("x")</script> ]]> </script><!-- & "引号"';
const CORRECTED = '更正：龙舟赛改到下午三点 <b>粗体</b>';

let stage: Stage;
let db: DynamoDBDocumentClient;
let event: CreatedEvent;
let reporter: TestClient;
let first: number;
/** The feeds as they were before the correction and the deletions. */
let before: { json: JsonFeed; etag: string };
const clients = new OpenClients();

interface JsonItem {
  id: string;
  url: string;
  title: string;
  content_html?: string;
  content_text?: string;
  date_published: string;
  date_modified: string;
  tags?: string[];
}
interface JsonFeed {
  version: string;
  title: string;
  home_page_url: string;
  feed_url: string;
  authors?: { name: string }[];
  items: JsonItem[];
}

const isAck = (clientId: string) => (f: ServerFrame) => f.type === 'ack' && f.clientId === clientId;
async function send(frame: Record<string, unknown> & { clientId: string }) {
  reporter.send(frame);
  const ack = await reporter.next<AckFrame>(isAck(frame.clientId), { timeoutMs: 30_000 });
  return ack.seq;
}
const feedUrl = (format: 'json' | 'atom', eventId = event.eventId) =>
  `${stage.httpUrl}/events/${eventId}/feed.${format}`;
async function jsonFeed(): Promise<{ json: JsonFeed; etag: string; res: Response }> {
  const res = await fetch(feedUrl('json'));
  expect(res.status).toBe(200);
  return { json: (await res.json()) as JsonFeed, etag: res.headers.get('etag')!, res };
}
const seqOf = (id: string) => Number(/:entry:(\d+)$/.exec(id)?.[1]);

let scriptSeq: number;
let keySeq: number;

beforeAll(async () => {
  stage = await testStage();
  db = stageDb(stage);
  event = await createEvent(stage, TITLE);
  reporter = await clients.connect(reporterUrl(stage, event));
  first = await seedLongEntries(stage, db, event.eventId, LONG);
  scriptSeq = await send({ action: 'publish', clientId: 'script', text: SCRIPT_TEXT });
  keySeq = await send({ action: 'publish', clientId: 'key', text: '关键时刻：龙舟冲线', kind: 'key' });
  before = await jsonFeed();
  // A correction of an entry well inside the newest 200, and the two newest long ones deleted.
  await send({ action: 'edit', clientId: 'fix', seq: first + LONG - 10, text: CORRECTED });
  await send({ action: 'delete', clientId: 'del-1', seq: first + LONG - 1 });
  await send({ action: 'delete', clientId: 'del-2', seq: first + LONG - 2 });
}, 240_000);
afterAll(async () => {
  await clients.closeAll();
  await stage?.stop();
});

describe('GET /events/{id}/feed.json', () => {
  it('is JSON Feed 1.1 with its required fields, newest first, the newest 200 shown entries read past 1 MB pages', async () => {
    const { json, res } = await jsonFeed();
    expect(res.headers.get('content-type')).toBe('application/feed+json; charset=utf-8');
    expect(json.version).toBe('https://jsonfeed.org/version/1.1');
    expect(json.title).toBe(TITLE);
    expect(json.home_page_url).toBe(`${stage.httpUrl}/live/${event.eventId}`);
    expect(json.feed_url).toBe(feedUrl('json'));
    expect(json.authors?.[0]?.name).toBe(TITLE);
    expect(json.items).toHaveLength(FEED_ITEMS);
    const deleted = new Set([first + LONG - 1, first + LONG - 2]);
    const expected = [
      keySeq,
      scriptSeq,
      ...Array.from({ length: LONG }, (_, k) => first + LONG - 1 - k).filter((s) => !deleted.has(s)),
    ].slice(0, FEED_ITEMS);
    expect(json.items.map((i) => seqOf(i.id))).toEqual(expected);
    for (const item of json.items) {
      // Required of every item: an id (a string), and content_html or content_text.
      expect(typeof item.id).toBe('string');
      expect(typeof (item.content_html ?? item.content_text)).toBe('string');
      expect(item.url).toBe(`${stage.httpUrl}/live/${event.eventId}#entry-${seqOf(item.id)}`);
      expect(Number.isNaN(Date.parse(item.date_published))).toBe(false);
    }
    const long = json.items.find((i) => seqOf(i.id) === first + LONG - 20)!;
    expect(long.content_text).toBe(longChineseText(first + LONG - 20));
  });

  it('shows a corrected entry with its current text and date_modified, under the id it had before the edit', async () => {
    const seq = first + LONG - 10;
    const was = before.json.items.find((i) => seqOf(i.id) === seq)!;
    const now = (await jsonFeed()).json.items.find((i) => seqOf(i.id) === seq)!;
    expect(now.id).toBe(was.id);
    expect(was.content_text).toBe(longChineseText(seq));
    expect(now.content_text).toBe(CORRECTED);
    expect(now.content_html).toBeUndefined();
    expect(Date.parse(now.date_modified)).toBeGreaterThan(Date.parse(now.date_published));
    expect(now.date_published).toBe(was.date_published);
  });

  it('marks the key moment with a tag and keeps markup in the text as text', async () => {
    const { json } = await jsonFeed();
    expect(json.items.find((i) => seqOf(i.id) === keySeq)!.tags).toEqual(['key-moment']);
    expect(json.items.find((i) => seqOf(i.id) === scriptSeq)!.tags).toBeUndefined();
    const script = json.items.find((i) => seqOf(i.id) === scriptSeq)!;
    expect(script.content_text).toBe(SCRIPT_TEXT);
    expect(script.title).toBe(SCRIPT_TEXT);
    // Plain text, said to be plain text: no reader renders it as markup.
    expect(script.content_html).toBeUndefined();
  });

  it('is cacheable: a short max-age, an ETag that moves with the event, 304 for the current one', async () => {
    const { res, etag } = await jsonFeed();
    expect(res.headers.get('cache-control')).toBe('public, max-age=60');
    expect(etag).toMatch(/^"[\w-]+"$/);
    expect(etag).not.toBe(before.etag);
    const same = await fetch(feedUrl('json'), { headers: { 'if-none-match': etag } });
    expect(same.status).toBe(304);
    expect(await same.text()).toBe('');
    expect(same.headers.get('etag')).toBe(etag);
    const listed = await fetch(feedUrl('json'), { headers: { 'if-none-match': `"other", W/${etag}` } });
    expect(listed.status).toBe(304);
    const stale = await fetch(feedUrl('json'), { headers: { 'if-none-match': before.etag } });
    expect(stale.status).toBe(200);
    // The Atom feed is another representation: its own ETag.
    const atom = await fetch(feedUrl('atom'), { headers: { 'if-none-match': etag } });
    expect(atom.status).toBe(200);
    expect(atom.headers.get('etag')).not.toBe(etag);
  });
});

describe('GET /events/{id}/feed.atom', () => {
  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '@',
    isArray: (name) => ['entry', 'link', 'category'].includes(name),
  });

  it('is well-formed Atom 1.0 with the same entries, newest first, ids stable, corrections as updated', async () => {
    const res = await fetch(feedUrl('atom'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/atom+xml; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('public, max-age=60');
    const xml = await res.text();
    expect(XMLValidator.validate(xml)).toBe(true);
    // Markup from a title or an entry never appears as markup, only escaped.
    expect(xml).not.toContain('<script');
    const doc = parser.parse(xml) as { feed: Record<string, any> };
    const feed = doc.feed;
    expect(feed['@xmlns']).toBe('http://www.w3.org/2005/Atom');
    expect(feed.title).toBe(TITLE);
    expect(typeof feed.id).toBe('string');
    expect(Number.isNaN(Date.parse(feed.updated))).toBe(false);
    expect(feed.author.name).toBe(TITLE);
    expect(feed.link.map((l: Record<string, string>) => l['@rel'])).toEqual(['alternate', 'self']);
    const entries = feed.entry as Record<string, any>[];
    expect(entries).toHaveLength(FEED_ITEMS);
    const json = (await jsonFeed()).json;
    expect(entries.map((e) => e.id)).toEqual(json.items.map((i) => i.id));
    const corrected = entries.find((e) => seqOf(e.id) === first + LONG - 10)!;
    expect(corrected.content['@type']).toBe('html');
    expect(corrected.content['#text']).toBe('<p>更正：龙舟赛改到下午三点 &lt;b&gt;粗体&lt;/b&gt;</p>');
    expect(Date.parse(corrected.updated)).toBeGreaterThan(Date.parse(corrected.published));
    expect(corrected.link[0]['@href']).toBe(`${stage.httpUrl}/live/${event.eventId}#entry-${first + LONG - 10}`);
    const key = entries.find((e) => seqOf(e.id) === keySeq)!;
    expect(key.category.map((c: Record<string, string>) => c['@term'])).toEqual(['key-moment']);
    const script = entries.find((e) => seqOf(e.id) === scriptSeq)!;
    // type="html": the reader unescapes once and shows text, never runs a script.
    expect(script.title['#text']).toBe(
      '开幕 &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; ]]&gt; &lt;/script&gt;&lt;!-- &amp; &quot;引号&quot;',
    );
  });
});

describe('feeds of events that do not exist', () => {
  it.each([['json'], ['atom']] as const)('answer 404 for %s, not cached', async (format) => {
    for (const id of ['nosuchevent000', 'bad%20id']) {
      const res = await fetch(feedUrl(format, id));
      expect(res.status).toBe(404);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('not_found');
    }
  });
});
