// Real image files made in the test (no binary fixtures): a PNG of a given size, and a POST of one
// to a presigned upload, as a browser's fetch + FormData sends it.
import { deflateSync } from 'node:zlib';

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc32 = (buf: Buffer) => {
  let c = 0xffffffff;
  for (const b of buf) c = crcTable[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
};
function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** A valid RGB PNG, `width` × `height`, a gradient so it is not all one colour. */
export function png(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.writeUInt8(8, 8); // bit depth
  ihdr.writeUInt8(2, 9); // truecolour
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1);
    for (let x = 0; x < width; x++) raw.set([(x * 255) / width, (y * 255) / height, 128], row + 1 + x * 3);
  }
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

export interface Upload {
  url: string;
  method: string;
  fields?: Record<string, string>;
}

/** Sends `bytes` with a presigned POST: its fields, then the file last (S3 ignores fields after it). `override` changes or adds fields. */
export async function postUpload(upload: Upload, bytes: Buffer, contentType: string, override: Record<string, string> = {}): Promise<Response> {
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
