// `/images/*` on the local HTTP port, as the CloudFront distribution's `images/*` behaviour serves the
// bucket's published photos deployed: the pages (served on this origin, CSP img-src 'self') and a
// phone on the LAN load them from the origin they already reach. GET and HEAD only, only the
// `images/` prefix (never `uploads/`), passed through to the S3 stand-in with its status, type and
// caching headers.
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { IMAGES_PREFIX } from '../shared/domain/images';

export interface ServedImagesOptions {
  /** The S3 stand-in, `http://host:port`. */
  s3Endpoint: string;
  bucket: string;
}

/** Passed on from storage's answer: what a browser needs to show and cache the image. */
const KEPT = ['content-type', 'content-length', 'cache-control', 'etag', 'last-modified'] as const;

/** A fallback for the local HTTP gateway: true when it answered the request. */
export function servedImages(
  opts: ServedImagesOptions,
): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const upstream = new URL(opts.s3Endpoint);
  return async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const path = new URL(req.url ?? '/', 'http://local').pathname;
    if (!path.startsWith(`/${IMAGES_PREFIX}`) || path.includes('/../') || path.includes('%2F') || path.includes('%2f'))
      return false;
    await new Promise<void>((resolve) => {
      const out = httpRequest(
        {
          hostname: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: `/${opts.bucket}${path}`,
          headers: { accept: '*/*' },
        },
        (up) => {
          const status = up.statusCode ?? 502;
          // Storage's own error documents (XML, naming the bucket) stay here: a miss is a plain 404.
          if (status === 404 || status === 403) {
            up.resume();
            res
              .writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' })
              .end(req.method === 'HEAD' ? undefined : 'no such image\n');
            return resolve();
          }
          const headers: Record<string, string> = { 'x-content-type-options': 'nosniff' };
          for (const name of KEPT) {
            const v = up.headers[name];
            if (typeof v === 'string') headers[name] = v;
          }
          res.writeHead(status, headers);
          up.pipe(res);
          up.once('end', resolve);
          up.once('error', () => {
            res.destroy();
            resolve();
          });
        },
      );
      out.once('error', () => {
        if (!res.headersSent)
          res.writeHead(502, { 'content-type': 'text/plain; charset=utf-8' }).end('storage is not reachable\n');
        resolve();
      });
      out.end();
    });
    return true;
  };
}
