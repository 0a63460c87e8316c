// The pages on the local HTTP port, as CloudFront serves them deployed: `/live/{id}`,
// `/report/{id}`, `/replay/{id}`, `/embed/{id}` and `/organiser` answer their page's HTML shell,
// `/assets/*` the bundles, and `/config.json` where the APIs are — this origin for HTTP, the local
// WebSocket stage for live. The shells carry the deployed framing rules: the embed may be framed by
// the sites its setting names, every other page by its own origin only.
import { readFile } from 'node:fs/promises';
import type http from 'node:http';
import { join, normalize, sep } from 'node:path';
import { PAGE_FRAME_ANCESTORS } from '../shared/config';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
};
const PAGE = /^\/(live|report|replay|embed)\/[^/]+\/?$/;
const ORGANISER = /^\/organiser\/?$/;

export interface WebPagesOptions {
  /** The folder `buildWeb` wrote. */
  dir: string;
  /** The local WebSocket stage, e.g. ws://127.0.0.1:3001. */
  wsUrl: string;
  /** CSP `frame-ancestors` sources for `/embed/*` (shared/config.ts parseFrameAncestors). @default ['\'self\''] */
  embedAncestors?: readonly string[];
}

/** A fallback for the local HTTP gateway: true when it answered the request. */
export function webPages(
  opts: WebPagesOptions,
): (req: http.IncomingMessage, res: http.ServerResponse) => Promise<boolean> {
  const root = normalize(opts.dir + sep);
  // No X-Frame-Options on the embed: it knows no list of sites, and SAMEORIGIN would refuse them all
  // in a browser that reads it before (or instead of) frame-ancestors.
  const embedFraming = {
    'content-security-policy': `frame-ancestors ${(opts.embedAncestors ?? PAGE_FRAME_ANCESTORS).join(' ')}`,
  };
  return async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const path = new URL(req.url ?? '/', 'http://local').pathname;
    if (path === '/config.json') {
      send(
        req,
        res,
        200,
        TYPES['.json']!,
        JSON.stringify({ apiUrl: '', wsUrl: wsUrlFor(req, opts.wsUrl) }),
        'no-store',
      );
      return true;
    }
    let file: string | undefined;
    let frames = PAGE_FRAMING;
    const page = PAGE.exec(path);
    if (page) {
      file = join(root, page[1]!, 'index.html');
      if (page[1] === 'embed') frames = embedFraming;
    } else if (ORGANISER.test(path)) file = join(root, 'organiser', 'index.html');
    else if (path === '/' || path === '/index.html') file = join(root, 'index.html');
    else if (path.startsWith('/assets/')) {
      file = normalize(join(root, decodeURIComponent(path)));
      if (!file.startsWith(root)) return false;
    }
    if (!file) return false;
    let body: Buffer;
    try {
      body = await readFile(file);
    } catch {
      return false;
    }
    const ext = file.slice(file.lastIndexOf('.'));
    // The shells are revalidated every time; the assets' names carry their content hash.
    send(
      req,
      res,
      200,
      TYPES[ext] ?? 'application/octet-stream',
      body,
      ext === '.html' ? 'no-cache' : 'public, max-age=31536000, immutable',
      ext === '.html' ? frames : {},
    );
    return true;
  };
}

/** The WebSocket stage on the host name the browser used (a phone on the LAN does not reach 127.0.0.1). */
function wsUrlFor(req: http.IncomingMessage, wsUrl: string): string {
  const host = (req.headers.host ?? '').replace(/:\d+$/, '');
  if (!host || host === 'localhost' || host === '127.0.0.1' || host === '[::1]') return wsUrl;
  const url = new URL(wsUrl);
  url.hostname = host;
  return url.toString().replace(/\/$/, '');
}

/**
 * Who may frame a shell other than the embed: its own origin. A `<meta>` CSP cannot say it (browsers
 * ignore frame-ancestors there), so it is a header, as CloudFront's response headers policy sends it.
 */
const PAGE_FRAMING: Record<string, string> = {
  'content-security-policy': `frame-ancestors ${PAGE_FRAME_ANCESTORS.join(' ')}`,
  'x-frame-options': 'SAMEORIGIN',
};

function send(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  status: number,
  type: string,
  body: string | Buffer,
  cache: string,
  extra: Record<string, string> = {},
): void {
  res.writeHead(status, {
    ...extra,
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'cache-control': cache,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}
