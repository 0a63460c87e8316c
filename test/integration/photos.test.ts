// Publishing photos on the real local stage: real PNGs made here, uploaded through the real presigned
// POST to the S3 stand-in, then published and edited over real WebSockets. Every refused frame
// changes nothing (no entry, no change, no served copy); a retry with the same clientId is acked as
// the first was.
import { DeleteObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { XMLParser } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Stage } from '../../local/stage';
import type { AckFrame, Entry, ErrorFrame, ServerFrame, SyncedFrame, UpdateFrame } from '../../shared/domain/protocol';
import { png, uploadImage } from '../support/images';
import { type CreatedEvent, createEvent, reporterUrl, stageDb, testStage, viewerUrl } from '../support/stage';
import { OpenClients, type TestClient } from '../support/ws-client';

let stage: Stage;
let s3: S3Client;
const clients = new OpenClients();

beforeAll(async () => {
  stage = await testStage({
    env: { LIVECAST_IMAGE_UPLOADS_PER_MINUTE: '1000', LIVECAST_IMAGE_UPLOADS_PER_ADDRESS: '1000' },
  });
  s3 = new S3Client({
    endpoint: stage.s3.endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
});
afterAll(async () => {
  await clients.closeAll();
  s3?.destroy();
  await stage?.stop();
});

const isReply = (clientId: string) => (f: ServerFrame) =>
  (f.type === 'ack' || f.type === 'error') && f.clientId === clientId;
const isUpdate =
  (seq: number, rev = 1) =>
  (f: ServerFrame) =>
    f.type === 'update' && f.entry.seq === seq && f.entry.rev === rev;

/** An entry image's url as a browser on the page's origin resolves it. */
const served = (url: string) => new URL(url, stage.httpUrl).toString();
const upload = (event: CreatedEvent, bytes: Buffer, contentType = 'image/png', post = true) =>
  uploadImage(stage.httpUrl, event, bytes, contentType, post);

/** Sends a frame and waits for its ack or error. */
async function send(
  c: TestClient,
  frame: { clientId: string } & Record<string, unknown>,
): Promise<AckFrame | ErrorFrame> {
  const from = c.frames.length;
  c.send(frame);
  return c.next<AckFrame | ErrorFrame>(isReply(frame.clientId), { from, timeoutMs: 30_000 });
}

async function timeline(eventId: string): Promise<Entry[]> {
  const res = await fetch(`${stage.httpUrl}/events/${eventId}/timeline?limit=500`);
  return ((await res.json()) as { items: Entry[] }).items;
}

async function eventState(eventId: string): Promise<{ lastSeq: number }> {
  return (await (await fetch(`${stage.httpUrl}/events/${eventId}`)).json()) as { lastSeq: number };
}

async function keys(prefix: string): Promise<string[]> {
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: stage.imagesBucket, Prefix: prefix }));
  return (listed.Contents ?? []).map((o) => o.Key!).sort();
}

describe('publish with images', () => {
  let event: CreatedEvent;
  let reporter: TestClient;
  let viewer: TestClient;

  beforeAll(async () => {
    event = await createEvent(stage, 'photos');
    reporter = await clients.connect(reporterUrl(stage, event));
    viewer = await clients.connect(viewerUrl(stage, event.eventId));
  });

  it('publishes a photo-only update: every viewer gets the photos with their sizes, served as images where the entry says', async () => {
    const wide = png(64, 48);
    const tall = png(30, 90);
    const a = await upload(event, wide);
    const b = await upload(event, tall);
    const from = viewer.frames.length;
    const ack = await send(reporter, {
      action: 'publish',
      clientId: 'photo-1',
      text: '',
      images: [a.imageId, { imageId: b.imageId, alt: '龙舟 on the river' }],
    });
    expect(ack).toMatchObject({ type: 'ack', seq: 1, rev: 1 });

    const update = await viewer.next<UpdateFrame>(isUpdate(1), { from });
    expect(update.entry.text).toBe('');
    expect(update.entry.images).toEqual([
      { url: a.url, width: 64, height: 48 },
      { url: b.url, width: 30, height: 90, alt: '龙舟 on the river' },
    ]);
    // The url (relative to the HTTP API's origin, which serves the pages locally) serves the very bytes, as an image.
    for (const [image, bytes] of [
      [update.entry.images[0]!, wide],
      [update.entry.images[1]!, tall],
    ] as const) {
      expect(image.url).toBe(`/images/${event.eventId}/${image === update.entry.images[0] ? a.imageId : b.imageId}`);
      const res = await fetch(served(image.url));
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('image/png');
      expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true);
    }
    // Stored where it is served, apart from the uploads the lifecycle rule removes: gone from
    // uploads/, it is still served.
    await s3.send(
      new DeleteObjectCommand({ Bucket: stage.imagesBucket, Key: `uploads/${event.eventId}/${a.imageId}` }),
    );
    expect((await fetch(served(update.entry.images[0]!.url))).status).toBe(200);
    // Only published photos are served: never an upload, nor anything else in the bucket.
    const unpublished = await upload(event, png(5, 5));
    expect((await fetch(served(`/images/${event.eventId}/${unpublished.imageId}`))).status).toBe(404);
    expect((await fetch(served(`/uploads/${event.eventId}/${unpublished.imageId}`))).status).not.toBe(200);
    const head = await s3.send(
      new HeadObjectCommand({ Bucket: stage.imagesBucket, Key: `images/${event.eventId}/${a.imageId}` }),
    );
    expect(head.CacheControl).toContain('immutable');

    // The timeline, a sync and the revisions carry them too.
    expect((await timeline(event.eventId))[0]?.images).toEqual(update.entry.images);
    const late = await clients.connect(viewerUrl(stage, event.eventId));
    late.send({ action: 'sync', since: 0 });
    await late.next<SyncedFrame>((f) => f.type === 'synced');
    expect(late.frames.find((f): f is UpdateFrame => f.type === 'update')?.entry.images).toEqual(update.entry.images);
    const revisions = (await (await fetch(`${stage.httpUrl}/events/${event.eventId}/revisions`)).json()) as {
      items: { entry: Entry }[];
    };
    expect(revisions.items[0]?.entry.images).toEqual(update.entry.images);
  });

  it('gives a text update, and an entry stored before photos existed, images: []', async () => {
    const ack = await send(reporter, { action: 'publish', clientId: 'text-1', text: 'Words only' });
    expect(ack.type).toBe('ack');
    const seq = (ack as AckFrame).seq;
    await stageDb(stage).send(
      new PutCommand({
        TableName: stage.tables.entries,
        Item: {
          eventId: event.eventId,
          seq: 999,
          rev: 1,
          kind: 'text',
          text: 'old',
          pinned: false,
          deleted: false,
          createdAt: 't',
          updatedAt: 't',
          clientId: 'old',
        },
      }),
    );
    const items = await timeline(event.eventId);
    expect(items.find((e) => e.seq === seq)?.images).toEqual([]);
    expect(items.find((e) => e.seq === 999)?.images).toEqual([]);
  });

  it('refuses every bad images list with a clear error, and changes nothing', async () => {
    const other = await createEvent(stage, 'someone else');
    const good = await upload(event, png(8, 8));
    const notPosted = await upload(event, png(8, 8), 'image/png', false);
    const othersImage = await upload(other, png(8, 8));
    const notAnImage = await upload(event, Buffer.from('this is not a picture at all'), 'image/png');
    const mislabelled = await upload(event, png(8, 8), 'image/jpeg');
    const five = await Promise.all(Array.from({ length: 5 }, () => upload(event, png(4, 4))));

    const before = {
      state: await eventState(event.eventId),
      timeline: await timeline(event.eventId),
      served: await keys(`images/${event.eventId}/`),
    };
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ text: 'x', images: [notPosted.imageId] }, 'bad_request', /not stored yet/],
      [{ text: 'x', images: [good.imageId, notPosted.imageId] }, 'bad_request', /not stored yet/],
      [{ text: 'x', images: [othersImage.imageId] }, 'bad_request', /not stored yet/],
      [{ text: 'x', images: [notAnImage.imageId] }, 'bad_request', /cannot be decoded/],
      [{ text: 'x', images: [mislabelled.imageId] }, 'bad_request', /not a JPEG/],
      [{ text: 'x', images: five.map((f) => f.imageId) }, 'bad_request', /at most 4/],
      [{ text: 'x', images: [good.imageId, good.imageId] }, 'bad_request', /only once/],
      [{ text: 'x', images: ['../../etc/passwd'] }, 'bad_request', /not an image id/],
      [{ text: 'x', images: [{ imageId: good.imageId, alt: 'a'.repeat(301) }] }, 'too_large', /alt/],
      [{ text: 'x', images: [{ imageId: good.imageId, caption: 'no' }] }, 'bad_request', /caption/],
      [{ text: '', images: [] }, 'bad_request', /text must not be empty/],
      [{ text: '' }, 'bad_request', /text must not be empty/],
      [{ text: 'x', images: 'nope' }, 'bad_request', /./],
    ];
    let n = 0;
    for (const [fields, code, message] of cases) {
      const reply = await send(reporter, { action: 'publish', clientId: `bad-${n++}`, ...fields });
      expect(reply, JSON.stringify(fields)).toMatchObject({ type: 'error', code });
      expect((reply as ErrorFrame).message, JSON.stringify(fields)).toMatch(message);
    }
    expect(await eventState(event.eventId)).toEqual(before.state);
    expect(await timeline(event.eventId)).toEqual(before.timeline);
    // Nothing was copied to the served prefix, not even the good photo listed beside a bad one.
    expect(await keys(`images/${event.eventId}/`)).toEqual(before.served);
    // The good one is still publishable.
    expect(
      (await send(reporter, { action: 'publish', clientId: 'good-after-bad', text: 'ok', images: [good.imageId] }))
        .type,
    ).toBe('ack');
  });

  it('a retry with the same clientId is acked as the first, once, even after its uploads expired', async () => {
    const photo = await upload(event, png(20, 10));
    const frame = { action: 'publish', clientId: 'retry-1', text: 'Twice sent', images: [photo.imageId] };
    const first = (await send(reporter, frame)) as AckFrame;
    expect(first.type).toBe('ack');
    const after = await eventState(event.eventId);
    const again = await send(reporter, frame);
    expect(again).toEqual(first);
    // The lifecycle rule removed the upload: the retry still gets its ack, from the served copy.
    await s3.send(
      new DeleteObjectCommand({ Bucket: stage.imagesBucket, Key: `uploads/${event.eventId}/${photo.imageId}` }),
    );
    expect(await send(reporter, frame)).toEqual(first);
    expect(await eventState(event.eventId)).toEqual(after);
    const published = (await timeline(event.eventId)).filter((e) => e.text === 'Twice sent');
    expect(published).toHaveLength(1);
    expect(published[0]?.images).toEqual([{ url: photo.url, width: 20, height: 10 }]);
  });

  it('edit replaces, keeps or removes the photos; delete takes them with the text', async () => {
    const one = await upload(event, png(10, 10));
    const two = await upload(event, png(12, 6));
    const { seq } = (await send(reporter, {
      action: 'publish',
      clientId: 'edit-base',
      text: 'Before',
      images: [one.imageId],
    })) as AckFrame;
    const current = async () => (await timeline(event.eventId)).find((e) => e.seq === seq)!;

    expect(
      await send(reporter, { action: 'edit', clientId: 'edit-1', seq, text: '', images: [two.imageId, one.imageId] }),
    ).toMatchObject({ type: 'ack', rev: 2 });
    expect((await current()).images.map((i) => [i.width, i.height])).toEqual([
      [12, 6],
      [10, 10],
    ]);
    // Without `images` the photos stay, and the text may then be empty.
    expect(await send(reporter, { action: 'edit', clientId: 'edit-2', seq, text: '' })).toMatchObject({
      type: 'ack',
      rev: 3,
    });
    expect((await current()).images).toHaveLength(2);
    // Removing the photos needs text.
    const refused = await send(reporter, { action: 'edit', clientId: 'edit-3', seq, text: '', images: [] });
    expect(refused).toMatchObject({ type: 'error', code: 'bad_request' });
    expect((await current()).rev).toBe(3);
    expect(
      await send(reporter, { action: 'edit', clientId: 'edit-4', seq, text: 'Words now', images: [] }),
    ).toMatchObject({ type: 'ack', rev: 4 });
    expect((await current()).images).toEqual([]);

    const { seq: other } = (await send(reporter, {
      action: 'publish',
      clientId: 'del-base',
      text: '',
      images: [one.imageId],
    })) as AckFrame;
    expect(await send(reporter, { action: 'delete', clientId: 'del-1', seq: other })).toMatchObject({ type: 'ack' });
    expect((await timeline(event.eventId)).find((e) => e.seq === other)).toMatchObject({
      deleted: true,
      text: '',
      images: [],
    });
    // Anyone reading the history of a deleted entry sees no photo either.
    const revisions = (await (await fetch(`${stage.httpUrl}/events/${event.eventId}/revisions?limit=500`)).json()) as {
      items: { entry: Entry }[];
    };
    expect(revisions.items.filter((r) => r.entry.seq === other).map((r) => r.entry.images)).toEqual([[], []]);
  });
});

describe("photos beyond the page: the feeds and the crawlers' snapshot", () => {
  it("carry each entry's photos with absolute urls, sizes and alt text; a shared link previews the newest photo", async () => {
    const event = await createEvent(stage, 'photos in feeds');
    const reporter = await clients.connect(reporterUrl(stage, event));
    const a = await upload(event, png(64, 48));
    const b = await upload(event, png(30, 90));
    expect(await send(reporter, { action: 'publish', clientId: 'text', text: '开幕前' })).toMatchObject({
      type: 'ack',
      seq: 1,
    });
    expect(
      await send(reporter, {
        action: 'publish',
        clientId: 'photos',
        text: '剪彩 <b>现场</b>',
        images: [a.imageId, { imageId: b.imageId, alt: '龙舟 "冲线" <赛>' }],
      }),
    ).toMatchObject({ type: 'ack', seq: 2 });
    const [photo1, photo2] = (await timeline(event.eventId)).find((e) => e.seq === 2)!.images;
    const abs1 = served(photo1!.url);
    const abs2 = served(photo2!.url);
    // The urls resolve to the photos themselves.
    expect((await fetch(abs2)).headers.get('content-type')).toBe('image/png');

    const json = (await (await fetch(`${stage.httpUrl}/events/${event.eventId}/feed.json`)).json()) as {
      items: { id: string; image?: string; content_html?: string; content_text: string }[];
    };
    const [withPhotos, plain] = json.items;
    expect(withPhotos?.image).toBe(abs1);
    expect(withPhotos?.content_text).toBe('剪彩 <b>现场</b>');
    expect(withPhotos?.content_html).toContain(`<img src="${abs1}" width="64" height="48" alt=""`);
    expect(withPhotos?.content_html).toContain(
      `<img src="${abs2}" width="30" height="90" alt="龙舟 &quot;冲线&quot; &lt;赛&gt;"`,
    );
    expect(withPhotos?.content_html).toContain('剪彩 &lt;b&gt;现场&lt;/b&gt;');
    // A text entry stays text only.
    expect(plain).not.toHaveProperty('image');
    expect(plain).not.toHaveProperty('content_html');

    const atom = await (await fetch(`${stage.httpUrl}/events/${event.eventId}/feed.atom`)).text();
    const parsed = new XMLParser({ ignoreAttributes: false }).parse(atom) as {
      feed: { entry: { content: { '#text': string } }[] };
    };
    const content = parsed.feed.entry[0]!.content['#text'];
    expect(content).toContain(`<img src="${abs1}"`);
    expect(content).toContain(`<img src="${abs2}" width="30" height="90"`);

    const html = await (await fetch(`${stage.httpUrl}/events/${event.eventId}/snapshot`)).text();
    expect(html).toContain(`<meta property="og:image" content="${abs1}">`);
    expect(html).toContain('<meta property="og:image:width" content="64">');
    expect(html).toContain('<meta name="twitter:card" content="summary_large_image">');
    expect(html).toContain(
      `<img src="${abs2}" width="30" height="90" alt="龙舟 &quot;冲线&quot; &lt;赛&gt;" loading="lazy">`,
    );
    const ld = JSON.parse(/<script type="application\/ld\+json">(.*?)<\/script>/s.exec(html)![1]!) as {
      liveBlogUpdate: { image?: { url: string; width: number; height: number; caption?: string }[] }[];
    };
    expect(ld.liveBlogUpdate[0]?.image).toEqual([
      { '@type': 'ImageObject', url: abs1, width: 64, height: 48 },
      { '@type': 'ImageObject', url: abs2, width: 30, height: 90, caption: '龙舟 "冲线" <赛>' },
    ]);
    expect(ld.liveBlogUpdate[1]).not.toHaveProperty('image');
  });
});
