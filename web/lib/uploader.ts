// One photo to storage, as PROTOCOL.md v1.1 says: POST /events/{id}/images (the operator token as
// Bearer) returns a presigned request, and the bytes go straight to storage with it — through
// XMLHttpRequest, the one browser API that reports upload progress.
import type { ErrorCode } from '../../shared/domain/protocol';
import type { PageConfig } from './config';
import type { PhotoType } from './photos';

export interface PresignedImage {
  imageId: string;
  upload: { url: string; method: string; headers?: Record<string, string>; fields?: Record<string, string> };
  url: string;
}

/** Why an upload did not happen. `transient`: the same photo may go through later (network, 429, 5xx). */
export class UploadError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly transient: boolean,
    readonly retryAfterMs?: number,
    /** No answer at all (offline): worth trying again as soon as the network is back. */
    readonly network = false,
  ) {
    super(message);
  }
}

/** Uploads one photo; resolves to its imageId once storage has the bytes. `onProgress`: 0..1. */
export type UploadPhoto = (
  blob: Blob,
  contentType: PhotoType,
  onProgress: (fraction: number) => void,
) => Promise<string>;

export function photoUploader(config: PageConfig, eventId: string, token: string): UploadPhoto {
  return async (blob, contentType, onProgress) => {
    const presigned = await presign(config, eventId, token, contentType, blob.size);
    await send(presigned.upload, blob, contentType, onProgress);
    return presigned.imageId;
  };
}

async function presign(
  config: PageConfig,
  eventId: string,
  token: string,
  contentType: PhotoType,
  bytes: number,
): Promise<PresignedImage> {
  let res: Response;
  try {
    res = await fetch(`${config.apiUrl}/events/${encodeURIComponent(eventId)}/images`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ contentType, bytes }),
    });
  } catch (err) {
    throw new UploadError('internal', err instanceof Error ? err.message : String(err), true, undefined, true);
  }
  const body = (await res.json().catch(() => undefined)) as
    (PresignedImage & { error?: { code?: ErrorCode; message?: string; retryAfterMs?: number } }) | undefined;
  if (res.ok && body?.imageId && body.upload) return body;
  const code =
    body?.error?.code ?? (res.status === 429 ? 'rate_limited' : res.status >= 500 ? 'internal' : 'bad_request');
  throw new UploadError(
    code,
    body?.error?.message ?? `HTTP ${res.status}`,
    res.status === 429 || res.status >= 500,
    body?.error?.retryAfterMs,
  );
}

function send(
  upload: PresignedImage['upload'],
  blob: Blob,
  contentType: string,
  onProgress: (fraction: number) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(upload.method, upload.url);
    let body: Blob | FormData = blob;
    if (upload.fields) {
      // A presigned POST: its fields first, the file last (storage ignores fields after the file).
      const form = new FormData();
      for (const [k, v] of Object.entries(upload.fields)) form.append(k, v);
      form.append('file', blob, 'photo');
      body = form;
    } else {
      xhr.setRequestHeader('content-type', contentType);
    }
    for (const [k, v] of Object.entries(upload.headers ?? {})) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (ev) => {
      if (ev.lengthComputable && ev.total > 0) onProgress(Math.min(1, ev.loaded / ev.total));
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve();
        return;
      }
      // Storage answers in S3's XML: its <Message> is the reason (EntityTooLarge, a policy condition…).
      const message =
        /<Message>([^<]*)<\/Message>/.exec(xhr.responseText)?.[1] ?? `storage answered HTTP ${xhr.status}`;
      const transient = xhr.status === 429 || xhr.status === 408 || xhr.status >= 500;
      reject(
        new UploadError(
          xhr.status === 429 ? 'rate_limited' : transient ? 'internal' : 'bad_request',
          message,
          transient,
        ),
      );
    };
    xhr.onerror = () => reject(new UploadError('internal', 'the upload did not reach storage', true, undefined, true));
    xhr.ontimeout = xhr.onerror;
    xhr.onabort = xhr.onerror;
    xhr.send(body);
  });
}
