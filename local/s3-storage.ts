// The local stage's S3: s3rver (an S3-compatible server from npm) behind a small gate that enforces
// what S3 itself enforces on a presigned POST and s3rver leaves out — the policy's signature,
// expiration and every condition (content-length-range, Content-Type, key) — so a browser upload
// that S3 would refuse is refused here too, with S3's status and error code. Everything else (PUT,
// GET, HEAD, the SDK's calls) is passed through to s3rver unchanged.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';
import AWSAccount from 's3rver/lib/models/account.js';
import { listen } from './errors';

/** The local stage's credentials (shared/adapters/aws-clients.ts uses the same pair). */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;

/** A POST body larger than this is cut off before it is parsed (S3's own ceiling for a POST is 5 GB; the stage's callers ask for 10 MB). */
const MAX_POST_BYTES = 64 * 1024 * 1024;

export interface S3StorageOptions {
  port: number;
  host: string;
  /** The buckets to create on start. */
  buckets: readonly string[];
  /** Where s3rver keeps the objects; a temporary folder (removed on stop) when unset. */
  directory?: string;
  /**
   * The bucket's CORS rule, as the Data stack's (infra/stateful-stack.ts) gives S3: which page origins
   * may POST an upload from a browser (preflight answered, `Access-Control-Allow-Origin` on the
   * answer). Unset: none, as a bucket without CORS.
   */
  corsOrigin?: (origin: string) => boolean;
  log?: (line: string) => void;
}

export interface S3Storage {
  /** `http://host:port`: the S3 endpoint (path-style) for the SDK and for browsers. */
  readonly endpoint: string;
  close(): Promise<void>;
}

export async function startS3Storage(opts: S3StorageOptions): Promise<S3Storage> {
  const temp = opts.directory ? undefined : mkdtempSync(join(tmpdir(), 'livecast-s3-'));
  const directory = opts.directory ?? temp!;
  // s3rver verifies the SDK's signatures against its one account: give it the stage's key pair.
  AWSAccount.DUMMY_ACCOUNT.createKeyPair(LOCAL_CREDENTIALS.accessKeyId, LOCAL_CREDENTIALS.secretAccessKey);
  const s3rver = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory,
    // Path-style only: the stage is addressed by IP.
    vhostBuckets: false,
    configureBuckets: opts.buckets.map((name) => ({ name, configs: [] })),
  });
  const inner = await s3rver.run();
  const upstream = { host: '127.0.0.1', port: inner.port };

  const server = createServer((req, res) => {
    const toBucket = isBucketPost(req.url ?? '', opts.buckets);
    if (toBucket && req.method === 'OPTIONS') {
      preflight(req, res, opts.corsOrigin);
      return;
    }
    if (req.method === 'POST' && toBucket && (req.headers['content-type'] ?? '').startsWith('multipart/form-data')) {
      const cors = corsHeaders(req, opts.corsOrigin);
      void gatePost(req, res, upstream, cors, opts.log).catch((err: unknown) => {
        opts.log?.(`s3 gate: ${err instanceof Error ? err.message : String(err)}`);
        if (!res.headersSent)
          sendError(res, 500, 'InternalError', 'We encountered an internal error. Please try again.', cors);
        else res.destroy();
      });
      return;
    }
    pipeThrough(req, res, upstream);
  });
  const port = await listen(server, opts.port, opts.host, 'S3_PORT', 'local S3 storage');
  return {
    endpoint: `http://${opts.host}:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await s3rver.close();
      if (temp) rmSync(temp, { recursive: true, force: true });
    },
  };
}

/** `POST /<bucket>` or `/<bucket>/` (path style, as the stage's clients address it). */
function isBucketPost(url: string, buckets: readonly string[]): boolean {
  const path = url.split('?')[0] ?? '';
  return buckets.some((b) => path === `/${b}` || path === `/${b}/`);
}

/**
 * A browser's preflight for a POST upload, answered as S3 answers it under the bucket's one CORS rule
 * (POST from the allowed origins, any request header, 10 minutes): 200 with the grant, or 403.
 */
function preflight(req: IncomingMessage, res: ServerResponse, allowed: S3StorageOptions['corsOrigin']): void {
  req.resume();
  const origin = req.headers.origin;
  const method = req.headers['access-control-request-method'];
  if (!origin || !method) {
    sendError(res, 400, 'BadRequest', 'Insufficient information. Origin request header needed.');
    return;
  }
  if (method !== 'POST' || !allowed?.(origin)) {
    sendError(
      res,
      403,
      'AccessForbidden',
      "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
    );
    return;
  }
  const headers = req.headers['access-control-request-headers'];
  res.writeHead(200, {
    'access-control-allow-origin': origin,
    'access-control-allow-methods': 'POST',
    ...(headers ? { 'access-control-allow-headers': headers.toLowerCase() } : {}),
    'access-control-max-age': '600',
    'access-control-expose-headers': 'ETag, Location',
    vary: 'Origin, Access-Control-Request-Headers, Access-Control-Request-Method',
    'content-length': '0',
  });
  res.end();
}

/** What S3 adds to the answer of a cross-origin POST its CORS rule allows (none otherwise). */
function corsHeaders(req: IncomingMessage, allowed: S3StorageOptions['corsOrigin']): Record<string, string> {
  const origin = req.headers.origin;
  if (!origin || !allowed?.(origin)) return {};
  return { 'access-control-allow-origin': origin, 'access-control-expose-headers': 'ETag, Location', vary: 'Origin' };
}

function pipeThrough(
  req: IncomingMessage,
  res: ServerResponse,
  upstream: { host: string; port: number },
  body?: Buffer,
  extra: Record<string, string> = {},
): void {
  const out = httpRequest(
    {
      ...upstream,
      method: req.method,
      path: req.url,
      headers: { ...req.headers, ...(body ? { 'content-length': String(body.length) } : {}) },
    },
    (up) => {
      res.writeHead(up.statusCode ?? 502, { ...up.headers, ...extra });
      up.pipe(res);
    },
  );
  out.on('error', () => {
    if (!res.headersSent) sendError(res, 502, 'ServiceUnavailable', 'storage is not reachable');
    else res.destroy();
  });
  if (body) out.end(body);
  else req.pipe(out);
}

function sendError(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  extra: Record<string, string> = {},
): void {
  const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${escapeXml(message)}</Message></Error>`;
  res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(xml), ...extra });
  res.end(xml);
}

const escapeXml = (s: string) => s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);

async function readBody(req: IncomingMessage, max: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

class PolicyError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** S3's browser-based upload (POST Object) with a SigV4 policy: checked as S3 checks it, then stored by s3rver. */
async function gatePost(
  req: IncomingMessage,
  res: ServerResponse,
  upstream: { host: string; port: number },
  cors: Record<string, string>,
  log?: (line: string) => void,
): Promise<void> {
  const body = await readBody(req, MAX_POST_BYTES);
  if (!body) {
    sendError(res, 400, 'EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size', cors);
    req.resume();
    return;
  }
  const form = await new Request('http://local/', {
    method: 'POST',
    headers: { 'content-type': req.headers['content-type'] ?? '' },
    body: new Uint8Array(body),
  }).formData();
  const bucket = (req.url ?? '').split('?')[0]!.replace(/^\/|\/$/g, '');
  try {
    checkPolicy(form, bucket, Date.now());
  } catch (err) {
    if (!(err instanceof PolicyError)) throw err;
    log?.(`s3 gate: refused a POST: ${err.code} ${err.message}`);
    sendError(res, err.status, err.code, err.message, cors);
    return;
  }
  pipeThrough(req, res, upstream, body, cors);
}

type Condition = Record<string, string> | [string, string | number, string | number];

/** Throws the PolicyError S3 would answer with; returns when the upload is allowed. */
export function checkPolicy(form: FormData, bucket: string, now: number): void {
  const fields = new Map<string, string>();
  let file: File | undefined;
  for (const [name, value] of form.entries()) {
    if (typeof value === 'string') fields.set(name.toLowerCase(), value);
    else if (name === 'file') file = value;
  }
  if (!file) throw new PolicyError(400, 'InvalidArgument', 'POST requires exactly one file upload per request.');
  const policyB64 = fields.get('policy');
  const signature = fields.get('x-amz-signature');
  const credential = fields.get('x-amz-credential');
  const algorithm = fields.get('x-amz-algorithm');
  if (!policyB64 || !signature || !credential || algorithm !== 'AWS4-HMAC-SHA256') {
    throw new PolicyError(403, 'AccessDenied', 'Bucket POST must contain a policy signed with AWS4-HMAC-SHA256');
  }
  const [accessKeyId, date, region, service] = credential.split('/');
  if (accessKeyId !== LOCAL_CREDENTIALS.accessKeyId || !date || !region || service !== 's3') {
    throw new PolicyError(
      403,
      'InvalidAccessKeyId',
      'The AWS Access Key Id you provided does not exist in our records.',
    );
  }
  const expected = sigV4(LOCAL_CREDENTIALS.secretAccessKey, date, region, policyB64);
  const given = Buffer.from(signature, 'utf8');
  if (given.length !== expected.length || !timingSafeEqual(given, Buffer.from(expected, 'utf8'))) {
    throw new PolicyError(
      403,
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided.',
    );
  }
  let policy: { expiration?: string; conditions?: Condition[] };
  try {
    policy = JSON.parse(Buffer.from(policyB64, 'base64').toString('utf8')) as typeof policy;
  } catch {
    throw new PolicyError(400, 'InvalidPolicyDocument', 'Invalid Policy: Invalid JSON.');
  }
  const expires = Date.parse(policy.expiration ?? '');
  if (!Number.isFinite(expires) || expires < now)
    throw new PolicyError(403, 'AccessDenied', 'Invalid according to Policy: Policy expired.');
  const covered = new Set(['policy', 'x-amz-signature', 'file']);
  const valueOf = (name: string) => (name === 'bucket' ? bucket : fields.get(name));
  for (const condition of policy.conditions ?? []) {
    if (Array.isArray(condition)) {
      const [op, a, b] = condition;
      if (op === 'content-length-range') {
        if (file.size < Number(a) || file.size > Number(b)) {
          throw new PolicyError(
            400,
            file.size > Number(b) ? 'EntityTooLarge' : 'EntityTooSmall',
            `Your proposed upload is ${file.size} bytes; the policy allows ${String(a)} to ${String(b)}`,
          );
        }
        continue;
      }
      const name = String(a).replace(/^\$/, '').toLowerCase();
      covered.add(name);
      const value = valueOf(name) ?? '';
      const ok = op === 'eq' ? value === String(b) : op === 'starts-with' ? value.startsWith(String(b)) : false;
      if (!ok)
        throw new PolicyError(
          403,
          'AccessDenied',
          `Invalid according to Policy: Policy Condition failed: ["${op}", "${String(a)}", "${String(b)}"]`,
        );
    } else {
      for (const [k, v] of Object.entries(condition)) {
        const name = k.toLowerCase();
        covered.add(name);
        if (valueOf(name) !== v)
          throw new PolicyError(
            403,
            'AccessDenied',
            `Invalid according to Policy: Policy Condition failed: ["eq", "$${k}", "${v}"]`,
          );
      }
    }
  }
  // S3: every field sent must be named by a condition (x-ignore-* excepted).
  for (const name of fields.keys()) {
    if (!covered.has(name) && !name.startsWith('x-ignore-')) {
      throw new PolicyError(403, 'AccessDenied', `Invalid according to Policy: Extra input fields: ${name}`);
    }
  }
}

function sigV4(secret: string, date: string, region: string, stringToSign: string): string {
  const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), 's3'), 'aws4_request');
  return createHmac('sha256', signingKey).update(stringToSign, 'utf8').digest('hex');
}
