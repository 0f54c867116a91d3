// Owns name-addr / addr-spec (RFC 3261 §20.10, §25.1): From, To, Contact, Route, Record-Route, Reply-To.
// Must not import anything outside src/sip.
import {
  type Params,
  type Result,
  endOfQuotedString,
  fail,
  formatParams,
  isTokenChar,
  ok,
  quote,
  readParams,
  skipWhitespace,
  trimLws,
  unquote,
} from './grammar';
import { type Uri, formatUri, parseUri } from './uri';

export interface NameAddr {
  /** Display name without quotes or escapes; undefined when absent. */
  readonly displayName?: string;
  readonly uri: Uri;
  /** Header parameters after the address (tag, expires, q, lr...). */
  readonly params: Params;
}

function parseBracketed(s: string, i: number, displayName: string | undefined, what: string): Result<NameAddr> {
  const close = s.indexOf('>', i);
  if (close < 0) return fail('BAD_ADDRESS', `${what}: missing '>'`);
  const uri = parseUri(s.slice(i + 1, close));
  if (!uri.ok) return fail('BAD_ADDRESS', `${what}: ${uri.error.reason}`);
  return finish(s, close + 1, displayName, uri.value, what);
}

function finish(s: string, i: number, displayName: string | undefined, uri: Uri, what: string): Result<NameAddr> {
  const read = readParams(s, i, what);
  if (!read.ok) return read;
  if (read.value.end !== s.length) return fail('BAD_ADDRESS', `${what}: unexpected text after address`);
  return ok(displayName === undefined ? { uri, params: read.value.params } : { displayName, uri, params: read.value.params });
}

/** Parses one element of an address header (already split from its list). */
export function parseNameAddr(value: string, what = 'address'): Result<NameAddr> {
  const s = trimLws(value);
  if (s === '') return fail('BAD_ADDRESS', `${what}: empty value`);
  if (s.charCodeAt(0) === 34) {
    const end = endOfQuotedString(s, 0);
    if (end < 0) return fail('BAD_ADDRESS', `${what}: unterminated quoted display name`);
    const lt = skipWhitespace(s, end);
    if (s.charCodeAt(lt) !== 60) return fail('BAD_ADDRESS', `${what}: display name not followed by <URI>`);
    return parseBracketed(s, lt, unquote(s.slice(0, end)), what);
  }
  if (s.charCodeAt(0) === 60) return parseBracketed(s, 0, undefined, what);
  // Either `token *(LWS token) <uri>` or a bare addr-spec: scan tokens until something decides.
  let i = 0;
  for (;;) {
    while (i < s.length && isTokenChar(s.charCodeAt(i))) i++;
    const j = skipWhitespace(s, i);
    if (j < s.length && s.charCodeAt(j) === 60) return parseBracketed(s, j, s.slice(0, i).replace(/\s+/g, ' '), what);
    if (j > i && j < s.length && isTokenChar(s.charCodeAt(j))) {
      i = j;
      continue;
    }
    break;
  }
  // addr-spec: the URI runs to the first ';' or whitespace; a URI with ';' params, '?' headers or ','
  // must be bracketed (RFC 3261 §20), so those characters end it or make it invalid.
  let end = 0;
  while (end < s.length) {
    const c = s.charCodeAt(end);
    if (c === 59 || c === 32 || c === 9) break;
    end++;
  }
  const uriText = s.slice(0, end);
  if (uriText.includes('?')) return fail('BAD_ADDRESS', `${what}: a URI with headers must be enclosed in <>`);
  if (uriText.includes('<') || uriText.includes('>') || uriText.includes(',')) return fail('BAD_ADDRESS', `${what}: malformed address`);
  const uri = parseUri(uriText);
  if (!uri.ok) return fail('BAD_ADDRESS', `${what}: ${uri.error.reason}`);
  return finish(s, end, undefined, uri.value, what);
}

export function formatNameAddr(addr: NameAddr): string {
  const display = addr.displayName === undefined ? '' : `${quote(addr.displayName)} `;
  return `${display}<${formatUri(addr.uri)}>${formatParams(addr.params)}`;
}

export function addressTag(addr: NameAddr): string | undefined {
  return addr.params.get('tag') ?? undefined;
}

/** A copy of the address with a parameter set (tag on To, expires on Contact). */
export function withParam(addr: NameAddr, name: string, value: string | null): NameAddr {
  const params = new Map(addr.params);
  params.set(name.toLowerCase(), value);
  return { ...addr, params };
}
