// Where a repost comes from, in the two sizes the repost rules need, and who it counts as.
//
// - The ADDRESS (IPv4 /32, IPv6 /64) is what a caller pays for: viewer ids are issued under a limit
//   per address, and a client without a viewer id counts once per address. IPv4: a whole /32,
//   because a venue's Wi-Fi is one NAT address, and mobile carriers' carrier-grade NAT puts
//   unrelated phones on neighbouring addresses (a /24 would pool a town's phones under one limit).
//   IPv6: a /64, the smallest block a subscriber or a LAN is given; a device picks any address in
//   its /64 at will (privacy addresses), so anything narrower is free to multiply.
// - The NETWORK (IPv4 /24, IPv6 /48) is what the spike rule counts distinct sources in: a script on
//   one host, or on a rack of neighbouring addresses, is one network however many addresses it
//   holds; a crowd's phones on mobile data, and the people following from home, are many.
import { createHash } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';

/** Eight 16-bit groups of an IPv6 address, or undefined. IPv4-mapped addresses are left to the caller. */
function hextets(ip: string): number[] | undefined {
  if (!isIPv6(ip)) return undefined;
  const [head = '', tail] = ip.split('::') as [string, string | undefined];
  const part = (s: string) => (s === '' ? [] : s.split(':'));
  let left = part(head);
  let right = tail === undefined ? [] : part(tail);
  // An embedded IPv4 tail (::ffff:1.2.3.4, 64:ff9b::1.2.3.4) is two groups.
  const v4 = (groups: string[]) => {
    const last = groups.at(-1);
    if (!last || !isIPv4(last)) return groups;
    const [a, b, c, d] = last.split('.').map(Number) as [number, number, number, number];
    return [...groups.slice(0, -1), ((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
  };
  if (tail === undefined) left = v4(left);
  else right = v4(right);
  const missing = 8 - left.length - right.length;
  const all = [...left, ...Array<string>(tail === undefined ? 0 : missing).fill('0'), ...right];
  return all.length === 8 ? all.map((g) => parseInt(g, 16)) : undefined;
}

/** The IPv4 address an IPv4-mapped IPv6 address (::ffff:a.b.c.d) stands for. */
function unmapped(ip: string): string {
  const g = hextets(ip);
  if (g && g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) {
    return [g[6]! >> 8, g[6]! & 255, g[7]! >> 8, g[7]! & 255].join('.');
  }
  return ip;
}

const groupsOf = (g: number[], n: number) =>
  g
    .slice(0, n)
    .map((x) => x.toString(16))
    .join(':');

/** IPv4 /32 or IPv6 /64, as text; 'unknown' for anything else. */
export function addressKey(ip: string | undefined): string {
  const a = unmapped((ip ?? '').trim());
  if (isIPv4(a)) return a;
  const g = hextets(a);
  return g ? `${groupsOf(g, 4)}::/64` : 'unknown';
}

/** IPv4 /24 or IPv6 /48, as text; 'unknown' for anything else. */
export function networkOf(ip: string | undefined): string {
  const a = unmapped((ip ?? '').trim());
  if (isIPv4(a)) return `${a.split('.').slice(0, 3).join('.')}.0/24`;
  const g = hextets(a);
  return g ? `${groupsOf(g, 3)}::/48` : 'unknown';
}

/**
 * A short stand-in for an address or network in stored rows (66 bits of SHA-256): what counting
 * needs (equal or not), without keeping the address itself for a month. Pseudonymous, not anonymous:
 * IPv4 space is small enough to search.
 */
export const fingerprint = (s: string): string =>
  createHash('sha256').update(s, 'utf8').digest('base64url').slice(0, 11);

/** Who a repost counts as, and from which network, given what the connection's handshake proved. */
export interface RepostOrigin {
  /** The signed viewer id's identity (the authorizer verified it), if the client sent one. */
  viewer?: string;
  /** The connection's source address (API Gateway's requestContext.identity.sourceIp). */
  sourceIp?: string;
}

/**
 * `v:<viewer id>` when the client proved one; otherwise `a:<address fingerprint>` (a v1 client
 * counts once per address); with neither, its connection, as protocol v1 counted.
 */
export function voterOf(origin: RepostOrigin, connectionId: string): string {
  if (origin.viewer) return `v:${origin.viewer}`;
  const address = addressKey(origin.sourceIp);
  return address === 'unknown' ? connectionId : `a:${fingerprint(address)}`;
}

export const sourceOf = (origin: RepostOrigin): string => fingerprint(networkOf(origin.sourceIp));
