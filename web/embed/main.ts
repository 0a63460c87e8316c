// The embed, /embed/{eventId}: a compact live view for other sites' iframes — the title, the newest
// entries with their photos, live — and a way out to the full live page. It reads the history and
// keeps itself current exactly as the live page does (web/lib/history.ts, live-connection.ts,
// timeline.ts); it has no reposts, filter or new-updates bar. Which sites may frame it is the
// deployment's choice (CSP frame-ancestors, docs/pages.md); every other page refuses to be framed.
import type { ServerFrame } from '../lib/types';
import { socketUrl } from '../lib/config';
import { h, perFrame, replace } from '../lib/dom';
import { clock } from '../lib/format';
import { readEventAndHistory } from '../lib/history';
import { LiveConnection } from '../lib/live-connection';
import { PhotoViews } from '../lib/photos-view';
import { t } from '../lib/i18n';
import { bootPage, data } from '../lib/page';
import { showState } from '../lib/status';
import { type HeldEntry, Timeline } from '../lib/timeline';

/** Entries shown: an embed is a glimpse; the full page has the rest. */
export const EMBED_ENTRIES = 20;
const SYNC_LIMIT = 100;

bootPage('embed', async ({ root, eventId, config }) => {
  const timeline = new Timeline();
  const [event, history] = await readEventAndHistory(config, eventId, (entries) =>
    entries.forEach((e) => timeline.apply(e)),
  );
  document.title = event.title;
  const photos = new PhotoViews(config);
  const status = h('span', { class: 'status', role: 'status', 'data-testid': 'status' });
  const list = h('ol', { class: 'entries', 'data-testid': 'entries' });
  const empty = h('p', { class: 'empty', hidden: true }, t.nothingYet);
  // _top: the full page replaces the host's page, not the frame (a live page inside a frame is refused anyway).
  const full = () =>
    h(
      'a',
      { href: `/live/${encodeURIComponent(eventId)}`, target: '_top', class: 'full', 'data-testid': 'open-full' },
      t.openFullLive,
    );

  const card = (e: HeldEntry) =>
    h(
      'li',
      {
        class: `entry${e.kind === 'key' ? ' key' : ''}${e.pinned ? ' pinned' : ''}`,
        'data-seq': e.seq,
        'data-rev': e.rev,
        'data-testid': 'entry',
      },
      h(
        'div',
        { class: 'meta' },
        e.pinned ? h('span', { class: 'badge pin' }, t.pinned) : null,
        e.kind === 'key' ? h('span', { class: 'badge key' }, t.keyMoment) : null,
        h('time', { datetime: e.createdAt }, clock(e.createdAt)),
        e.corrected ? h('span', { class: 'badge corrected', title: t.correctedAt(e.updatedAt) }, t.corrected) : null,
      ),
      e.text === '' ? null : data(e.text, 'p', { class: 'text', 'data-testid': 'text' }),
      photos.of(e),
    );
  const render = () => {
    const entries = timeline.ordered().slice(0, EMBED_ENTRIES);
    empty.hidden = entries.length > 0;
    replace(list, ...entries.map(card));
  };
  const queueRender = perFrame(render);

  const conn = new LiveConnection({
    url: () => socketUrl(config, event.eventId),
    since: () => timeline.syncedThrough,
    ...(history.lastChange !== undefined ? { sinceChange: history.lastChange } : {}),
    syncLimit: SYNC_LIMIT,
    onFrame: (frame: ServerFrame) => {
      if (frame.type === 'update' && timeline.apply(frame.entry) !== 'stale') queueRender();
    },
    onState: (state) => showState(status, state),
  });

  replace(
    root,
    h(
      'main',
      { class: 'embed-page' },
      h(
        'header',
        { class: 'embed-head' },
        data(event.title, 'h1', { 'data-testid': 'title' }),
        h('div', { class: 'row' }, status, h('span', { class: 'spacer' }), full()),
      ),
      empty,
      list,
      h('p', { class: 'embed-foot' }, full()),
    ),
  );
  render();
  // The state's "retrying in N s" counts down.
  setInterval(() => showState(status, conn.state), 1000);
  window.addEventListener('online', () => conn.reconnectNow());
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') conn.reconnectNow();
  });
  conn.start();
  (window as unknown as { livecast: unknown }).livecast = { connection: conn, timeline };
});
