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
  for (const page of ['live', 'report', 'replay']) {
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
function get(path: string, host?: string): Promise<{ status: number; type?: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${path}`, { headers: host ? { host } : {} }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body }));
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
    expect(await get('/assets/live.js')).toMatchObject({ status: 200, type: 'text/javascript; charset=utf-8', body: 'console.log(1)' });
    expect((await get('/assets/../../secret.txt')).body).toBe('not mine');
    expect((await get('/assets/%2e%2e/%2e%2e/secret.txt')).body).toBe('not mine');
    expect((await get('/assets/..%2F..%2Fsecret.txt')).body).toBe('not mine'); // one segment until decoded
    expect((await get('/assets/nope.js')).body).toBe('not mine');
    expect((await get('/live/a/b')).body).toBe('not mine');
    expect((await get('/events/x')).body).toBe('not mine'); // the API's, not the pages'
  });

  it('tells the pages where the APIs are, on the host name the browser used', async () => {
    expect(JSON.parse((await get('/config.json')).body)).toEqual({ apiUrl: '', wsUrl: 'ws://127.0.0.1:3001' });
    expect(JSON.parse((await get('/config.json', 'localhost:3000')).body)).toEqual({ apiUrl: '', wsUrl: 'ws://127.0.0.1:3001' });
    expect(JSON.parse((await get('/config.json', '192.168.1.20:3000')).body)).toEqual({ apiUrl: '', wsUrl: 'ws://192.168.1.20:3001' });
  });
});
