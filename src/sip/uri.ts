// Owns URI parsing and formatting: sip/sips (RFC 3261 §19.1), tel (RFC 3966) and any other
// absoluteURI kept opaque (RFC 4475 §3.3.2 expects unknown schemes to parse).
// Must not import anything outside src/sip.
import { type Params, type Result, fail, formatParams, isDigits, ok } from './grammar';

export interface SipUri {
  readonly scheme: 'sip' | 'sips';
  /** Unescaped user part (`%40` is `@` here); undefined when the URI has none. */
  readonly user?: string;
  readonly password?: string;
  /** Host name, IPv4 address, or IPv6 address without brackets. */
  readonly host: string;
  readonly port?: number;
  /** URI parameters, names lower-cased, values unescaped. */
  readonly params: Params;
  /** URI headers (`?name=value&...`), unescaped. */
  readonly headers: ReadonlyMap<string, string>;
}

export interface TelUri {
  readonly scheme: 'tel';
  readonly number: string;
  readonly params: Params;
}

export interface OpaqueUri {
  readonly scheme: string;
  /** Everything after `scheme:`, as written. */
  readonly opaque: string;
}

export type Uri = SipUri | TelUri | OpaqueUri;

export function isSipUri(uri: Uri): uri is SipUri {
  return uri.scheme === 'sip' || uri.scheme === 'sips';
}

export function isTelUri(uri: Uri): uri is TelUri {
  return uri.scheme === 'tel';
}

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*$/;
const HOSTNAME = /^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?$/;
const IPV6 = /^[0-9A-Fa-f:.]+$/;
// Characters that may stand unescaped in the user part (RFC 3261 §25.1 user = unreserved / escaped / user-unreserved).
const USER_SAFE = /[A-Za-z0-9\-_.!~*'()&=+$,;?/]/;
const PASSWORD_SAFE = /[A-Za-z0-9\-_.!~*'()&=+$,]/;
const PARAM_SAFE = /[A-Za-z0-9\-_.!~*'()[\]/:&+$]/;
const HEADER_SAFE = /[A-Za-z0-9\-_.!~*'()[\]/?:+$]/;

/** Decodes %HH escapes; undefined when an escape is malformed. */
export function unescape(s: string): string | undefined {
  if (s.indexOf('%') < 0) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c !== '%') {
      out += c;
      continue;
    }
    const hex = s.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return undefined;
    out += String.fromCharCode(parseInt(hex, 16));
    i += 2;
  }
  return out;
}

function escapeWith(s: string, safe: RegExp): string {
  let out = '';
  for (const c of s) {
    if (safe.test(c)) out += c;
    else {
      // unescape() decodes byte by byte, so a char below 256 is one byte; anything wider goes out as UTF-8.
      const code = c.charCodeAt(0);
      const bytes = code < 256 ? [code] : Buffer.from(c, 'utf8');
      for (const byte of bytes) out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    }
  }
  return out;
}

export function isHost(host: string): boolean {
  if (host.includes(':')) return IPV6.test(host);
  return HOSTNAME.test(host);
}

function parsePort(text: string): number | undefined {
  if (!isDigits(text) || text.length > 5) return undefined;
  const port = Number(text);
  return port <= 65535 ? port : undefined;
}

function parseUriParams(text: string): Params | undefined {
  const params: Params = new Map();
  if (text === '') return params;
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    const name = unescape(eq < 0 ? part : part.slice(0, eq));
    const value = eq < 0 ? null : unescape(part.slice(eq + 1));
    if (name === undefined || name === '' || value === undefined || value === '') return undefined;
    const key = name.toLowerCase();
    if (params.has(key)) return undefined;
    params.set(key, value);
  }
  return params;
}

function parseSipUri(scheme: 'sip' | 'sips', rest: string): Result<SipUri> {
  let user: string | undefined;
  let password: string | undefined;
  let hostPart = rest;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    hostPart = rest.slice(at + 1);
    const colon = userinfo.indexOf(':');
    user = unescape(colon < 0 ? userinfo : userinfo.slice(0, colon));
    if (colon >= 0) {
      password = unescape(userinfo.slice(colon + 1));
      if (password === undefined) return fail('BAD_URI', 'bad escape in URI password');
    }
    if (user === undefined || user === '') return fail('BAD_URI', 'empty or badly escaped URI user part');
  }
  let headersText = '';
  const q = hostPart.indexOf('?');
  if (q >= 0) {
    headersText = hostPart.slice(q + 1);
    hostPart = hostPart.slice(0, q);
  }
  const semi = hostPart.indexOf(';');
  const paramsText = semi < 0 ? '' : hostPart.slice(semi + 1);
  if (semi >= 0) hostPart = hostPart.slice(0, semi);
  let host: string;
  let portText: string | undefined;
  if (hostPart.startsWith('[')) {
    const close = hostPart.indexOf(']');
    if (close < 0) return fail('BAD_URI', 'unterminated IPv6 reference in URI');
    host = hostPart.slice(1, close);
    const after = hostPart.slice(close + 1);
    if (after !== '' && !after.startsWith(':')) return fail('BAD_URI', 'unexpected text after IPv6 reference');
    if (after !== '') portText = after.slice(1);
    if (!host.includes(':') || !IPV6.test(host)) return fail('BAD_URI', 'invalid IPv6 reference in URI');
  } else {
    const colon = hostPart.indexOf(':');
    host = colon < 0 ? hostPart : hostPart.slice(0, colon);
    if (colon >= 0) portText = hostPart.slice(colon + 1);
    if (!HOSTNAME.test(host)) return fail('BAD_URI', `invalid host in URI: ${host === '' ? '(empty)' : host}`);
  }
  let port: number | undefined;
  if (portText !== undefined) {
    port = parsePort(portText);
    if (port === undefined) return fail('BAD_URI', 'invalid port in URI');
  }
  const params = parseUriParams(paramsText);
  if (!params) return fail('BAD_URI', 'invalid URI parameter');
  const headers = new Map<string, string>();
  if (q >= 0) {
    for (const part of headersText.split('&')) {
      const eq = part.indexOf('=');
      const name = eq < 0 ? undefined : unescape(part.slice(0, eq));
      const value = eq < 0 ? undefined : unescape(part.slice(eq + 1));
      if (!name || value === undefined) return fail('BAD_URI', 'invalid URI header');
      headers.set(name, value);
    }
  }
  return ok({ scheme, user, password, host, port, params, headers });
}

// A char-code loop: this runs on every URI of every packet, and a regular expression costs more here.
function hasForbiddenChar(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 32 || c === 34 || c === 60 || c === 62 || c === 127) return true;
  }
  return false;
}

/** Parses a URI with no surrounding whitespace. Unknown schemes come back as OpaqueUri. */
export function parseUri(text: string): Result<Uri> {
  const colon = text.indexOf(':');
  if (colon <= 0) return fail('BAD_URI', 'URI has no scheme');
  const schemeText = text.slice(0, colon);
  if (!SCHEME.test(schemeText)) return fail('BAD_URI', `invalid URI scheme: ${schemeText}`);
  const rest = text.slice(colon + 1);
  if (rest === '' || hasForbiddenChar(rest)) return fail('BAD_URI', 'URI contains whitespace, quotes or angle brackets');
  const scheme = schemeText.toLowerCase();
  if (scheme === 'sip' || scheme === 'sips') return parseSipUri(scheme, rest);
  if (scheme === 'tel') {
    const semi = rest.indexOf(';');
    const number = semi < 0 ? rest : rest.slice(0, semi);
    const params = parseUriParams(semi < 0 ? '' : rest.slice(semi + 1));
    if (!/^\+?[0-9A-Fa-f*#().\-]+$/.test(number) || !params) return fail('BAD_URI', 'invalid tel URI');
    return ok({ scheme, number, params });
  }
  return ok({ scheme, opaque: rest });
}

/** A URI user part with every character outside RFC 3261's `user` escaped (a number or username as dialled). */
export function escapeUser(s: string): string {
  return s.replace(/[^A-Za-z0-9+\-_.!~*'()&=$,;?/]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

export function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

export function formatUri(uri: Uri): string {
  if (isSipUri(uri)) {
    let out = `${uri.scheme}:`;
    if (uri.user !== undefined) {
      out += escapeWith(uri.user, USER_SAFE);
      if (uri.password !== undefined) out += `:${escapeWith(uri.password, PASSWORD_SAFE)}`;
      out += '@';
    }
    out += formatHost(uri.host);
    if (uri.port !== undefined) out += `:${uri.port}`;
    for (const [name, value] of uri.params) {
      out += `;${escapeWith(name, PARAM_SAFE)}`;
      if (value !== null) out += `=${escapeWith(value, PARAM_SAFE)}`;
    }
    let sep = '?';
    for (const [name, value] of uri.headers) {
      out += `${sep}${escapeWith(name, HEADER_SAFE)}=${escapeWith(value, HEADER_SAFE)}`;
      sep = '&';
    }
    return out;
  }
  if (isTelUri(uri)) return `tel:${uri.number}${formatParams(uri.params)}`;
  return `${uri.scheme}:${(uri as OpaqueUri).opaque}`;
}

/** A URI parameter value, case-insensitive name. */
export function uriParam(uri: Uri, name: string): string | null | undefined {
  if (!('params' in uri)) return undefined;
  return uri.params.get(name.toLowerCase());
}
