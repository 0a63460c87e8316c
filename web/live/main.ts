// The live page, /live/{eventId}: the event's entries newest first (pinned on top), live. The
// history comes over HTTP (cacheable); the socket's sync brings only what came after it.
import type { Entry, EventView, ServerFrame, SpikeFrame, StatsFrame } from '../lib/types';
import { getJson, socketUrl, type PageConfig } from '../lib/config';
import { h, icon, perFrame, replace } from '../lib/dom';
import { clock, count } from '../lib/format';
import { readHistory, type TimelinePage } from '../lib/history';
import { LiveConnection } from '../lib/live-connection';
import { ensureViewerId, withViewerId } from '../lib/viewer-id';
import { PhotoViews } from '../lib/photos-view';
import { t } from '../lib/i18n';
import { bootPage, data, pageHeader } from '../lib/page';
import { showState } from '../lib/status';
import { type HeldEntry, showRepostTotals, Timeline } from '../lib/timeline';

const SCROLLED_AWAY_PX = 160;
/** Entries per sync reply: a catch-up spends the @connections budget a bounded page at a time. */
const SYNC_LIMIT = 100;

class LivePage {
  private readonly conn: LiveConnection;
  private keyOnly = false;
  private unseen = 0;
  private viewers: number;
  private readonly reposted = new Set<number>();
  /** The total each pending repost's entry showed when it was sent (see Timeline.countOwnRepost). */
  private readonly repostShownWhenSent = new Map<number, number>();
  private readonly pendingRepost = new Set<number>();
  private readonly fresh = new Set<number>();
  private spikeTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly queueRender = perFrame(() => this.render());
  private readonly photos: PhotoViews;

  private readonly els = {
    status: h('span', { class: 'status', role: 'status', 'data-testid': 'status' }),
    viewers: h('span', { class: 'pill', title: t.watchingTitle, 'data-testid': 'viewers' }),
    filterAll: h('button', { type: 'button', 'aria-pressed': 'true' }, t.allUpdates),
    filterKey: h('button', { type: 'button', 'aria-pressed': 'false', 'data-testid': 'filter-key' }, t.keyMoments),
    spike: h('div', { class: 'notice spike', role: 'alert', hidden: true, 'data-testid': 'spike' }),
    list: h('ol', { class: 'entries', 'data-testid': 'entries' }),
    empty: h('p', { class: 'empty', hidden: true }, t.nothingYet),
    newBar: h('button', { class: 'newbar', type: 'button', hidden: true, 'aria-live': 'polite', 'data-testid': 'new-bar' }),
  };

  /** `timeline`: the history read over HTTP, reflecting every change up to `historyChange`. */
  constructor(
    private readonly config: PageConfig,
    private readonly event: EventView,
    private readonly timeline: Timeline,
    historyChange: number | undefined,
  ) {
    this.viewers = event.viewers;
    this.photos = new PhotoViews(config);
    this.conn = new LiveConnection({
      url: () => withViewerId(socketUrl(config, event.eventId)),
      since: () => this.timeline.syncedThrough,
      ...(historyChange !== undefined ? { sinceChange: historyChange } : {}),
      syncLimit: SYNC_LIMIT,
      onFrame: (f) => this.onFrame(f),
      onState: (state) => {
        // A repost in flight when the socket went has no ack coming: the button is usable again.
        if (state.kind !== 'open') this.pendingRepost.clear();
        this.showStatus();
        this.queueRender();
      },
    });
  }

  mount(root: HTMLElement): void {
    const { els } = this;
    els.filterAll.addEventListener('click', () => this.setFilter(false));
    els.filterKey.addEventListener('click', () => this.setFilter(true));
    els.newBar.addEventListener('click', () => window.scrollTo({ top: 0, behavior: 'smooth' }));
    replace(
      root,
      h(
        'main',
        { class: 'page' },
        pageHeader(
          data(this.event.title, 'h1', { 'data-testid': 'title' }),
          els.status,
          els.viewers,
          h('span', { class: 'spacer' }),
          h('div', { class: 'toggle', role: 'group', 'aria-label': t.show }, els.filterAll, els.filterKey),
          // Just under the header, wherever the reader is (positioned against the header).
          els.newBar,
        ),
        els.spike,
        els.empty,
        els.list,
      ),
    );
    window.addEventListener('scroll', () => {
      if (window.scrollY < SCROLLED_AWAY_PX && this.unseen > 0) {
        this.unseen = 0;
        this.showUnseen();
      }
    }, { passive: true });
    window.addEventListener('online', () => this.conn.reconnectNow());
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState !== 'visible') return;
      this.conn.reconnectNow();
      // Back on the tab and at the top: the new updates are in view.
      if (window.scrollY < SCROLLED_AWAY_PX && this.unseen > 0) {
        this.unseen = 0;
        this.showUnseen();
      }
    });
    setInterval(() => this.showStatus(), 1000);
    this.showStatus();
    this.showViewers();
    this.render();
    this.conn.start();
    // For tests and the curious: the page's connection (drop() simulates a lost network).
    (window as unknown as { livecast: unknown }).livecast = { connection: this.conn, timeline: this.timeline };
  }

  private onFrame(frame: ServerFrame): void {
    switch (frame.type) {
      case 'update':
        this.onUpdate(frame.entry);
        break;
      case 'stats':
        this.onStats(frame);
        break;
      case 'spike':
        this.onSpike(frame);
        break;
      case 'ack':
        if ('reposted' in frame) {
          this.pendingRepost.delete(frame.seq);
          this.reposted.add(frame.seq);
          // The button says so at once, and the count includes this repost; the exact total comes
          // with the next stats (within a second).
          if (frame.counted) this.timeline.countOwnRepost(frame.seq, this.repostShownWhenSent.get(frame.seq) ?? 0);
          this.repostShownWhenSent.delete(frame.seq);
          this.queueRender();
        }
        break;
      case 'error':
        if (frame.clientId?.startsWith('repost-')) {
          this.pendingRepost.delete(Number(frame.clientId.slice(7)));
          this.queueRender();
        }
        break;
      default:
        break;
    }
  }

  private onUpdate(entry: Entry): void {
    const applied = this.timeline.apply(entry);
    if (applied === 'stale') return;
    if (applied === 'new' && !entry.deleted) {
      this.fresh.add(entry.seq);
      if (window.scrollY >= SCROLLED_AWAY_PX || document.visibilityState === 'hidden') {
        this.unseen++;
        this.showUnseen();
      }
    }
    this.queueRender();
  }

  private onStats(frame: StatsFrame): void {
    this.viewers = frame.viewers;
    this.showViewers();
    showRepostTotals(this.timeline, this.els.list, frame.reposts);
  }

  private onSpike(frame: SpikeFrame): void {
    const entry = this.timeline.get(frame.topSeq);
    const about = entry && !entry.deleted ? data(`“${entry.text.length > 60 ? `${entry.text.slice(0, 60)}…` : entry.text}”`) : h('span', {}, t.spikeOnSeq(frame.topSeq));
    replace(
      this.els.spike,
      h('span', { class: 'grow' }, h('strong', {}, t.spikeHeading), ...t.spikeOn(frame.peakPerSecond, about)),
      h('button', { type: 'button', class: 'link', 'aria-label': t.dismiss, onclick: () => (this.els.spike.hidden = true) }, '✕'),
    );
    this.els.spike.hidden = false;
    clearTimeout(this.spikeTimer);
    this.spikeTimer = setTimeout(() => (this.els.spike.hidden = true), 30_000);
  }

  private repost(seq: number): void {
    if (this.reposted.has(seq) || this.pendingRepost.has(seq)) return;
    if (!this.conn.send({ action: 'repost', seq, clientId: `repost-${seq}` })) return;
    this.pendingRepost.add(seq);
    this.repostShownWhenSent.set(seq, this.timeline.get(seq)?.reposts ?? 0);
    this.queueRender();
  }

  private setFilter(keyOnly: boolean): void {
    this.keyOnly = keyOnly;
    this.els.filterAll.setAttribute('aria-pressed', String(!keyOnly));
    this.els.filterKey.setAttribute('aria-pressed', String(keyOnly));
    this.render();
  }

  private showStatus(): void {
    showState(this.els.status, this.conn.state);
  }

  private showViewers(): void {
    replace(this.els.viewers, icon('eye'), t.watching(this.viewers));
  }

  private showUnseen(): void {
    const n = this.unseen;
    this.els.newBar.hidden = n === 0;
    this.els.newBar.textContent = t.newUpdates(n);
    document.title = n > 0 ? `(${n}) ${this.event.title}` : this.event.title;
  }

  private render(): void {
    const entries = this.timeline.ordered(this.keyOnly ? (e) => e.kind === 'key' : undefined);
    this.els.empty.hidden = entries.length > 0;
    this.els.empty.textContent = this.keyOnly && this.timeline.size > 0 ? t.noKeyMoments : t.nothingYet;
    // Keep the reader's place: the page grows at the top while they read further down.
    const anchor = window.scrollY >= SCROLLED_AWAY_PX ? this.firstVisible() : undefined;
    const anchorTop = anchor?.el.getBoundingClientRect().top;
    replace(this.els.list, ...entries.map((e) => this.card(e)));
    this.fresh.clear();
    if (anchor && anchorTop !== undefined) {
      const el = this.els.list.querySelector(`[data-seq="${anchor.seq}"]`);
      if (el) window.scrollBy(0, el.getBoundingClientRect().top - anchorTop);
    }
  }

  private firstVisible(): { seq: number; el: Element } | undefined {
    for (const el of this.els.list.children) {
      if (el.getBoundingClientRect().bottom > 90) return { seq: Number((el as HTMLElement).dataset.seq), el };
    }
    return undefined;
  }

  private card(e: HeldEntry): HTMLElement {
    const mine = this.reposted.has(e.seq);
    const pending = this.pendingRepost.has(e.seq);
    return h(
      'li',
      { class: `entry${e.kind === 'key' ? ' key' : ''}${e.pinned ? ' pinned' : ''}${this.fresh.has(e.seq) ? ' fresh' : ''}`, 'data-seq': e.seq, 'data-rev': e.rev, 'data-testid': 'entry' },
      h(
        'div',
        { class: 'meta' },
        e.pinned ? h('span', { class: 'badge pin' }, t.pinned) : null,
        e.kind === 'key' ? h('span', { class: 'badge key' }, t.keyMoment) : null,
        h('time', { datetime: e.createdAt }, clock(e.createdAt)),
        e.corrected ? h('span', { class: 'badge corrected', title: t.correctedAt(e.updatedAt) }, t.corrected) : null,
      ),
      // A photo-only update has no text.
      e.text === '' ? null : data(e.text, 'p', { class: 'text', 'data-testid': 'text' }),
      this.photos.of(e),
      h(
        'div',
        { class: 'actions' },
        h(
          'button',
          {
            type: 'button',
            class: 'repost',
            'aria-pressed': String(mine),
            disabled: mine || pending || !this.conn.isOpen,
            'data-testid': 'repost',
            onclick: () => this.repost(e.seq),
          },
          icon('repost'),
          mine ? t.reposted : t.repost,
          h('span', { class: 'count', 'data-testid': 'repost-count' }, count(e.reposts)),
        ),
      ),
    );
  }
}

bootPage('live', async ({ root, eventId, config }) => {
  const path = `/events/${encodeURIComponent(eventId)}`;
  const timeline = new Timeline();
  // All at once; a history cut short (an error on a page) is finished by the sync.
  const [event, history] = await Promise.all([
    getJson<EventView>(config, path),
    readHistory(
      (after, limit) => getJson<TimelinePage>(config, `${path}/timeline?after=${after}&limit=${limit}`),
      (entries) => entries.forEach((e) => timeline.apply(e)),
    ),
    ensureViewerId(config),
  ]);
  document.title = event.title;
  new LivePage(config, event, timeline, history.lastChange).mount(root);
});
