// Real image files made in the test (no binary fixtures): a PNG of a given size (scripts/lib/png.ts),
// and a POST of one to a presigned upload, as a browser's fetch + FormData sends it.

export { png } from '../../scripts/lib/png';

export interface Upload {
  url: string;
  method: string;
  fields?: Record<string, string>;
}

/** Sends `bytes` with a presigned POST: its fields, then the file last (S3 ignores fields after it). `override` changes or adds fields. */
export async function postUpload(
  upload: Upload,
  bytes: Buffer,
  contentType: string,
  override: Record<string, string> = {},
): Promise<Response> {
  const form = new FormData();
  for (const [k, v] of Object.entries({ ...upload.fields, ...override })) form.append(k, v);
  form.append('file', new Blob([new Uint8Array(bytes)], { type: contentType }), 'photo');
  return fetch(upload.url, { method: upload.method, body: form });
}

/** Asks the stage for a presigned upload (POST /events/{id}/images) and, unless `post` is false, sends `bytes` with it: the image id. */
export async function uploadImage(
  httpUrl: string,
  event: { eventId: string; operatorToken: string },
  bytes: Buffer,
  contentType = 'image/png',
  post = true,
): Promise<{ imageId: string; url: string }> {
  const res = await fetch(`${httpUrl}/events/${encodeURIComponent(event.eventId)}/images`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${event.operatorToken}` },
    body: JSON.stringify({ contentType, bytes: bytes.length }),
  });
  if (res.status !== 201) throw new Error(`presign: ${res.status} ${await res.text()}`);
  const presigned = (await res.json()) as { imageId: string; url: string; upload: Upload };
  if (post) {
    const stored = await postUpload(presigned.upload, bytes, contentType);
    if (stored.status >= 300) throw new Error(`upload: ${stored.status} ${await stored.text()}`);
  }
  return { imageId: presigned.imageId, url: presigned.url };
}
