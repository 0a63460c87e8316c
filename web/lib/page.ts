// How every page starts: the event id from the address, the configuration, and a clear message
// instead of a blank page when either is missing or the event does not exist.
import { ApiError, loadConfig, type PageConfig } from './config';
import { byId, h, replace } from './dom';
import { eventIdFromPath } from './format';

export interface PageStart {
  root: HTMLElement;
  eventId: string;
  config: PageConfig;
}

export function bootPage(path: 'live' | 'report' | 'replay', start: (page: PageStart) => Promise<void>): void {
  const root = byId('app');
  const fail = (text: string) => replace(root, h('main', { class: 'page narrow' }, h('p', { class: 'notice error', 'data-testid': 'load-error' }, text)));
  const eventId = eventIdFromPath(location.pathname);
  if (!eventId) {
    fail(`No event in the address: open /${path}/{eventId}.`);
    return;
  }
  loadConfig()
    .then((config) => start({ root, eventId, config }))
    .catch((err: unknown) =>
      fail(err instanceof ApiError && err.status === 404 ? `There is no event “${eventId}”. Check the link.` : `Could not load the event: ${err instanceof Error ? err.message : String(err)}`),
    );
}

/** The sticky header every page has: the title, then one row of status and controls. */
export function pageHeader(title: HTMLElement, ...row: (Node | null)[]): HTMLElement {
  return h('header', { class: 'topbar' }, h('div', { class: 'row' }, title), h('div', { class: 'row' }, ...row));
}
