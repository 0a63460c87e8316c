// A photo the way the console sends one: POST /events/{id}/images for a presigned POST, then the
// bytes straight to storage as multipart/form-data (the fields, the file last). Used by `npm run simulate`.
import { setTimeout as sleep } from 'node:timers/promises';

export interface UploadedPhoto {
  imageId: string;
  /** Where the photo is served once published (relative to the HTTP API's origin on the local stage). */
  url: string;
}

export async function uploadPhoto(
  httpUrl: string,
  event: { eventId: string; operatorToken: string },
  bytes: Buffer,
  contentType: string,
): Promise<UploadedPhoto> {
  for (;;) {
    const res = await fetch(`${httpUrl}/events/${encodeURIComponent(event.eventId)}/images`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${event.operatorToken}` },
      body: JSON.stringify({ contentType, bytes: bytes.length }),
    });
    if (res.status === 429) {
      // Over the event's allowance: wait as told, as the console does.
      const { error } = (await res.json()) as { error: { retryAfterMs?: number } };
      await sleep(error.retryAfterMs ?? 1_000);
      continue;
    }
    if (res.status !== 201)
      throw new Error(`photo upload refused: POST /images answered ${res.status} ${await res.text()}`);
    const { imageId, url, upload } = (await res.json()) as {
      imageId: string;
      url: string;
      upload: { url: string; method: string; fields?: Record<string, string> };
    };
    const form = new FormData();
    for (const [k, v] of Object.entries(upload.fields ?? {})) form.append(k, v);
    form.append('file', new Blob([new Uint8Array(bytes)], { type: contentType }), 'photo');
    const stored = await fetch(upload.url, { method: upload.method, body: form });
    if (stored.status >= 300) throw new Error(`storage refused the photo: ${stored.status} ${await stored.text()}`);
    return { imageId, url };
  }
}
