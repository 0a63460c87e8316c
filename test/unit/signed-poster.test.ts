// The lean poster's SigV4 signature must be the SDK signer's, byte for byte.
import { createHash, createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignatureV4 } from '@smithy/signature-v4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignedPoster } from '../../shared/adapters/signed-poster';

const bytes = (d: string | ArrayBuffer | ArrayBufferView): string | Uint8Array =>
  typeof d === 'string'
    ? d
    : d instanceof ArrayBuffer
      ? new Uint8Array(d)
      : new Uint8Array(d.buffer, d.byteOffset, d.byteLength);

/** The Sha256 constructor the SDK's signer expects, on node:crypto. */
class Sha256 {
  private readonly h;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.h = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView) {
    this.h.update(bytes(data));
  }
  async digest() {
    return new Uint8Array(this.h.digest());
  }
}

const at = new Date('2026-07-01T09:30:15.123Z');

describe('SignedPoster signing', () => {
  for (const creds of [
    { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' },
    { accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 'secret/with+chars', sessionToken: 'IQoJb3JpZ2luX2VjE//token==' },
  ]) {
    for (const connectionId of ['L0SM9cOFvHcCIhw=', 'v-000123', "odd id!'()*"]) {
      it(`matches @smithy/signature-v4 for ${connectionId}${creds.sessionToken ? ' with a session token' : ''}`, async () => {
        const poster = new SignedPoster({
          endpoint: 'https://abc123.execute-api.eu-west-1.amazonaws.com/live',
          region: 'eu-west-1',
          credentials: async () => creds,
          now: () => at,
        });
        const payload = new TextEncoder().encode('{"type":"update","eventId":"e","entry":{"text":"香鱼"}}');
        const path = `/live/@connections/${encodeURIComponent(connectionId).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}`;
        const ours = await poster.sign(path, payload);

        const signer = new SignatureV4({
          credentials: creds,
          region: 'eu-west-1',
          service: 'execute-api',
          sha256: Sha256,
        });
        const reference = await signer.sign(
          {
            method: 'POST',
            protocol: 'https:',
            hostname: 'abc123.execute-api.eu-west-1.amazonaws.com',
            path,
            query: {},
            headers: {
              host: 'abc123.execute-api.eu-west-1.amazonaws.com',
              'x-amz-content-sha256': createHash('sha256').update(payload).digest('hex'),
            },
            body: payload,
          },
          { signingDate: at },
        );
        expect(ours.authorization).toBe(reference.headers.authorization);
        expect(ours['x-amz-date']).toBe(reference.headers['x-amz-date']);
        poster.destroy();
      });
    }
  }
});

describe('SignedPoster over HTTP', () => {
  const seen: { url: string; headers: IncomingHttpHeaders; body: string }[] = [];
  let status = 200;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      seen.push({ url: req.url ?? '', headers: req.headers, body });
      res.writeHead(status).end();
    });
  });
  let poster: SignedPoster;

  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    poster = new SignedPoster({
      endpoint: `http://127.0.0.1:${port}/local`,
      region: 'us-east-1',
      credentials: async () => ({ accessKeyId: 'a', secretAccessKey: 'b' }),
    });
  });
  afterAll(() => {
    poster.destroy();
    server.close();
  });

  it('posts the exact bytes to the connection and maps 410 and 429', async () => {
    const payload = new TextEncoder().encode('{"type":"pong"}');
    expect(await poster.post('L0SM9cOFvHcCIhw=', payload)).toBe('ok');
    expect(seen.at(-1)).toMatchObject({ url: '/local/@connections/L0SM9cOFvHcCIhw%3D', body: '{"type":"pong"}' });
    status = 410;
    expect(await poster.post('x', payload)).toBe('gone');
    status = 429;
    expect(await poster.post('x', payload)).toBe('throttled');
    status = 500;
    await expect(poster.post('x', payload)).rejects.toThrow(/500/);
  });
});
