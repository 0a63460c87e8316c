// Rotating the reporter's operator token on the real stage: the old token opens nothing, and the
// connections it opened lose the right to write at once, while everyone else carries on.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Stage } from '../../local/stage';
import type { AckFrame, Entry, ErrorFrame, ServerFrame, UpdateFrame } from '../../shared/domain/protocol';
import { ADMIN_KEY, type CreatedEvent, createEvent, reporterUrl, testStage, viewerUrl } from '../support/stage';
import { refusedStatus, type TestClient, OpenClients } from '../support/ws-client';

let stage: Stage;
const clients = new OpenClients();

beforeAll(async () => {
  stage = await testStage();
});
afterAll(async () => {
  await clients.closeAll();
  await stage?.stop();
});

const client = clients.connect;

/** `authorization` null: no header at all. */
function rotate(eventId: string, authorization: string | null = `Bearer ${ADMIN_KEY}`): Promise<Response> {
  return fetch(`${stage.httpUrl}/events/${encodeURIComponent(eventId)}/operator-token`, {
    method: 'POST',
    headers: authorization ? { authorization } : {},
  });
}

async function rotated(event: CreatedEvent): Promise<CreatedEvent> {
  const res = await rotate(event.eventId);
  expect(res.status).toBe(200);
  const { operatorToken } = (await res.json()) as { operatorToken: string };
  return { ...event, operatorToken };
}

async function timeline(eventId: string): Promise<Entry[]> {
  const res = await fetch(`${stage.httpUrl}/events/${eventId}/timeline?limit=500`);
  return ((await res.json()) as { items: Entry[] }).items;
}

async function lastSeq(eventId: string): Promise<number> {
  return ((await (await fetch(`${stage.httpUrl}/events/${eventId}`)).json()) as { lastSeq: number }).lastSeq;
}

/** The ack or error that answers `clientId`. */
const answerTo = (clientId: string) => (f: ServerFrame) =>
  (f.type === 'ack' || f.type === 'error') && f.clientId === clientId;
const isUpdate = (seq: number) => (f: ServerFrame) => f.type === 'update' && f.entry.seq === seq;

async function send(
  c: TestClient,
  frame: { clientId: string } & Record<string, unknown>,
): Promise<AckFrame | ErrorFrame> {
  const from = c.frames.length;
  c.send(frame);
  return c.next<AckFrame | ErrorFrame>(answerTo(frame.clientId), { from });
}

describe('POST /events/{eventId}/operator-token', () => {
  it('refuses no key and a wrong key with 401, and the token stays as it was', async () => {
    const event = await createEvent(stage);
    for (const authorization of [null, 'Bearer not-the-key-at-all-000000', `Basic ${ADMIN_KEY}`]) {
      const res = await rotate(event.eventId, authorization);
      expect(res.status, String(authorization)).toBe(401);
      expect(await res.json()).toMatchObject({ error: { code: 'unauthorized' } });
    }
    expect(await refusedStatus(reporterUrl(stage, event))).toBe(101);
  });

  it('answers 404 for an event that does not exist', async () => {
    for (const eventId of ['AAAAAAAAAAAA', 'not an id!']) {
      const res = await rotate(eventId);
      expect(res.status, eventId).toBe(404);
      // The event is unknown, not the route.
      expect(await res.json()).toMatchObject({
        error: { code: 'not_found', message: expect.stringMatching(/^event .* does not exist$/) },
      });
    }
  });

  it('answers 200 with a new token: the old one is refused at the handshake, the new one makes a reporter', async () => {
    const event = await createEvent(stage);
    const res = await rotate(event.eventId);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(['operatorToken']);
    expect(body.operatorToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(body.operatorToken).not.toBe(event.operatorToken);
    const next = { ...event, operatorToken: body.operatorToken as string };

    expect(await refusedStatus(reporterUrl(stage, event))).toBe(401);
    const reporter = await client(reporterUrl(stage, next));
    expect(await send(reporter, { action: 'publish', clientId: 'n1', text: 'with the new token' })).toEqual({
      type: 'ack',
      clientId: 'n1',
      seq: 1,
      rev: 1,
    });

    // Again: the second token goes the way of the first.
    const third = await rotated(next);
    expect(await refusedStatus(reporterUrl(stage, next))).toBe(401);
    expect(await refusedStatus(reporterUrl(stage, event))).toBe(401);
    expect(await refusedStatus(reporterUrl(stage, third))).toBe(101);
    // Viewers need no token and are not affected.
    expect(await refusedStatus(viewerUrl(stage, event.eventId))).toBe(101);
  });
});

describe('a reporter connection opened with the replaced token', () => {
  it('may no longer publish, edit, delete or pin, and changes nothing; viewers and the new reporter carry on', async () => {
    const event = await createEvent(stage);
    const old = await client(reporterUrl(stage, event));
    const viewer = await client(viewerUrl(stage, event.eventId));
    // A write before the rotation: the entry to edit, and this stage's writer now remembers the
    // event's counters, so the next write goes straight to the transaction (no read first).
    expect(await send(old, { action: 'publish', clientId: 'o1', text: 'Before the rotation' })).toMatchObject({
      type: 'ack',
      seq: 1,
    });
    await viewer.next(isUpdate(1));

    const next = await rotated(event);
    const before = await timeline(event.eventId);

    for (const frame of [
      { action: 'publish', clientId: 'o2', text: 'After the rotation' },
      { action: 'edit', clientId: 'o3', seq: 1, text: 'Edited after the rotation' },
      { action: 'pin', clientId: 'o4', seq: 1, pinned: true },
      { action: 'delete', clientId: 'o5', seq: 1 },
      { action: 'publish', clientId: 'o6', text: 'Still after the rotation' },
    ]) {
      const answer = await send(old, frame);
      expect(answer, frame.clientId).toMatchObject({ type: 'error', code: 'forbidden', clientId: frame.clientId });
      expect((answer as ErrorFrame).message).toMatch(/replaced.*reconnect with the new token/);
    }
    expect(await timeline(event.eventId)).toEqual(before);
    expect(await lastSeq(event.eventId)).toBe(1);

    const reporter = await client(reporterUrl(stage, next));
    expect(await send(reporter, { action: 'publish', clientId: 'n1', text: 'The new reporter' })).toEqual({
      type: 'ack',
      clientId: 'n1',
      seq: 2,
      rev: 1,
    });
    const update = await viewer.next<UpdateFrame>(isUpdate(2));
    expect(update.entry).toMatchObject({ seq: 2, rev: 1, text: 'The new reporter' });
    // The old connection stays open, as an audience: it still receives what is published.
    await old.next(isUpdate(2));
    // The viewer saw seq 1 at rev 1 and seq 2, nothing of the refused writes.
    const updates = viewer.frames
      .filter((f): f is UpdateFrame => f.type === 'update')
      .map((f) => [f.entry.seq, f.entry.rev]);
    expect(updates).toEqual([
      [1, 1],
      [2, 1],
    ]);
    expect(await timeline(event.eventId)).toMatchObject([
      { seq: 1, rev: 1, text: 'Before the rotation', pinned: false, deleted: false },
      { seq: 2, rev: 1, text: 'The new reporter' },
    ]);
  });
});

describe('a rotation racing publishes', () => {
  it('lets each publish either commit before it (acked, stored) or be refused (nothing stored); no gap, nothing acked after', async () => {
    const event = await createEvent(stage);
    const reporters = await Promise.all([client(reporterUrl(stage, event)), client(reporterUrl(stage, event))]);
    const perReporter = 25;
    const sent = reporters.map((c, r) => {
      const frames = Array.from({ length: perReporter }, (_, i) => ({
        action: 'publish',
        clientId: `r${r}-${i}`,
        text: `Reporter ${r}, update ${i}`,
      }));
      for (const f of frames) c.send(f);
      return frames;
    });
    // Rotate once both are under way, while the rest are still being written.
    await Promise.all(reporters.map((c, r) => c.next(answerTo(`r${r}-0`), { timeoutMs: 60_000 })));
    const next = await rotated(event);
    // Anything sent once the rotation has answered is refused.
    const late = await send(reporters[0], {
      action: 'publish',
      clientId: 'late',
      text: 'Sent after the rotation answered',
    });
    expect(late).toMatchObject({ type: 'error', code: 'forbidden' });

    const acked = new Map<number, string>();
    let refused = 0;
    for (const [r, c] of reporters.entries()) {
      let refusedYet = false;
      for (const frame of sent[r]!) {
        const answer = await c.next<AckFrame | ErrorFrame>(answerTo(frame.clientId), { timeoutMs: 60_000 });
        if (answer.type === 'ack') {
          // Messages of one connection are handled in order here: once refused, never acked again.
          expect(refusedYet, frame.clientId).toBe(false);
          expect(acked.has(answer.seq)).toBe(false);
          acked.set(answer.seq, frame.text);
        } else {
          expect(answer, frame.clientId).toMatchObject({ code: 'forbidden' });
          refusedYet = true;
          refused++;
        }
      }
    }
    // Every ack is stored, nothing refused is: the timeline is exactly the acked seqs, 1..n, no gap.
    const stored = await timeline(event.eventId);
    expect(stored.map((e) => e.seq)).toEqual(Array.from({ length: acked.size }, (_, i) => i + 1));
    for (const entry of stored) expect(entry.text).toBe(acked.get(entry.seq));
    expect(await lastSeq(event.eventId)).toBe(acked.size);
    expect(acked.size + refused).toBe(2 * perReporter);
    expect(acked.size).toBeGreaterThanOrEqual(2);

    const reporter = await client(reporterUrl(stage, next));
    expect(await send(reporter, { action: 'publish', clientId: 'n1', text: 'The new reporter' })).toEqual({
      type: 'ack',
      clientId: 'n1',
      seq: acked.size + 1,
      rev: 1,
    });
  }, 120_000);
});
