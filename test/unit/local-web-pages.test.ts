// The local stand-in for CloudFront + S3: page paths to shells, assets, /config.json, nothing else.
import http from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webPages } from '../../local/web-pages';

let dir: string;
let server: http.Server;
let base: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'web-pages-'));
  for (const page of ['live', 'report', 'replay', 'embed', 'organiser']) {
    mkdirSync(join(dir, page));
    writeFileSync(join(dir, page, 'index.html'), `<!doctype html><title>${page}</title>`);
  }
  mkdirSync(join(dir, 'assets'));
  writeFileSync(join(dir, 'assets', 'live.js'), 'console.log(1)');
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>home</title>');
  writeFileSync(join(dir, '..', 'secret.txt'), 'not for the web');
  const serve = webPages({ dir, wsUrl: 'ws://127.0.0.1:3001' });
  server = http.createServer((req, res) => {
    void serve(req, res).then((handled) => {
      if (!handled) res.writeHead(404).end('not mine');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
  rmSync(join(dir, '..', 'secret.txt'), { force: true });
});

/** A raw GET, so `..` and odd paths reach the server as written. */
function get(
  path: string,
  host?: string,
  at = base,
): Promise<{ status: number; type?: string; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${at}${path}`, { headers: host ? { host } : {} }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body, headers: res.headers }),
      );
    });
    req.on('error', reject);
    req.path = path;
    req.end();
  });
}

describe('local pages (what CloudFront and S3 do when deployed)', () => {
  it('answers each page path with its shell, the event id staying in the address', async () => {
    for (const page of ['live', 'report', 'replay']) {
      const res = await get(`/${page}/Ev_123-x`);
      expect(res).toMatchObject({ status: 200, type: 'text/html; charset=utf-8' });
      expect(res.body).toContain(`<title>${page}</title>`);
    }
    expect((await get('/')).body).toContain('home');
  });

  it('serves assets with their types, and nothing outside the folder', async () => {
    expect(await get('/assets/live.js')).toMatchObject({
      status: 200,
      type: 'text/javascript; charset=utf-8',
      body: 'console.log(1)',
    });
    expect((await get('/assets/../../secret.txt')).body).toBe('not mine');
    expect((await get('/assets/%2e%2e/%2e%2e/secret.txt')).body).toBe('not mine');
    expect((await get('/assets/..%2F..%2Fsecret.txt')).body).toBe('not mine'); // one segment until decoded
    expect((await get('/assets/nope.js')).body).toBe('not mine');
    expect((await get('/live/a/b')).body).toBe('not mine');
    expect((await get('/events/x')).body).toBe('not mine'); // the API's, not the pages'
  });

  it('tells the pages where the APIs are, on the host name the browser used', async () => {
    expect(JSON.parse((await get('/config.json')).body)).toEqual({ apiUrl: '', wsUrl: 'ws://127.0.0.1:3001' });
    expect(JSON.parse((await get('/config.json', 'localhost:3000')).body)).toEqual({
      apiUrl: '',
      wsUrl: 'ws://127.0.0.1:3001',
    });
    expect(JSON.parse((await get('/config.json', '192.168.1.20:3000')).body)).toEqual({
      apiUrl: '',
      wsUrl: 'ws://192.168.1.20:3001',
    });
  });

  it('answers /organiser and /embed/{id} with their shells', async () => {
    expect((await get('/organiser')).body).toContain('<title>organiser</title>');
    expect((await get('/organiser/')).body).toContain('<title>organiser</title>');
    expect((await get('/embed/Ev_123-x')).body).toContain('<title>embed</title>');
    expect((await get('/organiser/x')).body).toBe('not mine');
  });

  it('lets every page be framed by its own origin only, and the embed by the sites its setting names', async () => {
    // A <meta> policy cannot say frame-ancestors: without these headers any site could frame the console.
    for (const path of ['/', '/live/E1', '/report/E1', '/replay/E1', '/organiser']) {
      const { headers } = await get(path);
      expect(headers['content-security-policy'], path).toBe("frame-ancestors 'self'");
      expect(headers['x-frame-options'], path).toBe('SAMEORIGIN');
    }
    // The embed with no setting: its own origin, and no X-Frame-Options (which knows no list of sites).
    expect((await get('/embed/E1')).headers['content-security-policy']).toBe("frame-ancestors 'self'");
    expect((await get('/embed/E1')).headers['x-frame-options']).toBeUndefined();
    // With a setting.
    const serve = webPages({
      dir,
      wsUrl: 'ws://127.0.0.1:3001',
      embedAncestors: ["'self'", 'https://portal.example.org'],
    });
    const other = http.createServer(
      (req, res) => void serve(req, res).then((handled) => handled || res.writeHead(404).end()),
    );
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    const at = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
    try {
      const embed = await get('/embed/E1', undefined, at);
      expect(embed.headers['content-security-policy']).toBe("frame-ancestors 'self' https://portal.example.org");
      expect(embed.headers['x-frame-options']).toBeUndefined();
      expect((await get('/live/E1', undefined, at)).headers['content-security-policy']).toBe("frame-ancestors 'self'");
      // Assets are not documents: no framing headers.
      expect((await get('/assets/live.js', undefined, at)).headers['x-frame-options']).toBeUndefined();
    } finally {
      await new Promise((r) => other.close(r));
    }
  });
});
