// Text limits and rules as a person counts and reads them, with no dependencies: the handlers'
// schemas and the pages' character counter use the same definitions (the pages bundle this file, not zod).
export const MAX_TEXT_CHARS = 2000;

/** Characters as a person counts them: Unicode code points, so one emoji or one 汉字 is one. */
export const charCount = (s: string): number => {
  let n = 0;
  for (const _ of s) n++;
  return n;
};

/** How one kind of free text a client sends is read. */
export interface TextRule {
  /** What messages call it: `text`, `title`, `clientId`. */
  name: string;
  /** A line break is refused (titles, ids); otherwise \r\n and a lone \r become \n. */
  oneLine?: boolean;
  /** Leading and trailing whitespace is dropped before the blank and length checks (titles). */
  trim?: boolean;
  /** Most characters (code points), counted on the text as it will be stored. */
  maxChars?: number;
}

export type TextProblem = 'empty' | 'malformed' | 'control' | 'line_break' | 'too_long';

export type TextVerdict = { ok: true; text: string } | { ok: false; problem: TextProblem; message: string };

/** U+XXXX, as the Unicode standard names a code point. */
export const codePointName = (cp: number): string => `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;

// Only whitespace (any Unicode White_Space: U+3000, U+00A0…) and characters that render as
// nothing (Default_Ignorable_Code_Point: U+200B, U+FEFF, U+200D, U+2060, variation selectors…)
// would show an empty entry.
const BLANK = /^[\p{White_Space}\p{Default_Ignorable_Code_Point}]*$/u;

/**
 * Why the code point at character `at` is refused under this rule, as [problem, message], or
 * undefined. Controls are refused, not stripped: a silent change would store something other than
 * what the reporter sent and was acked for, and a NUL or a backspace in a text is a client's bug
 * worth hearing about. Tab stays (pasted tables); newline stays where the text may have lines. Bidi
 * embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) are refused because they
 * reorder what is displayed after them, so viewers read something other than what was written (the
 * "Trojan Source" trick); Arabic and Hebrew need none of them, and the marks U+200E, U+200F and
 * U+061C stay allowed.
 */
function refusal(cp: number, at: number, rule: TextRule): [TextProblem, string] | undefined {
  // Almost every code point is printable: decided by a few comparisons, nothing allocated (a first
  // version that allocated per character took 2–6 ms for 2,000 characters on this machine).
  if ((cp >= 0x20 && cp < 0x7f) || (cp >= 0xa0 && cp < 0x2028) || (cp > 0x2069 && (cp < 0xd800 || cp > 0xdfff)))
    return undefined;
  const lineBreak = cp === 0x0a || cp === 0x0d || cp === 0x2028 || cp === 0x2029;
  if (cp === 0x09 || (lineBreak && !rule.oneLine)) return undefined;
  const { name } = rule;
  const where = () => `${codePointName(cp)} at character ${at}`;
  if (lineBreak) return ['line_break', `${name} must be one line: it has a line break ${where()}`];
  if (cp < 0x20 || cp === 0x7f || (cp >= 0x80 && cp <= 0x9f)) {
    const allowed = rule.oneLine ? 'tab is' : 'newline and tab are';
    return ['control', `${name} contains the control character ${where()} (of those only ${allowed} allowed)`];
  }
  if ((cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069)) {
    return ['control', `${name} contains the bidirectional control ${where()}, which reorders the text shown after it`];
  }
  // A valid pair arrives joined (above 0xFFFF): a surrogate here stands alone, so is malformed.
  if (cp >= 0xd800 && cp <= 0xdfff)
    return ['malformed', `${name} is not well-formed Unicode: a lone surrogate ${where()}`];
  return undefined;
}

/**
 * Checks a client's free text and returns it as it will be stored, or the first problem with a
 * message that names the character (U+XXXX) and its position (1-based, in characters as
 * `charCount` counts them, in the text as sent). One scan finds lone surrogates with their position
 * (`String.prototype.isWellFormed` says only whether there is one, and the pages' browsers —
 * Safari 15 — lack it).
 */
export function checkText(raw: string, rule: TextRule): TextVerdict {
  const { name } = rule;
  if (raw === '') return { ok: false, problem: 'empty', message: `${name} must not be empty` };
  // codePointAt joins a valid surrogate pair into one code point and returns a lone one as itself.
  for (let i = 0, at = 1; i < raw.length; at++) {
    const cp = raw.codePointAt(i)!;
    i += cp > 0xffff ? 2 : 1;
    const refused = refusal(cp, at, rule);
    if (refused) return { ok: false, problem: refused[0], message: refused[1] };
  }
  // One form of line break: phones and Windows clipboards send \r\n (old Macs a lone \r), a browser's
  // textarea gives \n. Refusing them would refuse ordinary pastes; keeping them would store an
  // invisible character that counts against the 2,000 and renders differently per page.
  let text = rule.oneLine ? raw : raw.replace(/\r\n?/g, '\n');
  if (rule.trim) text = text.trim();
  if (BLANK.test(text)) {
    return { ok: false, problem: 'empty', message: `${name} is empty: it has only spaces or invisible characters` };
  }
  // A string's UTF-16 length is never below its code points: most texts need no counting.
  if (rule.maxChars !== undefined && text.length > rule.maxChars && charCount(text) > rule.maxChars) {
    return { ok: false, problem: 'too_long', message: `${name} is longer than ${rule.maxChars} characters` };
  }
  return { ok: true, text };
}
