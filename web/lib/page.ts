// How every page starts: the event id from the address, the configuration, and a clear message
// instead of a blank page when either is missing or the event does not exist.
import { ApiError, loadConfig, type PageConfig } from './config';
import { byId, h, replace } from './dom';
import { eventIdFromPath } from './format';
import { languageSwitch, startLocale, t } from './i18n';

export interface PageStart {
  root: HTMLElement;
  eventId: string;
  config: PageConfig;
}

export function bootPage(
  path: 'live' | 'report' | 'replay' | 'embed',
  start: (page: PageStart) => Promise<void>,
): void {
  startLocale();
  const root = byId('app');
  const fail = (...text: (string | Node)[]) =>
    replace(
      root,
      h(
        'main',
        { class: 'page narrow' },
        h('div', { class: 'row' }, h('span', { class: 'spacer' }), languageSwitch()),
        h('p', { class: 'notice error', 'data-testid': 'load-error' }, ...text),
      ),
    );
  const eventId = eventIdFromPath(location.pathname);
  if (!eventId) {
    fail(t.noEventInPath(path));
    return;
  }
  loadConfig()
    .then((config) => start({ root, eventId, config }))
    .catch((err: unknown) =>
      err instanceof ApiError && err.status === 404
        ? fail(...t.noSuchEvent(data(eventId)))
        : // The reason is the browser's or the server's own words.
          fail(...t.loadFailed(data(err instanceof Error ? err.message : String(err)))),
    );
}

/** The sticky header every page has: the title and the language switch, then one row of status and controls. */
export function pageHeader(title: HTMLElement, ...row: (Node | null)[]): HTMLElement {
  return h(
    'header',
    { class: 'topbar' },
    h('div', { class: 'row' }, title, h('span', { class: 'spacer' }), languageSwitch()),
    h('div', { class: 'row' }, ...row),
  );
}

/**
 * Text that is data, not interface (an update, a title, an id, a server's message): marked
 * `translate="no"` — for translating browsers, and for the test that finds untranslated interface text.
 */
export function data(
  text: string,
  tag: 'span' | 'p' | 'h1' = 'span',
  attrs: Record<string, string | number> = {},
): HTMLElement {
  return h(tag, { ...attrs, translate: 'no' }, text);
}
