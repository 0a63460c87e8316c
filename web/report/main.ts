// The reporter's console, /report/{eventId}#token=…: type, Enter publishes; every request goes
// through the outbox, which survives drops and reloads and re-sends with the same clientId.
import type { AckFrame, ErrorFrame, EventView, ServerFrame } from '../lib/types';
import { getJson, socketUrl, type PageConfig } from '../lib/config';
import { h, icon, perFrame, replace } from '../lib/dom';
import { charCount, MAX_TEXT_CHARS } from '../../shared/domain/text';
import { clock, count, eventIdFromPath } from '../lib/format';
import { LiveConnection } from '../lib/live-connection';
import { Outbox, type OutboxItem, type OutboxRequest } from '../lib/outbox';
import { bootPage, pageHeader } from '../lib/page';
import { showState } from '../lib/status';
import { type HeldEntry, showRepostTotals, Timeline } from '../lib/timeline';

const tokenKey = (eventId: string) => `livecast.token.${eventId}`;

class ReporterConsole {
  private readonly timeline = new Timeline();
  private readonly conn: LiveConnection;
  private readonly outbox: Outbox;
  private everOpen = false;
  private failedOpens = 0;
  private editing: number | undefined;
  private readonly queueRender = perFrame(() => this.render());

  private readonly els = {
    status: h('span', { class: 'status', role: 'status', 'data-testid': 'status' }),
    pending: h('span', { class: 'pill', 'data-testid': 'pending' }),
    warn: h('div', { class: 'notice error', hidden: true, 'data-testid': 'connect-error' }),
    text: h('textarea', { 'aria-label': 'Update text', placeholder: 'What is happening? Enter publishes, Shift+Enter starts a new line.', 'data-testid': 'compose' }),
    counter: h('span', { class: 'counter', 'data-testid': 'counter' }),
    key: h('input', { type: 'checkbox', 'data-testid': 'key' }),
    publish: h('button', { type: 'button', class: 'primary', 'data-testid': 'publish' }, 'Publish'),
    outbox: h('ol', { class: 'outbox', 'data-testid': 'outbox' }),
    outboxEmpty: h('p', { class: 'muted small' }, 'Nothing sent yet.'),
    entries: h('ol', { class: 'entries', 'data-testid': 'entries' }),
    entriesEmpty: h('p', { class: 'empty' }, 'No updates published yet.'),
  };

  constructor(
    config: PageConfig,
    private readonly event: EventView,
    private readonly token: string,
    private readonly onBadToken: () => void,
  ) {
    this.conn = new LiveConnection({
      url: () => socketUrl(config, event.eventId, token),
      since: () => this.timeline.syncedThrough,
      onFrame: (f) => this.onFrame(f),
      onOpen: () => {
        this.everOpen = true;
        this.failedOpens = 0;
        this.els.warn.hidden = true;
        this.outbox.connected();
      },
      onState: (s) => {
        if (s.kind === 'waiting' && !this.everOpen && ++this.failedOpens >= 2) this.showConnectError();
        this.showStatus();
      },
    });
    this.outbox = new Outbox({
      key: `livecast.outbox.${event.eventId}`,
      storage: window.localStorage,
      send: (frame) => this.conn.send(frame),
      onChange: () => this.queueRender(),
    });
  }

  mount(root: HTMLElement): void {
    const { els } = this;
    els.text.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        this.publish();
      }
    });
    els.text.addEventListener('input', () => this.showCounter());
    els.publish.addEventListener('click', () => this.publish());
    replace(
      root,
      h(
        'main',
        { class: 'page' },
        pageHeader(
          h('h1', {}, this.event.title),
          els.status,
          els.pending,
          h('span', { class: 'spacer' }),
          h('a', { href: `/live/${encodeURIComponent(this.event.eventId)}`, target: '_blank', class: 'small' }, 'Open the live page ↗'),
        ),
        els.warn,
        h(
          'section',
          { class: 'compose', 'aria-label': 'New update' },
          els.text,
          h('div', { class: 'row' }, h('label', { class: 'check' }, els.key, 'Key moment'), h('span', { class: 'spacer' }), els.counter, els.publish),
        ),
        h('h2', {}, 'Outbox'),
        els.outboxEmpty,
        els.outbox,
        h('h2', {}, 'Published'),
        els.entriesEmpty,
        els.entries,
      ),
    );
    window.addEventListener('online', () => this.conn.reconnectNow());
    setInterval(() => this.showStatus(), 1000);
    this.showCounter();
    this.showStatus();
    this.render();
    this.conn.start();
    els.text.focus();
    (window as unknown as { livecast: unknown }).livecast = { connection: this.conn, outbox: this.outbox, timeline: this.timeline };
  }

  private publish(): void {
    const text = this.els.text.value;
    const n = charCount(text);
    if (text.trim() === '' || n > MAX_TEXT_CHARS) return;
    this.outbox.add({ action: 'publish', text, kind: this.els.key.checked ? 'key' : 'text' });
    this.els.text.value = '';
    this.els.key.checked = false;
    this.showCounter();
    this.els.text.focus();
  }

  private onFrame(frame: ServerFrame): void {
    if (frame.type === 'update') {
      if (this.timeline.apply(frame.entry) !== 'stale') this.queueRender();
    } else if (frame.type === 'stats') {
      // The reporter sees what lands (in place: an open editor is left alone).
      showRepostTotals(this.timeline, this.els.entries, frame.reposts);
    } else if (frame.type === 'ack' || frame.type === 'error') {
      if (frame.type === 'ack' && 'reposted' in frame) return;
      this.outbox.receive(frame as AckFrame | ErrorFrame);
    }
  }

  private showConnectError(): void {
    replace(
      this.els.warn,
      h('span', {}, 'Cannot connect. If this keeps happening, the operator token may be wrong.'),
      h('span', { class: 'spacer' }),
      h('button', { type: 'button', onclick: () => this.onBadToken() }, 'Change token'),
    );
    this.els.warn.hidden = false;
  }

  private showStatus(): void {
    showState(this.els.status, this.conn.state);
    const pending = this.outbox.pending;
    this.els.pending.textContent = pending === 0 ? 'All sent' : `${count(pending)} waiting to send`;
  }

  private showCounter(): void {
    const n = charCount(this.els.text.value);
    this.els.counter.textContent = `${count(n)} / ${count(MAX_TEXT_CHARS)}`;
    this.els.counter.classList.toggle('over', n > MAX_TEXT_CHARS);
    this.els.publish.disabled = n > MAX_TEXT_CHARS || this.els.text.value.trim() === '';
  }

  private render(): void {
    this.showStatus();
    const items = [...this.outbox.list()].reverse();
    this.els.outboxEmpty.hidden = items.length > 0;
    replace(this.els.outbox, ...items.map((i) => this.outboxRow(i)));
    // The console lists everything it published, newest first, deleted ones included (struck out).
    const entries = [...this.timeline.ordered(() => true), ...this.deleted()].sort((a, b) => b.seq - a.seq);
    this.els.entriesEmpty.hidden = entries.length > 0;
    // An open editor keeps its text across re-renders — only for the entry it was opened on.
    const area = this.els.entries.querySelector<HTMLTextAreaElement>('.edit textarea');
    const areaSeq = Number(area?.closest<HTMLElement>('[data-seq]')?.dataset.seq);
    const draft = area && areaSeq === this.editing ? area.value : undefined;
    replace(this.els.entries, ...entries.map((e) => this.entryCard(e, draft)));
  }

  private deleted(): HeldEntry[] {
    const out: HeldEntry[] = [];
    for (let seq = 1; seq <= this.timeline.highestSeq; seq++) {
      const e = this.timeline.get(seq);
      if (e?.deleted) out.push(e);
    }
    return out;
  }

  private outboxRow(i: OutboxItem): HTMLElement {
    const detail =
      i.state === 'acked'
        ? `#${i.seq} · rev ${i.rev}${i.rttMs !== undefined ? ` · ${count(i.rttMs)} ms` : ''}`
        : i.state === 'failed'
          ? (i.error?.message ?? 'failed')
          : i.state === 'sending'
            ? 'sending…'
            : this.conn.isOpen
              ? i.error
                ? `retrying: ${i.error.message}`
                : 'queued'
              : 'waiting for the connection';
    return h(
      'li',
      { 'data-state': i.state, 'data-client-id': i.clientId, 'data-testid': 'outbox-item' },
      h('span', { class: `state ${i.state}` }, i.state === 'acked' ? 'acked' : i.state),
      h('span', { class: 'what', title: describe(i.request) }, describe(i.request), h('br', {}), h('span', { class: 'muted small' }, detail)),
      i.state === 'failed'
        ? h(
            'span',
            {},
            h('button', { type: 'button', class: 'link', onclick: () => this.outbox.retry(i.clientId) }, 'Retry'),
            h('button', { type: 'button', class: 'link', onclick: () => this.outbox.discard(i.clientId) }, 'Discard'),
          )
        : h('span', { class: 'muted small' }, clock(i.createdAt)),
    );
  }

  private entryCard(e: HeldEntry, draft: string | undefined): HTMLElement {
    const act = (request: OutboxRequest) => this.outbox.add(request);
    const editing = this.editing === e.seq && !e.deleted;
    let editor: HTMLElement | null = null;
    if (editing) {
      const area = h('textarea', { 'aria-label': `Correct update ${e.seq}`, 'data-testid': 'edit-text' });
      area.value = draft ?? e.text;
      const save = () => {
        const text = area.value;
        if (text.trim() === '' || charCount(text) > MAX_TEXT_CHARS) return;
        this.editing = undefined;
        if (text !== e.text) act({ action: 'edit', seq: e.seq, text });
        this.render();
      };
      area.addEventListener('keydown', (ev) => {
        if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
          ev.preventDefault();
          save();
        } else if (ev.key === 'Escape') {
          this.editing = undefined;
          this.render();
        }
      });
      editor = h(
        'div',
        { class: 'edit' },
        area,
        h(
          'div',
          { class: 'row' },
          h('button', { type: 'button', class: 'primary', 'data-testid': 'save-edit', onclick: save }, 'Save correction'),
          h('button', { type: 'button', onclick: () => ((this.editing = undefined), this.render()) }, 'Cancel'),
        ),
      );
      queueMicrotask(() => area.focus());
    }
    return h(
      'li',
      { class: `entry${e.kind === 'key' ? ' key' : ''}${e.pinned ? ' pinned' : ''}`, 'data-seq': e.seq, 'data-rev': e.rev, 'data-testid': 'entry' },
      h(
        'div',
        { class: 'meta' },
        h('span', {}, `#${e.seq}`),
        e.pinned ? h('span', { class: 'badge pin' }, 'Pinned') : null,
        e.kind === 'key' ? h('span', { class: 'badge key' }, 'Key moment') : null,
        e.deleted ? h('span', { class: 'badge deleted' }, 'Deleted') : null,
        h('time', { datetime: e.createdAt }, clock(e.createdAt)),
        e.rev > 1 ? h('span', {}, `rev ${e.rev}`) : null,
        h('span', { class: 'reposts', title: 'reposts' }, icon('repost'), h('span', { 'data-testid': 'repost-count' }, count(e.reposts))),
      ),
      editing ? editor : h('p', { class: 'text', 'data-testid': 'text' }, e.deleted ? '(deleted)' : e.text),
      e.deleted || editing
        ? null
        : h(
            'div',
            { class: 'actions' },
            h('button', { type: 'button', class: 'link', 'data-testid': 'edit', onclick: () => ((this.editing = e.seq), this.render()) }, 'Edit'),
            h('button', { type: 'button', class: 'link', 'data-testid': 'pin', onclick: () => act({ action: 'pin', seq: e.seq, pinned: !e.pinned }) }, e.pinned ? 'Unpin' : 'Pin'),
            h(
              'button',
              {
                type: 'button',
                class: 'link danger',
                'data-testid': 'delete',
                onclick: () => {
                  if (window.confirm(`Delete update #${e.seq}? Viewers will see it disappear.`)) act({ action: 'delete', seq: e.seq });
                },
              },
              'Delete',
            ),
          ),
    );
  }
}

function describe(r: OutboxRequest): string {
  switch (r.action) {
    case 'publish':
      return `${r.kind === 'key' ? '★ ' : ''}${r.text}`;
    case 'edit':
      return `Correct #${r.seq}: ${r.text}`;
    case 'delete':
      return `Delete #${r.seq}`;
    case 'pin':
      return `${r.pinned ? 'Pin' : 'Unpin'} #${r.seq}`;
  }
}

function tokenForm(root: HTMLElement, eventId: string, onToken: (token: string) => void, message?: string): void {
  const input = h('input', { type: 'password', autocomplete: 'off', placeholder: 'Operator token', 'aria-label': 'Operator token', 'data-testid': 'token' });
  const submit = (ev: Event) => {
    ev.preventDefault();
    const token = input.value.trim();
    if (token) onToken(token);
  };
  replace(
    root,
    h(
      'main',
      { class: 'page narrow' },
      h('h1', {}, 'Reporter console'),
      h('p', { class: 'muted' }, `Event ${eventId}. Enter the operator token you got when the event was created.`),
      message ? h('p', { class: 'notice error' }, message) : null,
      h('form', { class: 'token-form', onsubmit: submit }, input, h('button', { type: 'submit', class: 'primary', 'data-testid': 'token-submit' }, 'Connect')),
    ),
  );
  input.focus();
}

// The token moves from the address to this tab's storage at once, out of sight of anyone looking
// at the screen (and out of the history), before anything else can fail.
const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
const pathEventId = eventIdFromPath(location.pathname);
if (fromHash) {
  if (pathEventId) sessionStorage.setItem(tokenKey(pathEventId), fromHash);
  history.replaceState(null, '', location.pathname + location.search);
}

bootPage('report', async ({ root, eventId, config }) => {
  const event = await getJson<EventView>(config, `/events/${encodeURIComponent(eventId)}`);
  document.title = `Report — ${event.title}`;
  const start = (token: string) => {
    sessionStorage.setItem(tokenKey(eventId), token);
    new ReporterConsole(config, event, token, () => {
      sessionStorage.removeItem(tokenKey(eventId));
      location.reload();
    }).mount(root);
  };
  const token = sessionStorage.getItem(tokenKey(eventId));
  if (token) start(token);
  else tokenForm(root, eventId, start);
});
