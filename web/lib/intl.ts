// The active locale's formats, all from Intl: times, dates, numbers, plural forms. The locale is
// set once at page start (i18n.ts); the formatters are built once per locale, not per call.
export type Locale = 'zh-CN' | 'en';

let current: Locale = 'en';
let formats = build(current);

function build(l: Locale) {
  return {
    // A live event is followed to the second, on a 24-hour clock in both languages.
    time: new Intl.DateTimeFormat(l, { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }),
    date: new Intl.DateTimeFormat(l, { dateStyle: 'medium' }),
    number: new Intl.NumberFormat(l),
    plural: new Intl.PluralRules(l),
  };
}

export function setFormatLocale(l: Locale): void {
  current = l;
  formats = build(l);
}

export const formatLocale = (): Locale => current;

/** 19:04:05 */
export const clock = (iso: string | number): string => formats.time.format(new Date(iso));
/** 2025年5月1日 / May 1, 2025 */
export const day = (iso: string | number): string => formats.date.format(new Date(iso));
/** 12,345 */
export const count = (n: number): string => formats.number.format(n);
/** The form the locale's plural rules pick for `n` (Chinese has one, English two). */
export const plural = (n: number, forms: { one: string; other: string }): string =>
  formats.plural.select(n) === 'one' ? forms.one : forms.other;
