// The crawler's snapshot of a live page, end to end on the local stage: static HTML with every text
// escaped, LiveBlogPosting JSON-LD that markup in the text cannot break out of, sharing tags.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Stage } from '../../local/stage';
import type { AckFrame, ServerFrame } from '../../shared/domain/protocol';
import { type CreatedEvent, createEvent, reporterUrl, testStage } from '../support/stage';
import { OpenClients, type TestClient } from '../support/ws-client';

const TITLE = '香鱼节 <script>alert("title")</script> & "开幕式"';
const SCRIPT = '现场 </script><script>alert(1)</script> <!-- <img src=x onerror=alert(2)>';
const KEY = '关键时刻：龙舟冲线 </SCRIPT >';

let stage: Stage;
let event: CreatedEvent;
let reporter: TestClient;
const seqs: Record<string, number> = {};
const clients = new OpenClients();

const isAck = (clientId: string) => (f: ServerFrame) => f.type === 'ack' && f.clientId === clientId;
async function send(frame: Record<string, unknown> & { clientId: string }) {
  reporter.send(frame);
  return (await reporter.next<AckFrame>(isAck(frame.clientId), { timeoutMs: 30_000 })).seq;
}
const snapshotUrl = (id = event.eventId) => `${stage.httpUrl}/events/${id}/snapshot`;

beforeAll(async () => {
  stage = await testStage();
  event = await createEvent(stage, TITLE);
  reporter = await clients.connect(reporterUrl(stage, event));
  seqs.first = await send({ action: 'publish', clientId: 'a', text: '第一条\n第二行' });
  seqs.script = await send({ action: 'publish', clientId: 'b', text: SCRIPT });
  seqs.gone = await send({ action: 'publish', clientId: 'c', text: '将被删除 deleted-text' });
  seqs.key = await send({ action: 'publish', clientId: 'd', text: KEY, kind: 'key' });
  seqs.last = await send({ action: 'publish', clientId: 'e', text: '最新一条' });
  await send({ action: 'delete', clientId: 'f', seq: seqs.gone });
  await send({ action: 'edit', clientId: 'g', seq: seqs.first, text: '第一条（更正）' });
}, 120_000);
afterAll(async () => {
  await clients.closeAll();
  await stage?.stop();
});

/** The JSON-LD blocks as a crawler's HTML parser finds them: from the tag to the first `</script`. */
const jsonLdBlocks = (html: string) =>
  [...html.matchAll(/<script type="application\/ld\+json">([\s\S]*?)<\/script/gi)].map((m) => m[1]!);

describe('GET /events/{id}/snapshot', () => {
  it('is static, escaped HTML: no markup from a title or an entry survives as markup', async () => {
    const res = await fetch(snapshotUrl());
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = await res.text();
    // The only <script is the JSON-LD block's own; nothing else opens a tag from the text.
    expect(html.match(/<script/gi)).toHaveLength(1);
    expect(html).not.toMatch(/<img|<!--/i);
    expect(html).toContain(
      '<h1>香鱼节 &lt;script&gt;alert(&quot;title&quot;)&lt;/script&gt; &amp; &quot;开幕式&quot;</h1>',
    );
    expect(html).toContain(`<li id="entry-${seqs.script}">`);
    expect(html).toContain(
      '现场 &lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt; &lt;!-- &lt;img src=x onerror=alert(2)&gt;',
    );
    // Deleted entries are left out; corrections show the current text; line breaks kept.
    expect(html).not.toContain('deleted-text');
    expect(html).not.toContain(`id="entry-${seqs.gone}"`);
    expect(html).toContain('第一条（更正）');
    expect(html).toContain(`<a href="${stage.httpUrl}/live/${event.eventId}">`);
    // Newest first.
    expect(html.indexOf(`entry-${seqs.last}"`)).toBeLessThan(html.indexOf(`entry-${seqs.key}"`));
  });

  it('carries LiveBlogPosting JSON-LD that `</script>` in the text cannot end, one liveBlogUpdate per entry shown', async () => {
    const html = await (await fetch(snapshotUrl())).text();
    const blocks = jsonLdBlocks(html);
    expect(blocks).toHaveLength(1);
    // The block ends where the HTML parser ends it, and what is inside is the whole JSON.
    const ld = JSON.parse(blocks[0]!) as Record<string, any>;
    expect(blocks[0]).not.toMatch(/<|>/);
    expect(ld['@context']).toBe('https://schema.org');
    expect(ld['@type']).toBe('LiveBlogPosting');
    expect(ld.headline).toBe(TITLE);
    expect(ld.url).toBe(`${stage.httpUrl}/live/${event.eventId}`);
    expect(Date.parse(ld.coverageStartTime)).toBe(Date.parse(event.createdAt));
    expect(Date.parse(ld.coverageEndTime)).toBeGreaterThan(Date.parse(ld.coverageStartTime));
    const updates = ld.liveBlogUpdate as Record<string, any>[];
    expect(updates.map((u) => Number(/#entry-(\d+)$/.exec(u.url)?.[1]))).toEqual([
      seqs.last,
      seqs.key,
      seqs.script,
      seqs.first,
    ]);
    for (const u of updates) {
      expect(u['@type']).toBe('BlogPosting');
      for (const field of ['headline', 'articleBody', 'datePublished', 'dateModified'])
        expect(typeof u[field], field).toBe('string');
    }
    expect(updates.find((u) => u.url.endsWith(`#entry-${seqs.script}`))!.articleBody).toBe(SCRIPT);
    const first = updates.find((u) => u.url.endsWith(`#entry-${seqs.first}`))!;
    expect(first.articleBody).toBe('第一条（更正）');
    expect(Date.parse(first.dateModified)).toBeGreaterThan(Date.parse(first.datePublished));
  });

  it('has sharing tags: title, description from the newest key moment, canonical og:url, feed links', async () => {
    const html = await (await fetch(snapshotUrl())).text();
    const meta = (key: string) => new RegExp(`<meta (?:property|name)="${key}" content="([^"]*)">`).exec(html)?.[1];
    const escapedTitle = '香鱼节 &lt;script&gt;alert(&quot;title&quot;)&lt;/script&gt; &amp; &quot;开幕式&quot;';
    expect(meta('og:title')).toBe(escapedTitle);
    expect(meta('twitter:title')).toBe(escapedTitle);
    expect(meta('og:description')).toBe('关键时刻：龙舟冲线 &lt;/SCRIPT &gt;');
    expect(meta('description')).toBe('关键时刻：龙舟冲线 &lt;/SCRIPT &gt;');
    expect(meta('og:url')).toBe(`${stage.httpUrl}/live/${event.eventId}`);
    expect(meta('og:type')).toBe('article');
    expect(meta('twitter:card')).toBe('summary');
    expect(html).toContain(`<title>${escapedTitle}</title>`);
    expect(html).toContain(`<link rel="canonical" href="${stage.httpUrl}/live/${event.eventId}">`);
    expect(html).toContain(
      `<link rel="alternate" type="application/atom+xml" href="${stage.httpUrl}/events/${event.eventId}/feed.atom">`,
    );
  });

  it('is cacheable with an ETag and 304; unknown events are 404 and not cached', async () => {
    const res = await fetch(snapshotUrl());
    const etag = res.headers.get('etag')!;
    expect(res.headers.get('cache-control')).toBe('public, max-age=60');
    expect((await fetch(snapshotUrl(), { headers: { 'if-none-match': etag } })).status).toBe(304);
    await send({ action: 'publish', clientId: 'h', text: '又一条' });
    expect((await fetch(snapshotUrl(), { headers: { 'if-none-match': etag } })).status).toBe(200);
    const missing = await fetch(snapshotUrl('nosuchevent000'));
    expect(missing.status).toBe(404);
    expect(missing.headers.get('cache-control')).toBe('no-store');
  });
});
