// The organiser's replay, /replay/{eventId}: the whole timeline paged in from the API, played back
// at 1×, 10× or 60× with a scrubber, the repost series with its spikes, and the export.
import type { Entry, EventView, RepostsView, Revision } from '../lib/types';
import { getJson, type PageConfig } from '../lib/config';
import { h, icon, replace } from '../lib/dom';
import { clock, count, day, duration } from '../lib/format';
import { t } from '../lib/i18n';
import { bootPage, data, pageHeader } from '../lib/page';
import { ReplayModel, revisionTime } from '../lib/replay-model';
import { imageUrl, PhotoViews } from '../lib/photos-view';

const SPEEDS = [1, 10, 60] as const;
/** The position slider's step. */
const SCRUB_STEP_MS = 100;
const SVG = 'http://www.w3.org/2000/svg';

async function loadAll(config: PageConfig, eventId: string, onProgress: (text: string) => void) {
  const id = encodeURIComponent(eventId);
  const event = await getJson<EventView>(config, `/events/${id}`);
  const entries: Entry[] = [];
  for (let after: number | null = 0; after !== null;) {
    const page: { items: Entry[]; next: number | null } = await getJson(
      config,
      `/events/${id}/timeline?after=${after}&limit=500`,
    );
    entries.push(...page.items);
    after = page.next;
    onProgress(t.loadingTimeline(entries.length));
  }
  const revisions: Revision[] = [];
  for (let after: number | null = 0; after !== null;) {
    const page: { items: Revision[]; next: number | null } = await getJson(
      config,
      `/events/${id}/revisions?after=${after}&limit=500`,
    );
    revisions.push(...page.items);
    after = page.next;
    onProgress(t.loadingRevisions(revisions.length));
  }
  const reposts = await getJson<RepostsView>(config, `/events/${id}/reposts?bucket=1`);
  return new ReplayModel({ event, entries, revisions, reposts });
}

class ReplayPage {
  private t: number;
  private speed: (typeof SPEEDS)[number] = 10;
  private playing = false;
  private lastFrame = 0;
  private shown = new Set<number>();

  private readonly els = {
    play: h('button', { type: 'button', class: 'primary', 'data-testid': 'play' }, t.play),
    speeds: SPEEDS.map((s) =>
      h('button', { type: 'button', 'aria-pressed': 'false', 'data-testid': `speed-${s}` }, `${s}×`),
    ),
    scrub: h('input', {
      type: 'range',
      min: 0,
      step: SCRUB_STEP_MS,
      'aria-label': t.position,
      'data-testid': 'scrubber',
    }),
    clock: h('span', { class: 'clock', 'data-testid': 'clock' }),
    at: h('span', { class: 'muted small' }),
    chart: document.createElementNS<'svg'>(SVG, 'svg'),
    spikes: h('ul', { class: 'spikes', 'data-testid': 'spikes' }),
    list: h('ol', { class: 'entries', 'data-testid': 'entries' }),
    empty: h('p', { class: 'empty' }, t.nothingAtMoment),
  };

  private readonly photos: PhotoViews;

  constructor(
    private readonly config: PageConfig,
    private readonly model: ReplayModel,
  ) {
    this.photos = new PhotoViews(config);
    this.t = model.start;
  }

  mount(root: HTMLElement): void {
    const { els, model } = this;
    const { event, reposts } = model.data;
    els.scrub.max = String(model.sliderMax(SCRUB_STEP_MS));
    els.scrub.addEventListener('input', () => this.seek(model.timeAt(Number(els.scrub.value))));
    els.play.addEventListener('click', () => (this.playing ? this.pause() : this.play()));
    els.speeds.forEach((b, i) => b.addEventListener('click', () => this.setSpeed(SPEEDS[i]!)));
    els.chart.setAttribute('class', 'chart');
    els.chart.setAttribute('role', 'img');
    els.chart.setAttribute('aria-label', t.chartLabel);
    els.chart.dataset.testid = 'chart';
    replace(
      root,
      h(
        'main',
        { class: 'page wide' },
        pageHeader(
          data(event.title, 'h1'),
          h(
            'span',
            { class: 'small muted', 'data-testid': 'summary' },
            t.summary(model.data.entries.length, model.data.revisions.length, reposts.total, reposts.spikes.length),
          ),
          h('span', { class: 'spacer' }),
          h(
            'button',
            { type: 'button', class: 'small', 'data-testid': 'export-json', onclick: () => this.download('json') },
            t.exportJson,
          ),
          h(
            'button',
            { type: 'button', class: 'small', 'data-testid': 'export-csv', onclick: () => this.download('csv') },
            t.exportCsv,
          ),
        ),
        h(
          'div',
          { class: 'layout' },
          h(
            'section',
            {},
            h(
              'div',
              { class: 'player' },
              h(
                'div',
                { class: 'row' },
                els.play,
                h('div', { class: 'toggle', role: 'group', 'aria-label': t.speed }, ...els.speeds),
                h('span', { class: 'spacer' }),
                els.clock,
              ),
              els.scrub,
              els.at,
            ),
            h('h2', {}, t.repostsPerSecond),
            els.chart,
            els.spikes,
          ),
          h('section', {}, h('h2', {}, t.timelineAtMoment), els.empty, els.list),
        ),
      ),
    );
    this.setSpeed(this.speed);
    this.renderSpikes();
    window.addEventListener('resize', () => this.renderChart());
    this.seek(model.start);
    (window as unknown as { livecast: unknown }).livecast = { replay: this };
  }

  get position(): number {
    return this.t;
  }

  play(): void {
    if (this.t >= this.model.end) this.seek(this.model.start);
    this.playing = true;
    this.els.play.textContent = t.pause;
    this.lastFrame = performance.now();
    const tick = (now: number) => {
      if (!this.playing) return;
      const dt = now - this.lastFrame;
      this.lastFrame = now;
      this.seek(Math.min(this.model.end, this.t + dt * this.speed));
      if (this.t >= this.model.end) this.pause();
      else requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  }

  pause(): void {
    this.playing = false;
    this.els.play.textContent = this.t >= this.model.end ? t.replayAgain : t.play;
  }

  setSpeed(speed: (typeof SPEEDS)[number]): void {
    this.speed = speed;
    this.els.speeds.forEach((b, i) => b.setAttribute('aria-pressed', String(SPEEDS[i] === speed)));
  }

  seek(to: number): void {
    this.t = Math.max(this.model.start, Math.min(this.model.end, to));
    this.els.scrub.value = String(Math.round(this.t - this.model.start));
    this.els.clock.textContent = `${duration(this.t - this.model.start)} / ${duration(this.model.span)}`;
    this.els.at.textContent = t.at(clock(this.t), day(this.t));
    this.renderEntries();
    this.renderChart();
  }

  private renderEntries(): void {
    const entries = this.model.at(this.t);
    const now = new Set(entries.map((e) => e.seq));
    this.els.empty.hidden = entries.length > 0;
    replace(
      this.els.list,
      ...entries.map((e) =>
        h(
          'li',
          {
            class: `entry${e.kind === 'key' ? ' key' : ''}${e.pinned ? ' pinned' : ''}${this.playing && !this.shown.has(e.seq) ? ' fresh' : ''}`,
            'data-seq': e.seq,
            'data-rev': e.rev,
            'data-testid': 'entry',
          },
          h(
            'div',
            { class: 'meta' },
            h('span', {}, `#${e.seq}`),
            e.pinned ? h('span', { class: 'badge pin' }, t.pinned) : null,
            e.kind === 'key' ? h('span', { class: 'badge key' }, t.keyMoment) : null,
            h('time', { datetime: e.createdAt }, clock(e.createdAt)),
            e.rev > 1 && revisionTime(e) <= this.t ? h('span', { class: 'badge corrected' }, t.rev(e.rev)) : null,
            h('span', { class: 'reposts', title: t.repostsOverEvent }, icon('repost'), count(e.reposts)),
          ),
          e.text === '' ? null : data(e.text, 'p', { class: 'text', 'data-testid': 'text' }),
          this.photos.of(e),
        ),
      ),
    );
    this.shown = now;
  }

  private renderChart(): void {
    const svg = this.els.chart;
    const { model } = this;
    const width = Math.max(200, svg.clientWidth || 600);
    const height = 140;
    const top = 14;
    const bottom = 18;
    svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
    svg.replaceChildren();
    const x = (t: number) => ((t - model.start) / model.span) * width;
    // One bar per pixel column at most: seconds that fall in the same column add up.
    const columns = new Map<number, number>();
    for (const b of model.data.reposts.buckets) {
      const col = Math.floor(x(b.t));
      columns.set(col, (columns.get(col) ?? 0) + b.count);
    }
    const peak = Math.max(1, ...columns.values());
    // A second's bar fills most of its second (short events), at least one pixel (long ones).
    const barWidth = Math.max(1, (width / Math.max(1, model.span / 1000)) * 0.8);
    const el = (name: string, attrs: Record<string, string | number>, text?: string) => {
      const node = document.createElementNS(SVG, name);
      for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
      if (text !== undefined) node.textContent = text;
      svg.append(node);
      return node;
    };
    model.data.reposts.spikes.forEach((s, i) => {
      const x0 = x(s.startedAt);
      const x1 = x(s.endedAt ?? model.end);
      const rect = el('rect', {
        class: 'spike',
        x: x0,
        y: top - 4,
        width: Math.max(4, x1 - x0),
        height: height - top - bottom + 4,
        'data-testid': `spike-${i}`,
      });
      const title = document.createElementNS(SVG, 'title');
      title.textContent = t.spikeTitle(clock(s.startedAt), s.peakPerSecond, s.total);
      rect.append(title);
      rect.addEventListener('click', () => this.seek(this.model.spikeMoment(s)));
    });
    for (const [col, n] of columns) {
      const barHeight = (n / peak) * (height - top - bottom);
      el('rect', { class: 'bar', x: col, y: height - bottom - barHeight, width: barWidth, height: barHeight });
    }
    el('text', { class: 'axis', x: 4, y: 10 }, t.perSecond(peak));
    el('text', { class: 'axis', x: 4, y: height - 4 }, clock(model.start));
    el('text', { class: 'axis', x: width - 4, y: height - 4, 'text-anchor': 'end' }, clock(model.end));
    const px = x(this.t);
    el('line', { class: 'playhead', x1: px, x2: px, y1: 0, y2: height - bottom });
  }

  private renderSpikes(): void {
    const { spikes } = this.model.data.reposts;
    replace(
      this.els.spikes,
      ...(spikes.length === 0
        ? [h('li', { class: 'muted small' }, t.noSpikes)]
        : spikes.map((s) =>
            h(
              'li',
              {},
              h(
                'button',
                { type: 'button', 'data-testid': 'spike-jump', onclick: () => this.seek(this.model.spikeMoment(s)) },
                s.endedAt === null
                  ? t.spikeOngoing(clock(s.startedAt), s.peakPerSecond, s.total, s.topSeq)
                  : t.spikeEnded(clock(s.startedAt), clock(s.endedAt), s.peakPerSecond, s.total, s.topSeq),
              ),
            ),
          )),
    );
  }

  private download(kind: 'json' | 'csv'): void {
    const absolute = (url: string) => imageUrl(this.config, url);
    const body = kind === 'json' ? this.model.toJson(new Date(), absolute) : this.model.toCsv(absolute);
    const blob = new Blob([body], { type: kind === 'json' ? 'application/json' : 'text/csv;charset=utf-8' });
    const a = h('a', {
      href: URL.createObjectURL(blob),
      download: `livecast-${this.model.data.event.eventId}.${kind}`,
    });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  }
}

bootPage('replay', async ({ root, eventId, config }) => {
  const progress = h('p', { class: 'notice info', 'data-testid': 'loading' }, t.loading);
  replace(root, h('main', { class: 'page narrow' }, progress));
  const model = await loadAll(config, eventId, (text) => (progress.textContent = text));
  document.title = t.replayTitle(model.data.event.title);
  new ReplayPage(config, model).mount(root);
});
