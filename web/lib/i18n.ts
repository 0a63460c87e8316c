// The pages' language: Simplified Chinese or English, from the reader's choice (kept in
// localStorage) or else the browser's languages; every interface string comes from one catalogue.
//
// Why a hand-written typed catalogue and not an i18n library: the catalogue is a TS object per
// locale typed by the English one (messages/zh-cn.ts is `Messages`), so a missing or misspelt
// zh-CN string fails `tsc`; plurals, times and numbers come from the platform's Intl. i18next
// 26.7.2, the usual maintained choice, bundles to 49 KB minified (16 KB gzip) on its own — more
// than the whole live page (15 KB) — and still needs its own typing setup to catch a missing key.
// Both catalogues cost each page +10 KB minified, +3.4 KB gzip (live 15.4 → 25.8 KB; web/build.ts,
// docs/pages.md): a third of what the library alone would add.
import { en, type Messages } from './messages/en';
import { zhCN } from './messages/zh-cn';
import { type Locale, setFormatLocale } from './intl';

export type { Locale };

/** Where the reader's own choice is kept: it outlives the tab, on every page and event. */
export const LOCALE_KEY = 'livecast.lang';

const CATALOGUES: Record<Locale, Messages> = { en, 'zh-CN': zhCN };

/**
 * The locale for a stored choice and the browser's languages, in order of preference: the first
 * language that is Chinese or English decides (any `zh` reads Simplified Chinese — the audience
 * is on the mainland; a Traditional-script reader still reads it better than English). Neither: English.
 */
export function pickLocale(stored: string | null, languages: readonly string[]): Locale {
  if (stored === 'en' || stored === 'zh-CN') return stored;
  for (const tag of languages) {
    const lang = tag.toLowerCase().split('-')[0];
    if (lang === 'zh') return 'zh-CN';
    if (lang === 'en') return 'en';
  }
  return 'en';
}

/** The catalogue of the active locale (English until `startLocale` runs). */
export let t: Messages = en;
export let locale: Locale = 'en';

function storage(): Storage | undefined {
  try {
    return window.localStorage;
  } catch {
    return undefined; // storage blocked (a privacy setting): the browser's languages decide
  }
}

/** Chooses the locale once, at page start, and says so on `<html lang>`. */
export function startLocale(): Locale {
  setActive(pickLocale(storage()?.getItem(LOCALE_KEY) ?? null, navigator.languages ?? [navigator.language]));
  return locale;
}

function setActive(l: Locale): void {
  locale = l;
  t = CATALOGUES[l];
  setFormatLocale(l);
  document.documentElement.lang = l;
}

/**
 * The language switch: names the other language in that language. Choosing it is kept and the page
 * reloads: every page already rebuilds itself from the server and its own storage on a reload (the
 * console's outbox and token survive it), which is simpler and surer than re-rendering in place.
 */
export function languageSwitch(): HTMLButtonElement {
  const other: Locale = locale === 'en' ? 'zh-CN' : 'en';
  const b = document.createElement('button');
  b.type = 'button';
  b.className = 'small lang';
  b.lang = other;
  // The other language's own name is meant to stay as it is in either page.
  b.translate = false;
  b.dataset.testid = 'lang-switch';
  b.textContent = CATALOGUES[other].languageName;
  b.title = t.switchLanguage;
  b.addEventListener('click', () => {
    storage()?.setItem(LOCALE_KEY, other);
    location.reload();
  });
  return b;
}
