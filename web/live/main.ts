// The live page, /live/{eventId}: the event's entries newest (or oldest) first, pinned on top, live.
// The history comes over HTTP (cacheable); the socket's sync brings only what came after it.
// `#entry-{seq}` opens it at one entry, whenever that entry arrives.
import type { Entry, EventView, ServerFrame, SpikeFrame, StatsFrame } from '../lib/types';
import { getJson, socketUrl, type PageConfig } from '../lib/config';
import { h, icon, perFrame, replace } from '../lib/dom';
import { clock, count } from '../lib/format';
import { readEventAndHistory } from '../lib/history';
import { LiveConnection } from '../lib/live-connection';
import { ensureViewerId, withViewerId } from '../lib/viewer-id';
import { PhotoViews } from '../lib/photos-view';
import { t } from '../lib/i18n';
import { bootPage, data, pageHeader } from '../lib/page';
import { showState } from '../lib/status';
import { type HeldEntry, showRepostTotals, Timeline } from '../lib/timeline';
import { entryUrl, seqFromHash, shareLink } from '../lib/entry-link';
import { earlierVersions, readEntryRevisions, type RevisionsPage, type Version } from '../lib/correction-trail';
import { keepOrder, type ReadingOrder, storedOrder } from '../lib/reading-order';
import { showLiveMeta } from '../lib/live-meta';

const SCROLLED_AWAY_PX = 160;
/** Entries per sync reply: a catch-up spends the @connections budget a bounded page at a time. */
const SYNC_LIMIT = 100;
/** How long the "Link copied" confirmation stays. */
const TOAST_MS = 4000;

/** A correction trail asked for: read once per revision shown (a newer correction reads it again). */
type Trail = { forRev: number } & (
  { state: 'loading' } | { state: 'ready'; versions: Version[] } | { state: 'error'; why: string }
);

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
  private order: ReadingOrder = storedOrder();
  /** The entry `#entry-{seq}` names, and whether the page has yet to bring it into view. */
  private target: number | undefined;
  private targetPending = false;
  /**
   * Once scrolled to, the linked entry stays where it is while entries arrive around it (a catch-up
   * brings newer ones above it) until the reader scrolls themselves.
   */
  private holdTarget = false;
  /** Oldest first, the reader was at the end when an update arrived: the page follows it down. */
  private followEnd = false;
  /** Oldest first: the first update that arrived while the reader was away from the end. */
  private firstUnseen: number | undefined;
  private readonly trails = new Map<number, Trail>();
  private readonly openTrails = new Set<number>();
  private toastTimer: ReturnType<typeof setTimeout> | undefined;

  private readonly els = {
    status: h('span', { class: 'status', role: 'status', 'data-testid': 'status' }),
    viewers: h('span', { class: 'pill', title: t.watchingTitle, 'data-testid': 'viewers' }),
    filterAll: h('button', { type: 'button', 'aria-pressed': 'true' }, t.allUpdates),
    filterKey: h('button', { type: 'button', 'aria-pressed': 'false', 'data-testid': 'filter-key' }, t.keyMoments),
    spike: h('div', { class: 'notice spike', role: 'alert', hidden: true, 'data-testid': 'spike' }),
    list: h('ol', { class: 'entries', 'data-testid': 'entries' }),
    empty: h('p', { class: 'empty', hidden: true }, t.nothingYet),
    newBar: h('button', {
      class: 'newbar',
      type: 'button',
      hidden: true,
      'aria-live': 'polite',
      'data-testid': 'new-bar',
    }),
    newestFirst: h('button', { type: 'button', 'aria-pressed': 'true', 'data-testid': 'order-newest' }, t.newestFirst),
    oldestFirst: h('button', { type: 'button', 'aria-pressed': 'false', 'data-testid': 'order-oldest' }, t.oldestFirst),
    toast: h('div', { class: 'toast', role: 'status', hidden: true, 'data-testid': 'toast' }),
    header: undefined as HTMLElement | undefined,
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
    els.newestFirst.addEventListener('click', () => this.setOrder('newest'));
    els.oldestFirst.addEventListener('click', () => this.setOrder('oldest'));
    els.newBar.addEventListener('click', () => this.toNewUpdates());
    els.header = pageHeader(
      data(this.event.title, 'h1', { 'data-testid': 'title' }),
      els.status,
      els.viewers,
      h('span', { class: 'spacer' }),
      h('div', { class: 'toggle', role: 'group', 'aria-label': t.show }, els.filterAll, els.filterKey),
      h(
        'div',
        { class: 'toggle order', role: 'group', 'aria-label': t.readingOrder, title: t.readingOrder },
        els.newestFirst,
        els.oldestFirst,
      ),
      // Just under the header, wherever the reader is (positioned against the header).
      els.newBar,
    );
    replace(root, h('main', { class: 'page' }, els.header, els.spike, els.empty, els.list, els.toast));
    this.showOrder();
    window.addEventListener(
      'scroll',
      () => {
        if (this.unseen > 0 && this.atLatest()) {
          this.unseen = 0;
          this.showUnseen();
        }
      },
      { passive: true },
    );
    // The reader moving the page themselves lets go of the linked entry.
    for (const type of ['wheel', 'touchmove', 'keydown', 'pointerdown'] as const)
      window.addEventListener(type, () => (this.holdTarget = false), { passive: true });
    window.addEventListener('hashchange', () => {
      this.setTarget(seqFromHash(location.hash));
      this.render();
    });
    this.setTarget(seqFromHash(location.hash));
    window.addEventListener('online', () => this.conn.reconnectNow());
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState !== 'visible') return;
      this.conn.reconnectNow();
      // Back on the tab and at the top: the new updates are in view.
      if (this.atLatest() && this.unseen > 0) {
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
      const atLatest = this.atLatest();
      if (!atLatest || document.visibilityState === 'hidden') {
        if (this.unseen === 0 || this.firstUnseen === undefined || entry.seq < this.firstUnseen)
          this.firstUnseen = entry.seq;
        this.unseen++;
        this.showUnseen();
      } else if (this.order === 'oldest') this.followEnd = true;
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
    const about =
      entry && !entry.deleted
        ? data(`“${entry.text.length > 60 ? `${entry.text.slice(0, 60)}…` : entry.text}”`)
        : h('span', {}, t.spikeOnSeq(frame.topSeq));
    replace(
      this.els.spike,
      h('span', { class: 'grow' }, h('strong', {}, t.spikeHeading), ...t.spikeOn(frame.peakPerSecond, about)),
      h(
        'button',
        { type: 'button', class: 'link', 'aria-label': t.dismiss, onclick: () => (this.els.spike.hidden = true) },
        '✕',
      ),
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
    this.els.newBar.textContent = this.order === 'newest' ? t.newUpdates(n) : t.newUpdatesBelow(n);
    document.title = n > 0 ? `(${n}) ${this.event.title}` : this.event.title;
  }

  /**
   * Whether the reader is where new updates appear: near the top newest first, near the end oldest
   * first. There a new update is in view (oldest first, the page follows it down); elsewhere it is
   * counted in the bar and the reader's place is kept.
   */
  private atLatest(): boolean {
    if (this.order === 'newest') return window.scrollY < SCROLLED_AWAY_PX;
    const end = document.documentElement.scrollHeight - window.innerHeight;
    return end - window.scrollY < SCROLLED_AWAY_PX;
  }

  /** The bar: newest first, up to the top; oldest first, down to the first update not yet seen. */
  private toNewUpdates(): void {
    if (this.order === 'newest') {
      window.scrollTo({ top: 0, behavior: 'smooth' });
      return;
    }
    const el = this.firstUnseen !== undefined ? this.cardOf(this.firstUnseen) : undefined;
    if (el) this.scrollToCard(el, 'smooth');
    else window.scrollTo({ top: document.documentElement.scrollHeight, behavior: 'smooth' });
    // Asked for and shown: no longer unseen, even if the newest is still below.
    this.unseen = 0;
    this.showUnseen();
  }

  private setOrder(order: ReadingOrder): void {
    if (order === this.order) return;
    this.order = order;
    keepOrder(order);
    this.showOrder();
    // The other end now holds the new ones: what was counted is where the reader is not looking.
    this.unseen = 0;
    this.showUnseen();
    this.render();
    // Start reading at the beginning of the chosen order.
    if (!this.holdTarget) window.scrollTo({ top: 0 });
  }

  private showOrder(): void {
    this.els.newestFirst.setAttribute('aria-pressed', String(this.order === 'newest'));
    this.els.oldestFirst.setAttribute('aria-pressed', String(this.order === 'oldest'));
  }

  private setTarget(seq: number | undefined): void {
    this.target = seq;
    this.targetPending = seq !== undefined;
    this.holdTarget = false;
  }

  private cardOf(seq: number): HTMLElement | undefined {
    return this.els.list.querySelector<HTMLElement>(`[data-seq="${seq}"]`) ?? undefined;
  }

  /** Scrolls a card to just under the sticky header. */
  private scrollToCard(el: HTMLElement, behavior: ScrollBehavior = 'auto'): void {
    const headerBottom = this.els.header?.getBoundingClientRect().bottom ?? 0;
    window.scrollTo({ top: window.scrollY + el.getBoundingClientRect().top - Math.max(0, headerBottom) - 8, behavior });
  }

  private share(seq: number): void {
    const url = entryUrl(location.origin, this.event.eventId, seq);
    void shareLink(navigator, url, this.event.title).then((outcome) => {
      if (outcome === 'copied') this.toast(t.linkCopied);
      // No clipboard (a page on plain http, a denied permission): the link to copy by hand.
      else if (outcome === 'failed') this.toast(...t.copyFailed(data(url)));
    });
  }

  private toast(...text: (string | Node)[]): void {
    replace(this.els.toast, ...text);
    this.els.toast.hidden = false;
    clearTimeout(this.toastTimer);
    this.toastTimer = setTimeout(() => (this.els.toast.hidden = true), TOAST_MS);
  }

  private toggleTrail(e: HeldEntry): void {
    if (this.openTrails.delete(e.seq)) {
      this.render();
      return;
    }
    this.openTrails.add(e.seq);
    const trail = this.trails.get(e.seq);
    if (!trail || trail.forRev !== e.rev || trail.state === 'error') this.loadTrail(e.seq, e.rev);
    this.render();
  }

  /** Reads the entry's revisions, only now that a reader asked (GET …/revisions, paged). */
  private loadTrail(seq: number, rev: number): void {
    this.trails.set(seq, { forRev: rev, state: 'loading' });
    const path = `/events/${encodeURIComponent(this.event.eventId)}/revisions`;
    void readEntryRevisions(
      (after, limit) => getJson<RevisionsPage>(this.config, `${path}?after=${after}&limit=${limit}`),
      seq,
      rev,
    )
      .then((revisions): Trail => {
        const shown = this.timeline.get(seq);
        return { forRev: rev, state: 'ready', versions: earlierVersions(revisions, shown ?? { text: '', images: [] }) };
      })
      .catch((err: unknown): Trail => ({
        forRev: rev,
        state: 'error',
        why: err instanceof Error ? err.message : String(err),
      }))
      .then((trail) => {
        // A newer correction asked for meanwhile wins.
        if (this.trails.get(seq)?.forRev === rev) this.trails.set(seq, trail);
        this.queueRender();
      });
  }

  /** Whether the entry may have had another wording (a pin also raises rev: rev 2 and pinned was only that). */
  private mayHaveEarlierVersions(e: HeldEntry): boolean {
    return !e.deleted && (e.corrected || (e.rev > 1 && !(e.rev === 2 && e.pinned)));
  }

  private trailView(e: HeldEntry): HTMLElement | null {
    if (!this.openTrails.has(e.seq)) return null;
    const trail = this.trails.get(e.seq);
    const box = (...children: (Node | string)[]) =>
      h('div', { class: 'trail', id: `trail-${e.seq}`, 'data-testid': 'trail' }, ...children);
    if (!trail || trail.state === 'loading') return box(h('p', { class: 'muted' }, t.loadingVersions));
    if (trail.state === 'error') {
      return box(
        h(
          'p',
          { class: 'notice error' },
          ...t.versionsFailed(data(trail.why)),
          h('button', { type: 'button', class: 'link', onclick: () => this.loadTrail(e.seq, e.rev) }, t.tryAgain),
        ),
      );
    }
    if (trail.versions.length === 0) return box(h('p', { class: 'muted' }, t.noEarlierWording));
    return box(
      h(
        'ol',
        { class: 'versions' },
        ...trail.versions.map((v) =>
          h(
            'li',
            { 'data-testid': 'version', 'data-rev': v.rev },
            h('time', { datetime: v.at, class: 'muted' }, t.writtenAt(clock(v.at))),
            v.text === '' ? null : data(v.text, 'p', { class: 'text' }),
            v.images.length > 0 ? h('p', { class: 'muted' }, t.withPhotos(v.images.length)) : null,
          ),
        ),
      ),
    );
  }

  private render(): void {
    // A linked entry hidden by the key-moment filter: show everything rather than not open it.
    const linked = this.targetPending && this.target !== undefined ? this.timeline.get(this.target) : undefined;
    if (this.keyOnly && linked && !linked.deleted && linked.kind !== 'key') {
      this.keyOnly = false;
      this.els.filterAll.setAttribute('aria-pressed', 'true');
      this.els.filterKey.setAttribute('aria-pressed', 'false');
    }
    const entries = this.timeline.ordered(this.keyOnly ? (e) => e.kind === 'key' : undefined, this.order);
    this.els.empty.hidden = entries.length > 0;
    this.els.empty.textContent = this.keyOnly && this.timeline.size > 0 ? t.noKeyMoments : t.nothingYet;
    // Keep the reader's place: the page grows at the top (or above a linked entry) while they read
    // further down. Oldest first at the end, it follows the new ones instead.
    const held = this.holdTarget && this.target !== undefined ? this.cardOf(this.target) : undefined;
    const anchor = held
      ? { seq: this.target!, el: held }
      : window.scrollY >= SCROLLED_AWAY_PX
        ? this.firstVisible()
        : undefined;
    const anchorTop = anchor?.el.getBoundingClientRect().top;
    const follow = this.followEnd && !held;
    this.followEnd = false;
    // An open trail whose entry was corrected again is read again (it now lacks the wording replaced).
    for (const seq of this.openTrails) {
      const e = this.timeline.get(seq);
      if (e && !e.deleted && this.trails.get(seq)?.forRev !== e.rev) this.loadTrail(seq, e.rev);
    }
    const focused = this.focusedInList();
    replace(this.els.list, ...entries.map((e) => this.card(e)));
    this.fresh.clear();
    // The list is rebuilt: the card or control that had focus gets it back (keyboard and screen-reader users keep their place).
    if (focused)
      (focused.testid
        ? this.cardOf(focused.seq)?.querySelector<HTMLElement>(`[data-testid="${focused.testid}"]`)
        : this.cardOf(focused.seq)
      )?.focus({ preventScroll: true });
    const target = this.targetPending && this.target !== undefined ? this.cardOf(this.target) : undefined;
    if (target) {
      // The linked entry is here (on load, after a hashchange, or just arrived): bring it into view once.
      this.targetPending = false;
      this.holdTarget = true;
      this.scrollToCard(target);
      target.focus({ preventScroll: true });
    } else if (follow) {
      window.scrollTo({ top: document.documentElement.scrollHeight });
    } else if (anchor && anchorTop !== undefined) {
      const el = this.cardOf(anchor.seq);
      if (el) window.scrollBy(0, el.getBoundingClientRect().top - anchorTop);
    }
    showLiveMeta(this.event, this.timeline.newestShown(), location.origin);
  }

  private focusedInList(): { seq: number; testid: string | undefined } | undefined {
    const el = document.activeElement;
    if (!(el instanceof HTMLElement) || !this.els.list.contains(el)) return undefined;
    const card = el.closest<HTMLElement>('[data-testid=entry]');
    if (!card) return undefined;
    return { seq: Number(card.dataset.seq), testid: el === card ? undefined : el.dataset.testid };
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
    const linked = this.target === e.seq;
    const trailOpen = this.openTrails.has(e.seq);
    return h(
      'li',
      {
        class: `entry${e.kind === 'key' ? ' key' : ''}${e.pinned ? ' pinned' : ''}${this.fresh.has(e.seq) ? ' fresh' : ''}${linked ? ' linked' : ''}`,
        id: `entry-${e.seq}`,
        'data-seq': e.seq,
        'data-rev': e.rev,
        'data-testid': 'entry',
        // The linked entry takes focus when it is brought into view (a screen reader reads it out).
        tabindex: linked ? -1 : null,
        'aria-current': linked ? 'location' : null,
      },
      h(
        'div',
        { class: 'meta' },
        linked ? h('span', { class: 'badge linked', 'data-testid': 'linked' }, t.linkedUpdate) : null,
        e.pinned ? h('span', { class: 'badge pin' }, t.pinned) : null,
        e.kind === 'key' ? h('span', { class: 'badge key' }, t.keyMoment) : null,
        // The time is the entry's link (as on most live blogs): following it opens the page here.
        h(
          'a',
          { href: `#entry-${e.seq}`, class: 'permalink', title: t.linkToUpdate(e.seq) },
          h('time', { datetime: e.createdAt }, clock(e.createdAt)),
        ),
        e.corrected ? h('span', { class: 'badge corrected', title: t.correctedAt(e.updatedAt) }, t.corrected) : null,
      ),
      // A photo-only update has no text.
      e.text === '' ? null : data(e.text, 'p', { class: 'text', 'data-testid': 'text' }),
      this.photos.of(e),
      this.trailView(e),
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
        h(
          'button',
          {
            type: 'button',
            class: 'link share',
            'aria-label': t.shareUpdate(e.seq),
            'data-testid': 'share',
            onclick: () => this.share(e.seq),
          },
          icon('share'),
          t.share,
        ),
        this.mayHaveEarlierVersions(e)
          ? h(
              'button',
              {
                type: 'button',
                class: 'link',
                'aria-expanded': String(trailOpen),
                'aria-controls': trailOpen ? `trail-${e.seq}` : null,
                'data-testid': 'versions',
                onclick: () => this.toggleTrail(e),
              },
              t.earlierVersions,
            )
          : null,
      ),
    );
  }
}

bootPage('live', async ({ root, eventId, config }) => {
  const timeline = new Timeline();
  // All at once: the event, its history and the viewer id.
  const [[event, history]] = await Promise.all([
    readEventAndHistory(config, eventId, (entries) => entries.forEach((e) => timeline.apply(e))),
    ensureViewerId(config),
  ]);
  document.title = event.title;
  showLiveMeta(event, timeline.newestShown(), location.origin);
  new LivePage(config, event, timeline, history.lastChange).mount(root);
});
