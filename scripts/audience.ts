// Where the simulated viewers come from, and the viewer id each one holds: what a real phone has.
// Since issue 11 a repost counts once per signed viewer id (once per source address without one),
// and a spike needs 20 distinct viewers from 5 networks (IPv4 /24) in one second, so 1,000 sockets
// from 127.0.0.1 without ids would count once per entry and never make a spike.
//
// On Linux every 127.x.y.z is loopback, and the local gateways take `sourceIp` from the socket's
// remote address (local/http-gateway.ts, local/ws-gateway.ts): binding each viewer's sockets to its
// own 127.0.N.x gives it a source address on network 127.0.N, with no X-Forwarded-For trust needed.
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'node:http';
import { backoffMs } from '../shared/retry';

/** One viewer's place: the local address its POST /viewers and its WebSocket leave from. */
export interface Seat {
  localAddress: string;
  /** The /24 it is on, for the summary. */
  network: string;
}

/** The venue's Wi-Fi: one address, many phones behind its NAT (realistic, and the hard case for per-address limits). */
export const VENUE_ADDRESS = '127.0.1.1';

/**
 * `count` seats: a quarter on the venue's Wi-Fi (one address), the rest spread round-robin over
 * `networks` networks 127.0.10.x … (a few dozen addresses each, as carriers' NAT pools and people
 * at home are). Past 250 hosts a network's addresses are shared, as a carrier's NAT does.
 */
export function seats(count: number, networks = 20, venueShare = 0.25): Seat[] {
  const venue = Math.round(count * venueShare);
  return Array.from({ length: count }, (_, i) => {
    if (i < venue) return { localAddress: VENUE_ADDRESS, network: '127.0.1' };
    const k = i - venue;
    const network = `127.0.${10 + (k % networks)}`;
    return { localAddress: `${network}.${1 + (Math.floor(k / networks) % 250)}`, network };
  });
}

/** "N viewers from A addresses on M networks (K on the venue's one address)". */
export function describeSeats(all: readonly Seat[]): string {
  const addresses = new Set(all.map((s) => s.localAddress)).size;
  const networks = new Set(all.map((s) => s.network)).size;
  const venue = all.filter((s) => s.localAddress === VENUE_ADDRESS).length;
  return `${addresses} addresses on ${networks} networks (${venue} viewers on the venue's one Wi-Fi address)`;
}

/** What getting viewer ids took, for the summary. */
export interface IdStats {
  issued: number;
  /** 429 rate_limited answers, each waited out (retryAfterMs) and asked again. */
  rateLimited: number;
  /** 5xx or no answer (chaos: DynamoDB away), asked again with backoff. */
  retried: number;
  /** Viewers that connected without an id, as the page does when the wait would be too long (the day's limit). */
  withoutId: number;
}

export const newIdStats = (): IdStats => ({ issued: 0, rateLimited: 0, retried: 0, withoutId: 0 });

/** What POST /viewers answers (an id, or an error with its wait); read with `?.`, as any JSON may come. */
type ViewersBody = { viewerId?: unknown; error?: { retryAfterMs?: unknown } } | null | undefined;

/** One POST /viewers from `localAddress`: status and parsed body (undefined body if not JSON). */
function postViewers(httpUrl: string, localAddress: string): Promise<{ status: number; body: ViewersBody }> {
  return new Promise((resolve, reject) => {
    // No keep-alive agent: each viewer is its own phone, and an idle pooled socket would outlive the run.
    const req = request(
      `${httpUrl}/viewers`,
      { method: 'POST', localAddress, agent: false, headers: { 'content-length': 0 } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let body: ViewersBody;
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ViewersBody;
          } catch {
            body = undefined;
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
        res.on('error', reject);
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRNOTAVAIL') {
        reject(
          new Error(
            `cannot send from ${localAddress}: the simulation needs the whole 127.0.0.0/8 loopback range, as Linux has (elsewhere add aliases for 127.0.1.1 and 127.0.10-29.x, or run it on Linux)`,
          ),
        );
      } else reject(err);
    });
    req.end();
  });
}

/**
 * A viewer id for a phone at `localAddress`, as the live page gets one: a 429 `rate_limited` is
 * waited out (`retryAfterMs`, never sooner) and asked again; a wait longer than `maxWaitMs` (the
 * day's allowance spent) connects without an id, as the page does. 5xx and lost answers are retried
 * with backoff up to `maxRetries` times.
 */
export async function viewerId(
  httpUrl: string,
  localAddress: string,
  stats: IdStats,
  opts: { maxWaitMs?: number; maxRetries?: number } = {},
): Promise<string | undefined> {
  const { maxWaitMs = 90_000, maxRetries = 30 } = opts;
  for (let failures = 0; ;) {
    const res = await postViewers(httpUrl, localAddress).catch((err: Error) => {
      if (err.message.startsWith('cannot send from')) throw err;
      return undefined;
    });
    const issued = res?.body?.viewerId;
    if (res && (res.status === 200 || res.status === 201) && typeof issued === 'string') {
      stats.issued++;
      return issued;
    }
    if (res?.status === 429) {
      stats.rateLimited++;
      const wait = Number(res.body?.error?.retryAfterMs ?? 1_000);
      if (wait > maxWaitMs) {
        stats.withoutId++;
        return undefined;
      }
      // A little jitter on top, so a crowd refused together does not come back together.
      await sleep(wait + Math.random() * 500);
      continue;
    }
    if ((res === undefined || res.status >= 500) && failures < maxRetries) {
      failures++;
      stats.retried++;
      await sleep(backoffMs(failures, Math.random, 200, 3_000));
      continue;
    }
    throw new Error(
      `POST /viewers from ${localAddress}: ${res ? `${res.status} ${JSON.stringify(res.body)}` : 'no answer'}`,
    );
  }
}
