// What a `sync` reply may cost in @connections posts, per connection and per source address: a
// script that pulls a long history again and again — on new connections, to escape the per-connection
// count — is refused with rate_limited once its address has had its share, while other addresses are
// served. (bench/abuse: without this, 20 such sockets took an honest viewer's p99 from 0.3 s to 10 s.)
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Stage } from '../../local/stage';
import type { AckFrame, ErrorFrame, ServerFrame } from '../../shared/domain/protocol';
import { type CreatedEvent, createEvent, reporterUrl, testStage, viewerUrl } from '../support/stage';
import { OpenClients } from '../support/ws-client';

const ENTRIES = 40;
/** Posts a minute for all syncs from one address: two full catch-ups of this event fit, a third does not. */
const PER_ADDRESS = 20;

let stage: Stage;
let event: CreatedEvent;
const clients = new OpenClients();

const client = (url: string, localAddress?: string) => clients.connect(url, localAddress ? { localAddress } : {});

beforeAll(async () => {
  stage = await testStage({ env: { LIVECAST_SYNC_POSTS_PER_ADDRESS: String(PER_ADDRESS) } });
  event = await createEvent(stage);
  const reporter = await client(reporterUrl(stage, event));
  // 40 entries of 2,000 Chinese characters (~6 KB each): a full catch-up is about 8 messages of 32 KB.
  for (let i = 0; i < ENTRIES; i++)
    reporter.send({ action: 'publish', clientId: `p${i}`, text: `${i}:${'香鱼节开幕式'.repeat(330)}` });
  await reporter.collect<AckFrame>((f) => f.type === 'ack', ENTRIES, { timeoutMs: 60_000 });
}, 120_000);

afterAll(async () => {
  await clients.closeAll();
  await stage?.stop();
});

/** A fresh connection from `address` asking for everything: how many messages it got, and how it ended. */
async function fullSync(address: string): Promise<{ messages: number; end: ServerFrame }> {
  const c = await client(viewerUrl(stage, event.eventId), address);
  const before = c.messages.length;
  c.send({ action: 'sync', since: 0 });
  const end = await c.next((f) => f.type === 'synced' || f.type === 'error', { timeoutMs: 30_000 });
  return { messages: c.messages.length - before, end };
}

it(
  'serves a full catch-up per new connection until the address has pulled its share, then refuses with retryAfterMs; other addresses are served',
  { timeout: 120_000 },
  async () => {
    // The windows are a minute long: start in a fresh one so the three catch-ups share it.
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 40_000) await new Promise((r) => setTimeout(r, 60_000 - intoMinute + 100));

    const first = await fullSync('127.0.0.2');
    expect(first.end.type).toBe('synced');
    expect(first.messages).toBeGreaterThan(5); // a sync's cost is its messages (posts), not one
    const second = await fullSync('127.0.0.2');
    expect(second.end.type).toBe('synced');
    expect(first.messages + second.messages).toBeLessThanOrEqual(PER_ADDRESS);

    const third = await fullSync('127.0.0.2');
    expect(third.end).toMatchObject({ type: 'error', code: 'rate_limited' });
    const refusal = third.end as ErrorFrame;
    expect(refusal.retryAfterMs).toBeGreaterThan(0);
    expect(refusal.retryAfterMs).toBeLessThanOrEqual(60_000);
    expect(third.messages).toBe(1); // the refusal alone: nothing of the history was posted

    // Another address is not held back by the first one's flood.
    expect((await fullSync('127.0.0.3')).end.type).toBe('synced');
  },
);
