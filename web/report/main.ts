// The reporter's console, /report/{eventId}#token=…: type, Enter publishes; every request goes
// through the outbox, which survives drops and reloads and re-sends with the same clientId.
import type { EventView, ServerFrame } from '../lib/types';
import { getJson, socketUrl, type PageConfig } from '../lib/config';
import { h, icon, perFrame, replace } from '../lib/dom';
import { charCount, MAX_TEXT_CHARS } from '../../shared/domain/text';
import { clock, count, eventIdFromPath } from '../lib/format';
import { LiveConnection } from '../lib/live-connection';
import { newClientId, Outbox, type OutboxItem, type OutboxPhoto, type OutboxRequest } from '../lib/outbox';
import { IndexedDbBlobStore } from '../lib/photo-store';
import { MAX_PHOTOS, shrinkPhoto } from '../lib/photos';
import { PhotoViews } from '../lib/photos-view';
import { imagesOf } from '../lib/types';
import { photoUploader } from '../lib/uploader';
import { languageSwitch, t } from '../lib/i18n';
import { bootPage, data, pageHeader } from '../lib/page';
import { showState } from '../lib/status';
import { type HeldEntry, showRepostTotals, Timeline } from '../lib/timeline';

const tokenKey = (eventId: string) => `livecast.token.${eventId}`;

/** A photo attached to the update being written: shrunk, its bytes already in the photo store. */
interface DraftPhoto extends Omit<OutboxPhoto, 'alt' | 'imageId'> {
  preview: string;
  alt: HTMLInputElement;
}

class ReporterConsole {
  private readonly timeline = new Timeline();
  private readonly conn: LiveConnection;
  private readonly outbox: Outbox;
  private everOpen = false;
  private failedOpens = 0;
  private editing: number | undefined;
  private readonly queueRender = perFrame(() => this.render());
  private readonly photoStore: IndexedDbBlobStore;
  private readonly photos: PhotoViews;
  private drafts: DraftPhoto[] = [];
  /** Photos being shrunk and stored: Publish waits for them. */
  private preparing = 0;

  private readonly els = {
    status: h('span', { class: 'status', role: 'status', 'data-testid': 'status' }),
    pending: h('span', { class: 'pill', 'data-testid': 'pending' }),
    warn: h('div', { class: 'notice error', hidden: true, 'data-testid': 'connect-error' }),
    text: h('textarea', { 'aria-label': t.updateText, placeholder: t.composePlaceholder, 'data-testid': 'compose' }),
    counter: h('span', { class: 'counter', 'data-testid': 'counter' }),
    key: h('input', { type: 'checkbox', 'data-testid': 'key' }),
    publish: h('button', { type: 'button', class: 'primary', 'data-testid': 'publish' }, t.publish),
    outbox: h('ol', { class: 'outbox', 'data-testid': 'outbox' }),
    outboxEmpty: h('p', { class: 'muted small' }, t.nothingSent),
    entries: h('ol', { class: 'entries', 'data-testid': 'entries' }),
    entriesEmpty: h('p', { class: 'empty' }, t.nonePublished),
    // The phone offers its camera or its gallery for image/* (no `capture`, which would force the camera).
    fileInput: h('input', {
      type: 'file',
      accept: 'image/*',
      multiple: true,
      'aria-label': t.addPhotos,
      'data-testid': 'photo-input',
    }),
    addPhotos: h('button', { type: 'button', 'data-testid': 'add-photos' }, t.addPhotos),
    photoInfo: h('span', { class: 'muted small', 'data-testid': 'photo-info' }),
    drafts: h('ol', { class: 'drafts', 'data-testid': 'drafts' }),
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
    this.photoStore = new IndexedDbBlobStore(`livecast.photos.${event.eventId}`);
    this.photos = new PhotoViews(config);
    this.outbox = new Outbox({
      key: `livecast.outbox.${event.eventId}`,
      storage: window.localStorage,
      photos: { store: this.photoStore, upload: photoUploader(config, event.eventId, token) },
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
    els.addPhotos.addEventListener('click', () => els.fileInput.click());
    els.fileInput.addEventListener('change', () => {
      const files = [...(els.fileInput.files ?? [])];
      els.fileInput.value = ''; // the same photo may be picked again after removing it
      void this.attach(files);
    });
    replace(
      root,
      h(
        'main',
        { class: 'page' },
        pageHeader(
          data(this.event.title, 'h1'),
          els.status,
          els.pending,
          h('span', { class: 'spacer' }),
          h(
            'a',
            { href: `/live/${encodeURIComponent(this.event.eventId)}`, target: '_blank', class: 'small' },
            t.openLive,
          ),
        ),
        els.warn,
        h(
          'section',
          { class: 'compose', 'aria-label': t.newUpdate },
          els.text,
          h('div', { class: 'attach' }, els.addPhotos, els.fileInput, els.photoInfo),
          els.drafts,
          h(
            'div',
            { class: 'row' },
            h('label', { class: 'check' }, els.key, t.keyMoment),
            h('span', { class: 'spacer' }),
            els.counter,
            els.publish,
          ),
        ),
        h('h2', {}, t.outbox),
        els.outboxEmpty,
        els.outbox,
        h('h2', {}, t.published),
        els.entriesEmpty,
        els.entries,
      ),
    );
    window.addEventListener('online', () => {
      this.conn.reconnectNow();
      this.outbox.wake(); // an upload that found no network goes again now
    });
    // Photo bytes a reload left behind (stored, never queued) go; then nothing else touches the store first.
    void this.outbox.sweepPhotos().catch(() => undefined);
    setInterval(() => this.showStatus(), 1000);
    this.showCounter();
    this.showStatus();
    this.render();
    this.conn.start();
    els.text.focus();
    (window as unknown as { livecast: unknown }).livecast = {
      connection: this.conn,
      outbox: this.outbox,
      timeline: this.timeline,
    };
  }

  private canPublish(): boolean {
    const text = this.els.text.value;
    // A photo-only update is allowed; one without photos needs text.
    return charCount(text) <= MAX_TEXT_CHARS && this.preparing === 0 && (text.trim() !== '' || this.drafts.length > 0);
  }

  private publish(): void {
    if (!this.canPublish()) return;
    const photos = this.drafts.map(({ preview, alt, ...photo }): OutboxPhoto => {
      URL.revokeObjectURL(preview);
      const text = alt.value.trim();
      return text ? { ...photo, alt: text } : photo;
    });
    const text = this.els.text.value.trim() === '' ? '' : this.els.text.value;
    this.outbox.add({
      action: 'publish',
      text,
      kind: this.els.key.checked ? 'key' : 'text',
      ...(photos.length ? { photos } : {}),
    });
    this.drafts = [];
    this.els.text.value = '';
    this.els.key.checked = false;
    this.showDrafts();
    this.showCounter();
    this.els.text.focus();
  }

  /** Shrinks the picked files in order and keeps their bytes in the photo store, up to MAX_PHOTOS. */
  private async attach(files: File[]): Promise<void> {
    const room = MAX_PHOTOS - this.drafts.length - this.preparing;
    const taken = files.slice(0, Math.max(0, room));
    const notes: string[] = files.length > taken.length ? [t.tooManyPhotos(MAX_PHOTOS)] : [];
    this.preparing += taken.length;
    this.showDrafts(notes);
    for (const file of taken) {
      try {
        const photo = await shrinkPhoto(file);
        const localId = `p${newClientId().slice(1)}`;
        await this.photoStore.put(localId, photo.blob);
        const n = this.drafts.length + 1;
        const alt = h('input', {
          type: 'text',
          maxlength: 300,
          'aria-label': t.altText(n),
          placeholder: t.altPlaceholder,
          'data-testid': 'photo-alt',
        });
        this.drafts.push({
          localId,
          contentType: photo.contentType,
          width: photo.width,
          height: photo.height,
          preview: URL.createObjectURL(photo.blob),
          alt,
        });
      } catch {
        notes.push(t.photoUnreadable);
      } finally {
        this.preparing--;
        this.showDrafts(notes);
      }
    }
  }

  private removeDraft(localId: string): void {
    const draft = this.drafts.find((d) => d.localId === localId);
    if (!draft) return;
    this.drafts = this.drafts.filter((d) => d !== draft);
    URL.revokeObjectURL(draft.preview);
    void this.photoStore.delete(localId).catch(() => undefined);
    this.showDrafts();
  }

  private showDrafts(notes: string[] = []): void {
    const { els } = this;
    const count_ = this.drafts.length;
    els.addPhotos.disabled = count_ + this.preparing >= MAX_PHOTOS;
    const parts = [
      count_ > 0 ? t.photosCount(count_, MAX_PHOTOS) : '',
      this.preparing > 0 ? t.preparingPhotos(this.preparing) : '',
      ...notes,
    ].filter(Boolean);
    els.photoInfo.textContent = parts.join(' · ');
    // Alt inputs are moved, not rebuilt: what was typed in them stays.
    replace(
      els.drafts,
      ...this.drafts.map((d, i) => {
        d.alt.setAttribute('aria-label', t.altText(i + 1));
        return h(
          'li',
          { 'data-testid': 'draft-photo' },
          h('img', { src: d.preview, alt: t.photoOf(i + 1, count_), width: d.width, height: d.height }),
          h(
            'button',
            {
              type: 'button',
              class: 'remove',
              'aria-label': t.removePhoto(i + 1),
              onclick: () => this.removeDraft(d.localId),
            },
            '✕',
          ),
          d.alt,
        );
      }),
    );
    this.showCounter();
  }

  private onFrame(frame: ServerFrame): void {
    if (frame.type === 'update') {
      if (this.timeline.apply(frame.entry) !== 'stale') this.queueRender();
    } else if (frame.type === 'stats') {
      // The reporter sees what lands (in place: an open editor is left alone).
      showRepostTotals(this.timeline, this.els.entries, frame.reposts);
    } else if (frame.type === 'ack' || frame.type === 'error') {
      if (frame.type === 'ack' && 'reposted' in frame) return;
      this.outbox.receive(frame);
    }
  }

  private showConnectError(): void {
    replace(
      this.els.warn,
      h('span', {}, t.cannotConnect),
      h('span', { class: 'spacer' }),
      h('button', { type: 'button', onclick: () => this.onBadToken() }, t.changeToken),
    );
    this.els.warn.hidden = false;
  }

  private showStatus(): void {
    showState(this.els.status, this.conn.state);
    const pending = this.outbox.pending;
    this.els.pending.textContent = pending === 0 ? t.allSent : t.waitingToSend(pending);
  }

  private showCounter(): void {
    const n = charCount(this.els.text.value);
    this.els.counter.textContent = `${count(n)} / ${count(MAX_TEXT_CHARS)}`;
    this.els.counter.classList.toggle('over', n > MAX_TEXT_CHARS);
    this.els.publish.disabled = !this.canPublish();
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
    const detail = this.detailOf(i);
    return h(
      'li',
      { 'data-state': i.state, 'data-client-id': i.clientId, 'data-testid': 'outbox-item' },
      h('span', { class: `state ${i.state}` }, t.outboxState[i.state]),
      // The reporter's own text is data (its title shows it whole where the row cuts it short).
      h(
        'span',
        { class: 'what' },
        ...describe(i.request).map((part, n) => (n === 1 ? data(part, 'span', { title: part }) : part)),
        h('br', {}),
        h('span', { class: 'muted small' }, detail),
        this.uploads(i),
      ),
      i.state === 'failed'
        ? h(
            'span',
            {},
            h('button', { type: 'button', class: 'link', onclick: () => this.outbox.retry(i.clientId) }, t.retry),
            h('button', { type: 'button', class: 'link', onclick: () => this.outbox.discard(i.clientId) }, t.discard),
          )
        : h('span', { class: 'muted small' }, clock(i.createdAt)),
    );
  }

  /** What an outbox row says about where its request is. */
  private detailOf(i: OutboxItem): string {
    const refusal = i.error ? t.refusal(i.error.code, i.error.message) : undefined;
    switch (i.state) {
      case 'acked':
        return t.ackedDetail(i.seq ?? 0, i.rev ?? 0, i.rttMs);
      case 'failed':
        return i.photoLost ? t.photoLost : (refusal ?? t.failed);
      case 'sending':
        return t.sendingDetail;
      case 'uploading':
        return t.uploadingDetail;
      case 'waiting':
        // Its photos are not all stored yet: that, not the socket, is what it waits for.
        if (i.uploadAttempts && refusal) return i.uploadOffline ? t.photosWaitForNetwork : t.retrying(refusal);
        if (!this.conn.isOpen) return t.waitingForConnection;
        return refusal ? t.retrying(refusal) : t.queued;
    }
  }

  /** A queued update's photos: a bar each while they upload; how many once stored or sent. */
  private uploads(i: OutboxItem): HTMLElement | null {
    const photos = i.request.action === 'publish' ? (i.request.photos ?? []) : [];
    if (photos.length === 0) return null;
    if (i.state === 'acked' || i.state === 'failed')
      return h('span', { class: 'muted small' }, ` · ${t.withPhotos(photos.length)}`);
    return h(
      'span',
      { class: 'uploads' },
      ...this.outbox.progressOf(i.clientId).map((fraction, n) => {
        const label = t.photoProgress(n + 1, Math.round(fraction * 100));
        return h(
          'label',
          { 'data-testid': 'photo-progress', 'data-done': String(fraction >= 1) },
          label,
          h('progress', { max: 1, value: fraction, 'aria-label': label }),
        );
      }),
    );
  }

  private entryCard(e: HeldEntry, draft: string | undefined): HTMLElement {
    const act = (request: OutboxRequest) => this.outbox.add(request);
    const editing = this.editing === e.seq && !e.deleted;
    let editor: HTMLElement | null = null;
    if (editing) {
      const area = h('textarea', { 'aria-label': t.correctUpdate(e.seq), 'data-testid': 'edit-text' });
      area.value = draft ?? e.text;
      const save = () => {
        // Blank beside photos is a photo-only update ('' — the server keeps the photos of an edit without `images`).
        const text = area.value.trim() === '' ? '' : area.value;
        if ((text === '' && imagesOf(e).length === 0) || charCount(text) > MAX_TEXT_CHARS) return;
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
          h(
            'button',
            { type: 'button', class: 'primary', 'data-testid': 'save-edit', onclick: save },
            t.saveCorrection,
          ),
          h('button', { type: 'button', onclick: () => ((this.editing = undefined), this.render()) }, t.cancel),
        ),
      );
      queueMicrotask(() => area.focus());
    }
    return h(
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
        h('span', {}, `#${e.seq}`),
        e.pinned ? h('span', { class: 'badge pin' }, t.pinned) : null,
        e.kind === 'key' ? h('span', { class: 'badge key' }, t.keyMoment) : null,
        e.deleted ? h('span', { class: 'badge deleted' }, t.deleted) : null,
        h('time', { datetime: e.createdAt }, clock(e.createdAt)),
        e.rev > 1 ? h('span', {}, t.rev(e.rev)) : null,
        h(
          'span',
          { class: 'reposts', title: t.reposts },
          icon('repost'),
          h('span', { 'data-testid': 'repost-count' }, count(e.reposts)),
        ),
      ),
      editing
        ? editor
        : e.deleted
          ? h('p', { class: 'text', 'data-testid': 'text' }, t.deletedText)
          : e.text === ''
            ? null
            : data(e.text, 'p', { class: 'text', 'data-testid': 'text' }),
      e.deleted ? null : this.photos.of(e),
      e.deleted || editing
        ? null
        : h(
            'div',
            { class: 'actions' },
            h(
              'button',
              {
                type: 'button',
                class: 'link',
                'data-testid': 'edit',
                onclick: () => ((this.editing = e.seq), this.render()),
              },
              t.edit,
            ),
            h(
              'button',
              {
                type: 'button',
                class: 'link',
                'data-testid': 'pin',
                onclick: () => act({ action: 'pin', seq: e.seq, pinned: !e.pinned }),
              },
              e.pinned ? t.unpin : t.pin,
            ),
            h(
              'button',
              {
                type: 'button',
                class: 'link danger',
                'data-testid': 'delete',
                onclick: () => {
                  if (window.confirm(t.confirmDelete(e.seq))) act({ action: 'delete', seq: e.seq });
                },
              },
              t.delete,
            ),
          ),
    );
  }
}

/** What a request does, as [interface words, the reporter's own text (data), if any]. */
function describe(r: OutboxRequest): [string] | [string, string] {
  switch (r.action) {
    case 'publish':
      return [r.kind === 'key' ? '★ ' : '', r.text];
    case 'edit':
      return [t.describeEdit(r.seq), r.text];
    case 'delete':
      return [t.describeDelete(r.seq)];
    case 'pin':
      return [t.describePin(r.seq, r.pinned)];
  }
}

function tokenForm(root: HTMLElement, eventId: string, onToken: (token: string) => void, message?: string): void {
  const input = h('input', {
    type: 'password',
    autocomplete: 'off',
    placeholder: t.tokenLabel,
    'aria-label': t.tokenLabel,
    'data-testid': 'token',
  });
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
      h('div', { class: 'row' }, h('h1', {}, t.consoleHeading), h('span', { class: 'spacer' }), languageSwitch()),
      h('p', { class: 'muted' }, ...t.tokenIntro(data(eventId))),
      message ? h('p', { class: 'notice error' }, message) : null,
      h(
        'form',
        { class: 'token-form', onsubmit: submit },
        input,
        h('button', { type: 'submit', class: 'primary', 'data-testid': 'token-submit' }, t.connect),
      ),
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
  document.title = t.consoleTitle(event.title);
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
