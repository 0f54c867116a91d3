// Owns the header section: canonical names, splitting of list-valued headers, and the checks that
// turn a header list into a typed SipRequest/SipResponse. Parser and builders both go through
// assemble(), so a message built in code obeys the same rules as one read from the wire.
// Must not import anything outside src/sip.
import { type NameAddr, parseNameAddr } from './address';
import { type Result, fail, isDigits, isToken, ok, splitList } from './grammar';
import { type CSeq, type SipHeader, type SipMessage, headerKey } from './message';
import { type Uri, isSipUri } from './uri';
import { type Via, parseVia } from './via';

const CANONICAL = new Map<string, string>(
  [
    'Accept', 'Accept-Contact', 'Accept-Encoding', 'Accept-Language', 'Alert-Info', 'Allow', 'Allow-Events',
    'Authentication-Info', 'Authorization', 'Call-ID', 'Call-Info', 'Contact', 'Content-Disposition',
    'Content-Encoding', 'Content-Language', 'Content-Length', 'Content-Type', 'CSeq', 'Date', 'Error-Info',
    'Event', 'Expires', 'From', 'Identity', 'Identity-Info', 'In-Reply-To', 'Max-Forwards', 'MIME-Version',
    'Min-Expires', 'Organization', 'P-Asserted-Identity', 'Path', 'Priority', 'Proxy-Authenticate',
    'Proxy-Authorization', 'Proxy-Require', 'RAck', 'Reason', 'Record-Route', 'Refer-To', 'Referred-By',
    'Reject-Contact', 'Reply-To', 'Request-Disposition', 'Require', 'Retry-After', 'Route', 'RSeq', 'Server',
    'Service-Route', 'Session-Expires', 'Subject', 'Subscription-State', 'Supported', 'Timestamp', 'To',
    'Unsupported', 'User-Agent', 'Via', 'Warning', 'WWW-Authenticate',
  ].map((name) => [name.toLowerCase(), name]),
);

// Headers whose grammar is a comma-separated list (RFC 3261 §7.3.1). Authorization and friends are
// not in it: their commas separate parameters of a single value.
const LIST = new Set([
  'accept', 'accept-encoding', 'accept-language', 'alert-info', 'allow', 'allow-events', 'call-info', 'contact',
  'content-encoding', 'content-language', 'error-info', 'in-reply-to', 'path', 'proxy-require', 'record-route',
  'require', 'route', 'service-route', 'supported', 'unsupported', 'via', 'warning', 'p-asserted-identity',
]);
// Lists whose elements are addresses or Vias: an empty element there is a syntax error (RFC 4475 §3.1.2.1).
const STRICT_LIST = new Set(['via', 'contact', 'route', 'record-route', 'path', 'service-route']);
const SINGLE = new Set(['to', 'from', 'call-id', 'cseq', 'max-forwards', 'content-length', 'content-type', 'expires', 'date']);
const ADDRESS_LISTS = new Set(['route', 'record-route', 'path', 'service-route']);

export function canonicalName(name: string): string {
  const key = headerKey(name);
  return CANONICAL.get(key) ?? name;
}

const MAX_SEQ = 2 ** 31 - 1;
const MAX_DELTA = 2 ** 32 - 1;
const DATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;

export type StartLine = { kind: 'request'; method: string; uri: Uri } | { kind: 'response'; status: number; reason: string };

function parseCSeq(value: string): Result<CSeq> {
  const m = /^(\d+)[ \t]+(\S+)$/.exec(value);
  if (!m) return fail('BAD_CSEQ', 'CSeq must be a sequence number and a method');
  if (m[1].length > 10 || Number(m[1]) > MAX_SEQ) return fail('BAD_CSEQ', 'CSeq sequence number exceeds 2^31-1');
  if (!isToken(m[2])) return fail('BAD_CSEQ', 'CSeq method is not a token');
  return ok({ seq: Number(m[1]), method: m[2] });
}

/** Delta-seconds clamped to 2^32-1 (RFC 3261 §20.19: larger values mean that maximum). */
export function parseDeltaSeconds(value: string): number | undefined {
  if (!isDigits(value)) return undefined;
  return value.length > 10 ? MAX_DELTA : Math.min(Number(value), MAX_DELTA);
}

/** Splits list-valued headers and gives every header its canonical name; keys[i] is headers[i]'s lower-case long name. */
function normalize(raw: readonly SipHeader[]): Result<{ headers: SipHeader[]; keys: string[] }> {
  const headers: SipHeader[] = [];
  const keys: string[] = [];
  for (const h of raw) {
    const key = headerKey(h.name);
    const name = CANONICAL.get(key) ?? h.name;
    if (!LIST.has(key) || h.value.indexOf(',') < 0) {
      headers.push(h.name === name ? h : { name, value: h.value });
      keys.push(key);
      continue;
    }
    const parts = splitList(h.value);
    if (!parts) return fail('BAD_HEADER', `${name} has an unterminated quote or angle bracket`);
    const strict = STRICT_LIST.has(key);
    for (const value of parts) {
      if (value === '') {
        if (strict) return fail('BAD_HEADER', `${name} has an empty list element`);
        continue;
      }
      headers.push({ name, value });
      keys.push(key);
    }
  }
  return ok({ headers, keys });
}

/** Turns a start line, header list and body into a typed message, checking every header the stack relies on. */
export function assemble(start: StartLine, raw: readonly SipHeader[], body: Buffer): Result<SipMessage> {
  const normalized = normalize(raw);
  if (!normalized.ok) return normalized;
  const { headers, keys } = normalized.value;
  const via: Via[] = [];
  const contact: NameAddr[] = [];
  const seen = new Set<string>();
  let from: NameAddr | undefined;
  let to: NameAddr | undefined;
  let callId: string | undefined;
  let cseq: CSeq | undefined;
  let maxForwards: number | undefined;
  let expires: number | undefined;
  let wildcard = false;
  for (let i = 0; i < headers.length; i++) {
    const h = headers[i];
    const key = keys[i];
    if (SINGLE.has(key)) {
      if (seen.has(key)) return fail('MULTIPLE_VALUES', `${h.name} appears more than once`);
      seen.add(key);
    }
    switch (key) {
      case 'via': {
        const v = parseVia(h.value);
        if (!v.ok) return v;
        via.push(v.value);
        break;
      }
      case 'from':
      case 'to': {
        const a = parseNameAddr(h.value, h.name);
        if (!a.ok) return a;
        if (key === 'from') from = a.value;
        else to = a.value;
        break;
      }
      case 'contact': {
        if (h.value === '*') {
          wildcard = true;
          break;
        }
        const a = parseNameAddr(h.value, 'Contact');
        if (!a.ok) return a;
        contact.push(a.value);
        break;
      }
      case 'call-id':
        if (h.value === '' || /\s/.test(h.value)) return fail('BAD_CALL_ID', 'Call-ID is empty or contains whitespace');
        callId = h.value;
        break;
      case 'cseq': {
        const c = parseCSeq(h.value);
        if (!c.ok) return c;
        cseq = c.value;
        break;
      }
      case 'max-forwards':
        if (!isDigits(h.value) || h.value.length > 10 || Number(h.value) > 255) return fail('BAD_MAX_FORWARDS', 'Max-Forwards must be 0 to 255');
        maxForwards = Number(h.value);
        break;
      case 'content-length':
        if (!isDigits(h.value) || h.value.length > 10) return fail('BAD_CONTENT_LENGTH', 'Content-Length is not a non-negative integer');
        break;
      case 'expires':
        expires = parseDeltaSeconds(h.value);
        if (expires === undefined) return fail('BAD_EXPIRES', 'Expires must be delta-seconds');
        break;
      case 'date':
        if (!DATE.test(h.value)) return fail('BAD_DATE', 'Date must be an RFC 1123 date in GMT');
        break;
      default:
        if (ADDRESS_LISTS.has(key)) {
          const a = parseNameAddr(h.value, h.name);
          if (!a.ok) return a;
        }
    }
  }
  if (wildcard && contact.length > 0) return fail('BAD_ADDRESS', 'Contact * cannot be combined with other contacts');
  if (via.length === 0) return fail('MISSING_HEADER', 'Via header is missing');
  if (!from) return fail('MISSING_HEADER', 'From header is missing');
  if (!to) return fail('MISSING_HEADER', 'To header is missing');
  if (callId === undefined) return fail('MISSING_HEADER', 'Call-ID header is missing');
  if (!cseq) return fail('MISSING_HEADER', 'CSeq header is missing');
  // Content-Length is framing, not content: the body length is the truth, and serialize() writes it.
  const kept = seen.has('content-length') ? headers.filter((_, i) => keys[i] !== 'content-length') : headers;
  const core = { headers: kept, body, via, from, to, callId, cseq, contact, maxForwards, expires };
  if (start.kind === 'request') {
    if (cseq.method !== start.method) return fail('BAD_CSEQ', 'CSeq method does not match request method');
    if (isSipUri(start.uri) && start.uri.headers.size > 0) return fail('BAD_REQUEST_URI', 'Request-URI must not contain headers');
    return ok({ kind: 'request', method: start.method, uri: start.uri, ...core });
  }
  return ok({ kind: 'response', status: start.status, reason: start.reason, ...core });
}
