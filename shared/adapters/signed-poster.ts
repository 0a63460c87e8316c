// The delivery hot path: PostToConnection as one SigV4-signed HTTP request over a kept-alive socket.
//
// The SDK's PostToConnectionCommand re-resolves its middleware stack, endpoint rules and serializers
// on every call: ~550 µs of CPU per post against ~70 µs for the HTTP request itself (measured here,
// see docs/performance.md). A fan-out sends the same bytes to thousands of connections, so the
// per-call work is hoisted: the payload hash is computed once per message, the signing key once per
// day, and each post signs only what differs (connection id, time). The signature is the SDK
// signer's own, byte for byte (test/unit/signed-poster.test.ts holds them side by side);
// credentials come from the SDK client's provider chain.
import { createHash, createHmac } from 'node:crypto';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { ConnectionGateway, PostResult } from '../domain/ports';
import { connectionCall } from './connection-calls';

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

export interface SignedPosterOptions {
  /** The stage's callback URL, e.g. https://abc.execute-api.eu-west-1.amazonaws.com/live */
  endpoint: string;
  region: string;
  credentials: () => Promise<Credentials>;
  maxSockets?: number;
  now?: () => Date;
}

const SERVICE = 'execute-api';

/** RFC 3986 encoding as the SDK applies it to a path label (encodeURIComponent plus !'()*). */
export const encodeLabel = (s: string) =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

const sha256Hex = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');

export class SignedPoster implements ConnectionGateway {
  private readonly url: URL;
  private readonly basePath: string;
  private readonly host: string;
  private readonly agent: HttpAgent;
  private readonly request: typeof httpRequest;
  private readonly now: () => Date;
  private readonly payloadHashes = new WeakMap<Uint8Array, string>();
  private creds: Credentials | undefined;
  private signingKey: { scope: string; secret: string; key: Buffer } | undefined;

  constructor(private readonly options: SignedPosterOptions) {
    this.url = new URL(options.endpoint);
    this.basePath = this.url.pathname.replace(/\/+$/, '');
    this.host = this.url.host;
    const secure = this.url.protocol === 'https:';
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 128, keepAliveMsecs: 30_000 };
    this.agent = secure ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions);
    this.request = secure ? httpsRequest : httpRequest;
    this.now = options.now ?? (() => new Date());
  }

  post(connectionId: string, payload: Uint8Array): Promise<PostResult> {
    try {
      return this.postNow(connectionId, payload);
    } catch (err) {
      // Not async any more, but still a promise-returning call: a refusal is a rejection, never a throw.
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private postNow(connectionId: string, payload: Uint8Array): Promise<PostResult> {
    connectionCall('POST', connectionId);
    const path = `${this.basePath}/@connections/${encodeLabel(connectionId)}`;
    // With the credentials cached (every post but the first of each rotation) the headers are
    // signed synchronously: no async function, no await before the request is sent. With the date
    // formatted once a second: 1.76× → 1.48× a bare request (94.9 → 90.9 µs; cost bench, quick,
    // loaded machine — small, and within its noise on any one run).
    const creds = this.cachedCredentials();
    if (creds) return this.send(path, payload, this.signWith(creds, path, payload));
    return this.sign(path, payload).then((headers) => this.send(path, payload, headers));
  }

  private async send(path: string, payload: Uint8Array, headers: Record<string, string | number>): Promise<PostResult> {
    const status = await new Promise<number>((resolve, reject) => {
      const req = this.request(
        {
          protocol: this.url.protocol,
          hostname: this.url.hostname,
          port: this.url.port,
          method: 'POST',
          path,
          agent: this.agent,
          headers,
        },
        (res: IncomingMessage) => {
          res.resume(); // drain so the socket goes back to the pool
          res.once('end', () => resolve(res.statusCode ?? 0));
          res.once('error', reject);
        },
      );
      req.once('error', reject);
      req.end(payload);
    });
    if (status >= 200 && status < 300) return 'ok';
    if (status === 410) return 'gone';
    if (status === 429) return 'throttled';
    throw new Error(`PostToConnection answered HTTP ${status}`);
  }

  /** The headers of a SigV4-signed POST of `payload` to `path`. */
  async sign(path: string, payload: Uint8Array): Promise<Record<string, string | number>> {
    return this.signWith(await this.credentials(), path, payload);
  }

  private signWith(creds: Credentials, path: string, payload: Uint8Array): Record<string, string | number> {
    let payloadHash = this.payloadHashes.get(payload);
    if (!payloadHash) {
      payloadHash = sha256Hex(payload);
      this.payloadHashes.set(payload, payloadHash);
    }
    const amzDate = this.amzDate();
    const day = amzDate.slice(0, 8);
    const scope = `${day}/${this.options.region}/${SERVICE}/aws4_request`;

    // Canonical headers, sorted by name; the canonical URI escapes the already-escaped path again.
    const signed: [string, string][] = [
      ['host', this.host],
      ['x-amz-content-sha256', payloadHash],
      ['x-amz-date', amzDate],
      ...(creds.sessionToken ? ([['x-amz-security-token', creds.sessionToken]] as [string, string][]) : []),
    ];
    const signedHeaders = signed.map(([k]) => k).join(';');
    const canonical = [
      'POST',
      path.split('/').map(encodeLabel).join('/'),
      '',
      signed.map(([k, v]) => `${k}:${v}\n`).join(''),
      signedHeaders,
      payloadHash,
    ].join('\n');
    const toSign = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${sha256Hex(canonical)}`;
    const signature = createHmac('sha256', this.key(scope, day, creds.secretAccessKey))
      .update(toSign)
      .digest('hex');

    const headers: Record<string, string | number> = {
      'content-type': 'application/json',
      'content-length': payload.byteLength,
      'x-amz-content-sha256': payloadHash,
      'x-amz-date': amzDate,
      authorization: `AWS4-HMAC-SHA256 Credential=${creds.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
    };
    if (creds.sessionToken) headers['x-amz-security-token'] = creds.sessionToken;
    return headers;
  }

  /** X-Amz-Date (second precision), formatted once per second rather than per post. */
  private amzDate(): string {
    const second = Math.floor(this.now().getTime() / 1000);
    if (second !== this.stamp.second) {
      this.stamp = {
        second,
        text: new Date(second * 1000)
          .toISOString()
          .replace(/[-:]/g, '')
          .replace(/\.\d{3}/, ''),
      };
    }
    return this.stamp.text;
  }
  private stamp = { second: NaN, text: '' };

  /** The day's signing key, derived once per day and secret. */
  private key(scope: string, day: string, secret: string): Buffer {
    if (this.signingKey?.scope !== scope || this.signingKey.secret !== secret) {
      const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
      const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, day), this.options.region), SERVICE), 'aws4_request');
      this.signingKey = { scope, secret, key };
    }
    return this.signingKey.key;
  }

  /** Cached until five minutes before they expire (Lambda's role credentials rotate). */
  private async credentials(): Promise<Credentials> {
    const c = this.cachedCredentials();
    if (c) return c;
    this.creds = await this.options.credentials();
    return this.creds;
  }

  private cachedCredentials(): Credentials | undefined {
    const c = this.creds;
    return c && (!c.expiration || c.expiration.getTime() - 300_000 > this.now().getTime()) ? c : undefined;
  }

  destroy(): void {
    this.agent.destroy();
  }
}
