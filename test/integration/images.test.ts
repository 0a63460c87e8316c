// Photo uploads on the real local stage: POST /events/{id}/images presigns, the bytes go straight to
// the S3 stand-in with fetch + FormData, and storage — not the function — refuses a wrong type or
// size. Every refused request changes nothing.
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Stage } from '../../local/stage';
import { ADMIN_KEY, type CreatedEvent, createEvent, testStage } from '../support/stage';
import { png, postUpload, type Upload } from '../support/images';

let stage: Stage;
let s3: S3Client;
let event: CreatedEvent;

beforeAll(async () => {
  // Small allowances so the limits are reached in a few calls.
  stage = await testStage({
    env: { LIVECAST_IMAGE_UPLOADS_PER_MINUTE: '6', LIVECAST_IMAGE_UPLOADS_PER_ADDRESS: '1000' },
  });
  s3 = new S3Client({
    endpoint: stage.s3.endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  event = await createEvent(stage);
});
afterAll(async () => {
  s3?.destroy();
  await stage?.stop();
});

interface Presigned {
  imageId: string;
  upload: Upload;
  url: string;
}

function ask(eventId: string, body: unknown, token: string | null): Promise<Response> {
  return fetch(`${stage.httpUrl}/events/${encodeURIComponent(eventId)}/images`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function presign(body: { contentType: string; bytes: number }, ev = event): Promise<Presigned> {
  const res = await ask(ev.eventId, body, ev.operatorToken);
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as Presigned;
}

async function stored(): Promise<string[]> {
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: stage.imagesBucket }));
  return (listed.Contents ?? []).map((o) => o.Key!).sort();
}

describe('POST /events/{eventId}/images', () => {
  it('presigns an upload that a browser-style POST stores, with its content type', async () => {
    const photo = png(64, 48);
    const p = await presign({ contentType: 'image/png', bytes: photo.length });
    expect(p.imageId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(p.upload.method).toBe('POST');
    expect(p.url).toContain(`/images/${event.eventId}/${p.imageId}`);
    const res = await postUpload(p.upload, photo, 'image/png');
    expect(res.status, await res.clone().text()).toBeLessThan(300);
    const object = await s3.send(
      new GetObjectCommand({ Bucket: stage.imagesBucket, Key: `uploads/${event.eventId}/${p.imageId}` }),
    );
    expect(object.ContentType).toBe('image/png');
    expect(Buffer.from(await object.Body!.transformToByteArray()).equals(photo)).toBe(true);
  });

  it('storage refuses a file larger than asked for, another content type, a changed key or a forged signature, and stores nothing', async () => {
    const photo = png(64, 48);
    const before = await stored();
    const small = await presign({ contentType: 'image/png', bytes: photo.length - 1 });
    const tooBig = await postUpload(small.upload, photo, 'image/png');
    expect(tooBig.status).toBe(400);
    expect(await tooBig.text()).toContain('EntityTooLarge');

    const p = await presign({ contentType: 'image/png', bytes: photo.length });
    const otherType = await postUpload(p.upload, photo, 'image/gif', { 'Content-Type': 'image/gif' });
    expect(otherType.status).toBe(403);
    expect(await otherType.text()).toContain('Policy Condition failed');
    const otherKey = await postUpload(p.upload, photo, 'image/png', { key: `uploads/${event.eventId}/someone-else` });
    expect(otherKey.status).toBe(403);
    const forged = await postUpload(p.upload, photo, 'image/png', { 'X-Amz-Signature': '0'.repeat(64) });
    expect(forged.status).toBe(403);
    expect(await forged.text()).toContain('SignatureDoesNotMatch');
    expect(await stored()).toEqual(before);
  });

  it('refuses bad bodies with 400, a missing or wrong token with 401, an unknown event with 404', async () => {
    const bad: [unknown, string][] = [
      [{ contentType: 'image/gif', bytes: 10 }, 'contentType'],
      [{ contentType: 'image/png', bytes: 10 * 1024 * 1024 + 1 }, '10 MB'],
      [{ contentType: 'image/png', bytes: 0 }, 'bytes'],
      [{ contentType: 'image/png', bytes: 1.5 }, 'bytes'],
      [{ contentType: 'image/png' }, 'bytes'],
      [{ contentType: 'image/png', bytes: 10, extra: 1 }, 'extra'],
      ['not json', 'JSON'],
    ];
    for (const [body, mentions] of bad) {
      const res = await ask(event.eventId, body, event.operatorToken);
      expect(res.status, JSON.stringify(body)).toBe(400);
      const { error } = (await res.json()) as { error: { code: string; message: string } };
      expect(error.code).toBe('bad_request');
      expect(error.message).toContain(mentions);
    }
    const good = { contentType: 'image/jpeg', bytes: 1000 };
    expect((await ask(event.eventId, good, null)).status).toBe(401);
    expect((await ask(event.eventId, good, 'wrong-token')).status).toBe(401);
    // The organiser's key is not the reporter's token.
    expect((await ask(event.eventId, good, ADMIN_KEY)).status).toBe(401);
    const other = await createEvent(stage, 'another event');
    expect((await ask(other.eventId, good, event.operatorToken)).status).toBe(401);
    expect((await ask('no-such-event', good, event.operatorToken)).status).toBe(404);
  });

  it("answers a browser's CORS preflight and cross-origin POST from the pages' origin, as the deployed bucket's rule does, and no other origin's", async () => {
    const photo = png(16, 16);
    const p = await presign({ contentType: 'image/png', bytes: photo.length });
    const pagesOrigin = new URL(stage.httpUrl).origin;
    // XMLHttpRequest with upload progress: a preflighted request.
    const preflight = (origin: string, method = 'POST') =>
      fetch(p.upload.url, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': method,
          'access-control-request-headers': 'X-Requested-With',
        },
      });
    const ok = await preflight(pagesOrigin);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe(pagesOrigin);
    expect(ok.headers.get('access-control-allow-methods')).toContain('POST');
    expect(ok.headers.get('access-control-allow-headers')).toBe('x-requested-with');
    expect((await preflight('http://evil.example')).status).toBe(403);
    expect((await preflight(pagesOrigin, 'PUT')).status).toBe(403);

    const form = new FormData();
    for (const [k, v] of Object.entries(p.upload.fields ?? {})) form.append(k, v);
    form.append('file', new Blob([new Uint8Array(photo)], { type: 'image/png' }), 'photo');
    const stored = await fetch(p.upload.url, { method: 'POST', body: form, headers: { origin: pagesOrigin } });
    expect(stored.status).toBeLessThan(300);
    expect(stored.headers.get('access-control-allow-origin')).toBe(pagesOrigin);
    // A refusal is readable by the page too (the console shows why).
    const forged = new FormData();
    for (const [k, v] of Object.entries({ ...p.upload.fields, 'X-Amz-Signature': '0'.repeat(64) })) forged.append(k, v);
    forged.append('file', new Blob([new Uint8Array(photo)], { type: 'image/png' }), 'photo');
    const refused = await fetch(p.upload.url, { method: 'POST', body: forged, headers: { origin: pagesOrigin } });
    expect(refused.status).toBe(403);
    expect(refused.headers.get('access-control-allow-origin')).toBe(pagesOrigin);
    const other = new FormData();
    for (const [k, v] of Object.entries(p.upload.fields ?? {})) other.append(k, v);
    other.append('file', new Blob([new Uint8Array(photo)], { type: 'image/png' }), 'photo');
    const elsewhere = await fetch(p.upload.url, {
      method: 'POST',
      body: other,
      headers: { origin: 'http://evil.example' },
    });
    expect(elsewhere.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('a rotated token presigns nothing more', async () => {
    const ev = await createEvent(stage, 'rotation');
    await presign({ contentType: 'image/webp', bytes: 100 }, ev);
    const res = await fetch(`${stage.httpUrl}/events/${ev.eventId}/operator-token`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    });
    expect(res.status).toBe(200);
    expect((await ask(ev.eventId, { contentType: 'image/webp', bytes: 100 }, ev.operatorToken)).status).toBe(401);
  });

  it("limits one event's uploads a minute with 429 and retryAfterMs", async () => {
    const ev = await createEvent(stage, 'limits');
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 8; i++) {
      last = await ask(ev.eventId, { contentType: 'image/jpeg', bytes: 100 }, ev.operatorToken);
      statuses.push(last.status);
    }
    expect(statuses).toEqual([201, 201, 201, 201, 201, 201, 429, 429]);
    const { error } = (await last!.json()) as { error: { code: string; retryAfterMs: number } };
    expect(error.code).toBe('rate_limited');
    expect(error.retryAfterMs).toBeGreaterThan(0);
    expect(last!.headers.get('retry-after')).not.toBeNull();
  });
});
