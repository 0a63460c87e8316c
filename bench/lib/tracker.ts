// What the viewers received: per viewer a bitset of the updates it got, per update the publish time, and one latency histogram, so 100,000 viewers × 90 updates fit in a few MB.
import { Histogram, type HistogramData } from './stats';

const SEQ = Buffer.from('"seq":');

export interface TrackerResult {
  viewers: number;
  updates: number;
  /** (viewer, update) pairs received at least once. */
  delivered: number;
  /** Pairs never received: viewers × updates − delivered. */
  missed: number;
  /** Viewers that got every update. */
  complete: number;
  duplicates: number;
  /** An update that arrived after a later one had. */
  outOfOrder: number;
  /** Messages received, and updates inside them (a batch carries several). */
  messages: number;
  /** Messages that carried no update: live counts (stats) or a spike only. */
  countsOnly: number;
  updatesReceived: number;
  /** Seqs outside the run's range (e.g. a previous run's), ignored. */
  foreign: number;
  /** performance.now() of this process: first publish, last publish, first and last receipt. */
  firstPublishAt: number;
  lastPublishAt: number;
  firstReceiptAt: number;
  lastReceiptAt: number;
  /** Per update: viewers that got it, and when the last of them did (ms after its publish). */
  perUpdateReceived: Uint32Array;
  perUpdateLastMs: Float64Array;
  latency: HistogramData;
}

/**
 * Seqs are `baseSeq + 1 … baseSeq + updates`: one event, one reporter publishing in order, so the
 * i-th publish gets seq baseSeq + i (the run checks the event's lastSeq afterwards).
 */
export class DeliveryTracker {
  private readonly words: number;
  private readonly bits: Uint32Array;
  private readonly got: Uint16Array;
  private readonly newest: Int32Array;
  private readonly published: Float64Array;
  private readonly perUpdateReceived: Uint32Array;
  private readonly perUpdateLast: Float64Array;
  private readonly latency = new Histogram();
  private delivered = 0;
  private complete = 0;
  private duplicates = 0;
  private outOfOrder = 0;
  private messages = 0;
  private countsOnly = 0;
  private updatesReceived = 0;
  private foreign = 0;
  private firstReceipt = Infinity;
  private lastReceipt = -Infinity;
  private waiters: (() => void)[] = [];

  constructor(
    readonly viewers: number,
    readonly updates: number,
    readonly baseSeq: number,
  ) {
    this.words = Math.ceil(updates / 32);
    this.bits = new Uint32Array(viewers * this.words);
    this.got = new Uint16Array(viewers);
    this.newest = new Int32Array(viewers).fill(-1);
    this.published = new Float64Array(updates).fill(NaN);
    this.perUpdateReceived = new Uint32Array(updates);
    this.perUpdateLast = new Float64Array(updates);
  }

  /** The reporter is about to send update `i` (0-based). */
  publishing(i: number, at: number): void {
    this.published[i] = at;
  }

  /** One message to viewer `v`: every `"seq":N` in it is an update (a single one, or a batch). */
  receive(v: number, data: Buffer, at: number): void {
    this.messages++;
    if (at < this.firstReceipt) this.firstReceipt = at;
    if (at > this.lastReceipt) this.lastReceipt = at;
    if (data.indexOf(SEQ) === -1) this.countsOnly++;
    for (let pos = data.indexOf(SEQ); pos !== -1; pos = data.indexOf(SEQ, pos + SEQ.length)) {
      let seq = 0;
      for (let j = pos + SEQ.length; j < data.length; j++) {
        const c = data[j]!;
        if (c < 48 || c > 57) break;
        seq = seq * 10 + (c - 48);
      }
      this.updatesReceived++;
      this.one(v, seq - this.baseSeq - 1, at);
    }
  }

  private one(v: number, i: number, at: number): void {
    if (i < 0 || i >= this.updates) {
      this.foreign++;
      return;
    }
    const w = v * this.words + (i >>> 5);
    const bit = 1 << (i & 31);
    if (this.bits[w]! & bit) {
      this.duplicates++;
      return;
    }
    this.bits[w]! |= bit;
    if (i < this.newest[v]!) this.outOfOrder++;
    else this.newest[v] = i;
    this.delivered++;
    const ms = at - this.published[i]!;
    this.latency.record(ms);
    this.perUpdateReceived[i]! += 1;
    if (ms > this.perUpdateLast[i]!) this.perUpdateLast[i] = ms;
    if (++this.got[v]! === this.updates) {
      this.complete++;
      if (this.complete === this.viewers) for (const w of this.waiters.splice(0)) w();
    }
  }

  /** Resolves true once every viewer has every update, false at the deadline (performance.now()). */
  allDelivered(deadline: number): Promise<boolean> {
    if (this.complete === this.viewers) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(
        () => resolve(this.complete === this.viewers),
        Math.max(0, deadline - performance.now()),
      );
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** When update `i` was handed to the reporter's socket (NaN: not yet). */
  publishedAt(i: number): number {
    return this.published[i] ?? NaN;
  }

  progress(): { delivered: number; complete: number; messages: number; countsOnly: number } {
    return { delivered: this.delivered, complete: this.complete, messages: this.messages, countsOnly: this.countsOnly };
  }

  result(): TrackerResult {
    let firstPublish = Infinity;
    let lastPublish = -Infinity;
    for (const t of this.published) {
      if (t < firstPublish) firstPublish = t;
      if (t > lastPublish) lastPublish = t;
    }
    return {
      viewers: this.viewers,
      updates: this.updates,
      delivered: this.delivered,
      missed: this.viewers * this.updates - this.delivered,
      complete: this.complete,
      duplicates: this.duplicates,
      outOfOrder: this.outOfOrder,
      messages: this.messages,
      countsOnly: this.countsOnly,
      updatesReceived: this.updatesReceived,
      foreign: this.foreign,
      firstPublishAt: firstPublish,
      lastPublishAt: lastPublish,
      firstReceiptAt: this.firstReceipt,
      lastReceiptAt: this.lastReceipt,
      perUpdateReceived: this.perUpdateReceived,
      perUpdateLastMs: this.perUpdateLast,
      latency: this.latency.data(),
    };
  }
}
