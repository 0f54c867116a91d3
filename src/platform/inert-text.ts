/**
 * Text from the wire made inert: what a peer writes (a Request-URI user part, a reason phrase, a
 * From user part) is stored as printable text of bounded length, and a cell of a CSV we emit is
 * never read by a spreadsheet as a formula. Pure functions; no domain imports.
 *
 * Written by hand because the rule is two regular expressions (OWASP "CSV Injection"): a cell
 * that starts with `=`, `+`, `-`, `@`, a tab or a carriage return, also after leading whitespace,
 * gets a leading `'`, which Excel, LibreOffice and Google Sheets show but never evaluate. Plain
 * numbers stay as they are (E.164 `+13105551234`, amounts such as `-0.010000`): a cell that is
 * nothing but a number cannot carry a formula, and a billing clerk needs them as numbers.
 */

/** Control characters (C0, DEL, C1), format characters (bidi overrides, zero-width), line/paragraph separators, lone surrogates. */
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;
/** Whitespace controls become one space first, so "a\tb" stays two words. */
const SPACING = /[\t\r\n\v\f]+/g;

/**
 * Printable text of at most `maxChars` code points: controls and invisible format characters are
 * removed (tab, CR and LF become a space), the result trimmed and cut. Null stays null; text with
 * nothing printable becomes null.
 */
export function printableText(text: string | null | undefined, maxChars: number): string | null {
  if (text === null || text === undefined) return null;
  const clean = text.replace(SPACING, ' ').replace(UNPRINTABLE, '').trim();
  if (!clean) return null;
  const chars = Array.from(clean);
  return chars.length > maxChars ? chars.slice(0, maxChars).join('').trimEnd() : clean;
}

/** What a spreadsheet evaluates: one of = + - @ TAB CR first, possibly after whitespace. */
const FORMULA_START = /^\s*[=+\-@\t\r]/;
/** A whole cell that is one number: an E.164 number or a signed decimal amount. */
const PLAIN_NUMBER = /^[+-]?\d+(\.\d+)?$/;

/** One CSV cell a spreadsheet will not evaluate: `'` before a formula-like value; numbers untouched. */
export function spreadsheetSafe(cell: string): string {
  if (!FORMULA_START.test(cell) || PLAIN_NUMBER.test(cell)) return cell;
  return `'${cell}`;
}
