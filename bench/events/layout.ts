// Where each event's virtual viewers sit in the one AWS-side gateway: consecutive id ranges (v-0000000…), the warm-up event's after them.
import { viewerIndex } from '../simulated/viewers';

export interface Layout {
  /** Index of each viewer event's first viewer; its viewers are first … first + audience − 1. */
  firsts: number[];
  audiences: number[];
  /** The warm-up event's first viewer, after every measured one. */
  warmFirst: number;
  warmViewers: number;
}

export function layout(audiences: readonly number[], warmViewers: number): Layout {
  const firsts: number[] = [];
  let next = 0;
  for (const n of audiences) {
    firsts.push(next);
    next += n;
  }
  return { firsts, audiences: [...audiences], warmFirst: next, warmViewers };
}

/** Which viewer event (its index) a connection id belongs to, the warm-up's ('warm'), or none (a stage-issued id: a reporter). */
export function ownerOf(l: Layout, connectionId: string): number | 'warm' | undefined {
  if (!connectionId.startsWith('v-')) return undefined;
  const i = viewerIndex(connectionId);
  if (!Number.isInteger(i)) return undefined;
  if (i >= l.warmFirst) return i < l.warmFirst + l.warmViewers ? 'warm' : undefined;
  // A handful of events: a linear scan from the last is as quick as a search.
  for (let e = l.firsts.length - 1; e >= 0; e--) if (i >= l.firsts[e]!) return e;
  return undefined;
}
