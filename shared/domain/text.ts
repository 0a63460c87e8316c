// Text limits as a person counts them, with no dependencies: the handlers' schemas and the pages'
// character counter use the same definitions (the pages bundle this file, not zod).
export const MAX_TEXT_CHARS = 2000;

/** Characters as a person counts them: Unicode code points, so one emoji or one 汉字 is one. */
export const charCount = (s: string): number => {
  let n = 0;
  for (const _ of s) n++;
  return n;
};
