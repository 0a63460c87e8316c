// The connection state as the pages show it.
import { t } from './i18n';
import type { ConnectionState } from './live-connection';

export function describeState(state: ConnectionState, now = Date.now()): { cls: string; text: string } {
  switch (state.kind) {
    case 'open':
      return { cls: 'open', text: t.stateLive };
    case 'connecting':
      return { cls: 'connecting', text: state.attempt === 0 ? t.stateConnecting : t.stateReconnecting };
    case 'waiting': {
      const s = Math.max(1, Math.ceil((state.retryAt - now) / 1000));
      return { cls: 'waiting', text: t.stateOffline(s) };
    }
    case 'stopped':
      return { cls: 'stopped', text: t.stateStopped };
  }
}

/** Shows the state in a `.status` element (its dot takes the class's colour). */
export function showState(el: HTMLElement, state: ConnectionState): void {
  const { cls, text } = describeState(state);
  el.className = `status ${cls}`;
  el.textContent = text;
}
