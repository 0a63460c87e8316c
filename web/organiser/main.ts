// The organiser's console, /organiser: sign in with the admin key (this tab's sessionStorage only),
// list the events newest first, create one, hand out its links (live page, the reporter's console
// with its token, replay and exports, an embed snippet) and make a reporter a new token.
import { ApiError, loadConfig, type PageConfig } from '../lib/config';
import { byId, h, replace } from '../lib/dom';
import { clock, day } from '../lib/format';
import { languageSwitch, startLocale, t } from '../lib/i18n';
import { data, pageHeader } from '../lib/page';
import { organiserMessages, type OrganiserMessages } from './messages';
import {
  type CreatedEvent,
  embedSnippet,
  eventLinks,
  keepAdminKey,
  type ListedEvent,
  OrganiserApi,
  startsAtFromLocal,
  storedAdminKey,
} from '../lib/organiser-api';

const PAGE_SIZE = 20;
/** How long a copy button says "Copied". */
const COPIED_MS = 2000;

interface Held {
  event: ListedEvent;
  /** Known only right after create or rotate, and only in this page's memory: never stored. */
  operatorToken?: string;
}

const when = (iso: string) => `${day(iso)} ${clock(iso)}`;

class OrganiserPage {
  private api: OrganiserApi | undefined;
  private readonly held = new Map<string, Held>();
  /** Newest first, as the list gives them; events created here go on top. */
  private order: string[] = [];
  private next: string | null = null;
  /** Events whose folded part the organiser opened. */
  private readonly unfolded = new Set<string>();

  private readonly els = {
    notice: h('p', { class: 'notice', role: 'status', hidden: true, 'data-testid': 'notice' }),
    list: h('ol', { class: 'events', 'data-testid': 'events' }),
    empty: h('p', { class: 'empty', hidden: true }, o.noEvents),
    more: h('button', { type: 'button', hidden: true, 'data-testid': 'load-more' }, o.loadMore),
  };

  constructor(
    private readonly config: PageConfig,
    private readonly root: HTMLElement,
  ) {
    this.els.more.addEventListener('click', () => void this.loadMore());
  }

  start(): void {
    const key = storedAdminKey();
    if (key === undefined) this.showSignIn();
    else void this.signIn(key, true);
  }

  private showSignIn(message?: string | (string | Node)[]): void {
    const key = h('input', {
      type: 'password',
      id: 'admin-key',
      autocomplete: 'off',
      required: true,
      spellcheck: 'false',
      'data-testid': 'admin-key',
    });
    const submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'sign-in' }, o.signIn);
    const error = h(
      'p',
      { class: 'notice error', role: 'alert', hidden: message === undefined, 'data-testid': 'sign-in-error' },
      ...(message === undefined ? [] : typeof message === 'string' ? [message] : message),
    );
    const form = h(
      'form',
      { class: 'panel', 'data-testid': 'sign-in-form' },
      h('p', {}, o.signInIntro),
      h('label', { for: 'admin-key', class: 'field' }, o.adminKeyLabel),
      h('div', { class: 'token-form' }, key, submit),
    );
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const value = key.value.trim();
      if (!value) return;
      submit.disabled = true;
      submit.textContent = o.signingIn;
      void this.signIn(value, false);
    });
    replace(this.root, h('main', { class: 'page narrow' }, pageHeader(h('h1', {}, o.organiserTitle)), error, form));
    key.focus();
  }

  /** Signs in by listing: the list is the first thing shown, and a refused key lists nothing. */
  private async signIn(key: string, fromStorage: boolean): Promise<void> {
    const api = new OrganiserApi(this.config, key);
    let first;
    try {
      first = await api.list(undefined, PAGE_SIZE);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        keepAdminKey(undefined);
        this.showSignIn(fromStorage ? o.adminKeyExpired : o.wrongAdminKey);
      } else {
        this.showSignIn(o.requestFailed(data(reason(err))));
      }
      return;
    }
    keepAdminKey(key);
    this.api = api;
    this.held.clear();
    this.order = [];
    this.add(first.items);
    this.next = first.next;
    this.showConsole();
  }

  private signOut(message?: string): void {
    keepAdminKey(undefined);
    this.api = undefined;
    // Tokens shown in this page go with the key.
    this.held.clear();
    this.unfolded.clear();
    this.order = [];
    this.showSignIn(message);
  }

  private showConsole(): void {
    const title = h('input', {
      type: 'text',
      id: 'new-title',
      autocomplete: 'off',
      placeholder: o.eventTitlePlaceholder,
      'data-testid': 'new-title',
    });
    // The title has no maxlength: it counts UTF-16 units (an emoji is two) where the API counts characters; an
    // over-long title gets the API's own refusal, not a silent cut.
    const startsAt = h('input', { type: 'datetime-local', id: 'new-starts-at', 'data-testid': 'new-starts-at' });
    const create = h('button', { type: 'submit', class: 'primary', 'data-testid': 'create' }, o.createEvent);
    const error = h('p', { class: 'notice error', role: 'alert', hidden: true, 'data-testid': 'create-error' });
    const form = h(
      'form',
      { class: 'panel create', 'data-testid': 'create-form' },
      h('h2', {}, o.newEvent),
      h('label', { for: 'new-title', class: 'field' }, o.eventTitleLabel),
      title,
      h('label', { for: 'new-starts-at', class: 'field' }, o.startsAtLabel),
      startsAt,
      h('div', { class: 'row' }, create),
      error,
    );
    const fail = (...text: (string | Node)[]) => {
      replace(error, ...text);
      error.hidden = false;
    };
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      error.hidden = true;
      const name = title.value.trim();
      if (!name) return fail(o.titleRequired);
      let starts: string | undefined;
      try {
        starts = startsAtFromLocal(startsAt.value);
      } catch {
        return fail(o.badStartsAt);
      }
      create.disabled = true;
      create.textContent = o.creating;
      this.createEvent(name, starts)
        .then(() => {
          title.value = '';
          startsAt.value = '';
        })
        .catch((err: unknown) => {
          if (!this.refusedKey(err)) fail(...o.requestFailed(data(reason(err))));
        })
        .finally(() => {
          create.disabled = false;
          create.textContent = o.createEvent;
        });
    });
    const signOut = h(
      'button',
      { type: 'button', 'data-testid': 'sign-out', onclick: () => this.signOut() },
      o.signOut,
    );
    replace(
      this.root,
      h(
        'main',
        { class: 'page' },
        pageHeader(h('h1', {}, o.organiserTitle), h('span', { class: 'spacer' }), signOut),
        form,
        h('h2', {}, o.eventsHeading),
        this.els.notice,
        this.els.empty,
        this.els.list,
        h('div', { class: 'more' }, this.els.more),
      ),
    );
    this.render();
  }

  private async createEvent(title: string, startsAt: string | undefined): Promise<void> {
    const created: CreatedEvent = await this.api!.create(title, startsAt);
    this.held.set(created.eventId, {
      event: {
        eventId: created.eventId,
        title: created.title,
        createdAt: created.createdAt,
        lastSeq: 0,
        viewers: 0,
        ...(created.startsAt ? { startsAt: created.startsAt } : {}),
      },
      operatorToken: created.operatorToken,
    });
    this.order = [created.eventId, ...this.order.filter((id) => id !== created.eventId)];
    this.render();
  }

  private async loadMore(): Promise<void> {
    if (!this.api || this.next === null) return;
    this.els.more.disabled = true;
    try {
      const page = await this.api.list(this.next, PAGE_SIZE);
      this.add(page.items);
      this.next = page.next;
      this.render();
    } catch (err) {
      if (!this.refusedKey(err)) this.notify('error', o.requestFailed(data(reason(err))));
    } finally {
      this.els.more.disabled = false;
    }
  }

  private add(items: ListedEvent[]): void {
    for (const event of items) {
      // An event created here may come again in a later page: it keeps its place and its token.
      if (this.held.has(event.eventId)) continue;
      this.held.set(event.eventId, { event });
      this.order.push(event.eventId);
    }
  }

  private async rotate(held: Held, button: HTMLButtonElement): Promise<void> {
    if (!window.confirm(o.confirmRotate(held.event.title))) return;
    button.disabled = true;
    button.textContent = o.rotating;
    try {
      const { operatorToken } = await this.api!.rotateToken(held.event.eventId);
      held.operatorToken = operatorToken;
      this.notify('info', [o.rotated]);
      this.render();
    } catch (err) {
      button.disabled = false;
      button.textContent = o.rotateToken;
      if (!this.refusedKey(err)) this.notify('error', o.requestFailed(data(reason(err))));
    }
  }

  /** A 401 after signing in: the key was changed meanwhile. Back to the sign-in form. */
  private refusedKey(err: unknown): boolean {
    if (!(err instanceof ApiError && err.status === 401)) return false;
    this.signOut(o.adminKeyExpired);
    return true;
  }

  private notify(kind: 'info' | 'error', text: (string | Node)[]): void {
    this.els.notice.className = `notice ${kind}`;
    replace(this.els.notice, ...text);
    this.els.notice.hidden = false;
  }

  private render(): void {
    this.els.empty.hidden = this.order.length > 0;
    this.els.more.hidden = this.next === null;
    replace(this.els.list, ...this.order.map((id) => this.card(this.held.get(id)!)));
  }

  private card(held: Held): HTMLElement {
    const { event } = held;
    const links = eventLinks(location.origin, event.eventId, held.operatorToken);
    const rotate = h('button', { type: 'button', class: 'danger', 'data-testid': 'rotate' }, o.rotateToken);
    rotate.addEventListener('click', () => void this.rotate(held, rotate));
    const snippet = embedSnippet(location.origin, event.eventId, event.title);
    return h(
      'li',
      { class: 'event', 'data-testid': 'event', 'data-event-id': event.eventId },
      h('h3', { translate: 'no', 'data-testid': 'event-title' }, event.title),
      h(
        'p',
        { class: 'muted small' },
        o.eventMeta(when(event.createdAt), event.lastSeq, event.viewers),
        event.startsAt ? ` · ${o.startsAtMeta(when(event.startsAt))}` : '',
        ' · ',
        data(event.eventId, 'span', { class: 'id' }),
      ),
      h(
        'div',
        { class: 'links' },
        h('a', { href: links.live, target: '_blank', rel: 'noopener', 'data-testid': 'link-live' }, o.linkLive),
        h('a', { href: links.replay, target: '_blank', rel: 'noopener', 'data-testid': 'link-replay' }, o.linkReplay),
      ),
      // A token just made: in full view, it will not be shown again.
      held.operatorToken === undefined
        ? null
        : h(
            'div',
            { class: 'notice info once', 'data-testid': 'report-once' },
            h('p', {}, h('strong', {}, o.linkReport), ' — ', o.reportLinkNote),
            copyField(
              links.report,
              'report-link',
              o.linkReport,
              h(
                'a',
                { href: links.report, target: '_blank', rel: 'noopener', 'data-testid': 'link-report' },
                o.linkReport,
              ),
            ),
          ),
      // The rest folded away, so a phone sees many events at once.
      h(
        'details',
        {
          class: 'more-links',
          open: this.unfolded.has(event.eventId),
          'data-testid': 'more',
          // Kept across the list's rebuilds (a rotation, a page loaded).
          ontoggle: (ev) =>
            (ev.target as HTMLDetailsElement).open
              ? this.unfolded.add(event.eventId)
              : this.unfolded.delete(event.eventId),
        },
        h('summary', {}, o.embedAndToken),
        h('label', { class: 'field' }, o.embedLabel),
        copyField(snippet, 'embed-snippet', o.embedLabel),
        held.operatorToken === undefined
          ? h('p', { class: 'muted small', 'data-testid': 'report-no-token' }, o.reportNoToken)
          : null,
        h('div', { class: 'row' }, rotate),
      ),
    );
  }
}

/** A read-only text (a link, a snippet) with a Copy button; where the clipboard is refused, the text is selected for the reader to copy. */
function copyField(text: string, testid: string, label: string, ...before: HTMLElement[]): HTMLElement {
  const field = h('input', {
    type: 'text',
    readonly: true,
    value: text,
    translate: 'no',
    'aria-label': label,
    'data-testid': testid,
    onfocus: (ev) => (ev.target as HTMLInputElement).select(),
  });
  const button = h('button', { type: 'button', class: 'small', 'data-testid': `copy-${testid}` }, o.copy);
  const said = h('span', { class: 'small muted', role: 'status' });
  button.addEventListener('click', () => {
    // No clipboard API outside a secure context (a page opened over plain http on the LAN): the catch below.
    Promise.resolve()
      .then(() => navigator.clipboard.writeText(text))
      .then(() => {
        button.textContent = o.copied;
        setTimeout(() => (button.textContent = o.copy), COPIED_MS);
      })
      .catch(() => {
        field.focus();
        field.select();
        said.textContent = o.copyFailed;
      });
  });
  return h('div', { class: 'copy' }, ...before, h('div', { class: 'copy-row' }, field, button), said);
}

const reason = (err: unknown) => (err instanceof Error ? err.message : String(err));

startLocale();
const o: OrganiserMessages = organiserMessages();
document.title = o.organiserTitle;
const root = byId('app');
loadConfig()
  .then((config) => new OrganiserPage(config, root).start())
  .catch((err: unknown) =>
    replace(
      root,
      h(
        'main',
        { class: 'page narrow' },
        h('div', { class: 'row' }, h('span', { class: 'spacer' }), languageSwitch()),
        h('p', { class: 'notice error', 'data-testid': 'load-error' }, ...t.loadFailed(data(reason(err)))),
      ),
    ),
  );
