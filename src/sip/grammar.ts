// Owns the RFC 3261 §25 lexical pieces shared by every header parser:
// character classes, quoted strings, generic parameters and list splitting.
// Must not import anything outside src/sip (and nothing from NestJS or the database).

/** A parse failure with a code from a small enum and a sentence for humans (it ends up in a 400 reason phrase). */
export type SipErrorCode =
  | 'EMPTY'
  | 'TOO_LARGE'
  | 'BAD_START_LINE'
  | 'BAD_VERSION'
  | 'BAD_METHOD'
  | 'BAD_REQUEST_URI'
  | 'BAD_STATUS'
  | 'BAD_HEADER'
  | 'MISSING_HEADER'
  | 'MULTIPLE_VALUES'
  | 'BAD_CSEQ'
  | 'BAD_VIA'
  | 'BAD_ADDRESS'
  | 'BAD_URI'
  | 'BAD_PARAM'
  | 'BAD_CONTENT_LENGTH'
  | 'BAD_MAX_FORWARDS'
  | 'BAD_DATE'
  | 'BAD_EXPIRES'
  | 'BAD_CALL_ID'
  // A bug in the parser, caught by its safety net: tests assert it never occurs.
  | 'INTERNAL';

export interface SipError {
  readonly code: SipErrorCode;
  readonly reason: string;
}

export type Result<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: SipError };

export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

export function fail<T = never>(code: SipErrorCode, reason: string): Result<T> {
  return { ok: false, error: { code, reason } };
}

// Lookup tables beat regular expressions on the hot path: one array index per character.
const TOKEN = new Uint8Array(128);
for (const c of 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`\'~') TOKEN[c.charCodeAt(0)] = 1;

export function isTokenChar(code: number): boolean {
  return code < 128 && TOKEN[code] === 1;
}

export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (!isTokenChar(s.charCodeAt(i))) return false;
  return true;
}

export function isWhitespace(code: number): boolean {
  return code === 32 || code === 9;
}

export function skipWhitespace(s: string, i: number): number {
  while (i < s.length && isWhitespace(s.charCodeAt(i))) i++;
  return i;
}

export function isDigits(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/**
 * Reads a quoted-string starting at s[i] === '"'. Returns the index just after the closing quote,
 * or -1 when the string is not terminated. Backslash escapes any character (quoted-pair).
 */
export function endOfQuotedString(s: string, i: number): number {
  for (let j = i + 1; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (c === 92) j++;
    else if (c === 34) return j + 1;
  }
  return -1;
}

export function unquote(value: string): string {
  if (value.length < 2 || value.charCodeAt(0) !== 34 || value.charCodeAt(value.length - 1) !== 34) return value;
  return value.slice(1, -1).replace(/\\(.)/gs, '$1');
}

export function quote(value: string): string {
  return `"${value.replace(/(["\\])/g, '\\$1')}"`;
}

/**
 * Splits a list-valued header on top-level commas: commas inside quoted strings and angle brackets
 * belong to the element. Returns undefined when a quote or bracket is left open.
 */
export function splitList(value: string): string[] | undefined {
  const out: string[] = [];
  let start = 0;
  let angle = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 34) {
      const end = endOfQuotedString(value, i);
      if (end < 0) return undefined;
      i = end - 1;
    } else if (c === 60) angle = true;
    else if (c === 62) angle = false;
    else if (c === 44 && !angle) {
      out.push(trimLws(value.slice(start, i)));
      start = i + 1;
    }
  }
  if (angle) return undefined;
  out.push(trimLws(value.slice(start)));
  return out;
}

/** Header or URI parameters. Names are lower-cased (they compare case-insensitively); values are kept as written, quotes included. */
export type Params = Map<string, string | null>;

export interface ParamsRead {
  readonly params: Params;
  readonly end: number;
}

/**
 * Reads `*( SWS ";" SWS name [ SWS "=" SWS value ] )` from s[i]. Stops at the first character that
 * does not continue the list (a comma ends a list element; the caller decides what may follow).
 */
export function readParams(s: string, i: number, what: string): Result<ParamsRead> {
  const params: Params = new Map();
  for (;;) {
    let j = skipWhitespace(s, i);
    if (j >= s.length || s.charCodeAt(j) !== 59) return ok({ params, end: j });
    j = skipWhitespace(s, j + 1);
    const nameStart = j;
    while (j < s.length && isTokenChar(s.charCodeAt(j))) j++;
    if (j === nameStart) return fail('BAD_PARAM', `empty or invalid parameter name in ${what}`);
    const name = s.slice(nameStart, j).toLowerCase();
    let k = skipWhitespace(s, j);
    let value: string | null = null;
    if (k < s.length && s.charCodeAt(k) === 61) {
      k = skipWhitespace(s, k + 1);
      const valueStart = k;
      if (k < s.length && s.charCodeAt(k) === 34) {
        k = endOfQuotedString(s, k);
        if (k < 0) return fail('BAD_PARAM', `unterminated quoted value for parameter ${name} in ${what}`);
      } else if (k < s.length && s.charCodeAt(k) === 91) {
        k = s.indexOf(']', k);
        if (k < 0) return fail('BAD_PARAM', `unterminated IPv6 reference in parameter ${name} in ${what}`);
        k++;
      } else {
        while (k < s.length && (isTokenChar(s.charCodeAt(k)) || s.charCodeAt(k) === 58)) k++;
      }
      if (k === valueStart) return fail('BAD_PARAM', `parameter ${name} in ${what} has an empty value`);
      value = s.slice(valueStart, k);
      j = k;
    }
    if (params.has(name)) return fail('BAD_PARAM', `parameter ${name} appears twice in ${what}`);
    params.set(name, value);
    i = j;
  }
}

export function formatParams(params: Params): string {
  let out = '';
  for (const [name, value] of params) out += value === null ? `;${name}` : `;${name}=${value}`;
  return out;
}

/** Trims SP and HT only: String.trim() would also eat characters such as U+FEFF that belong to a value. */
export function trimLws(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && isWhitespace(s.charCodeAt(start))) start++;
  while (end > start && isWhitespace(s.charCodeAt(end - 1))) end--;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}
