// Owns reading bytes into a SipMessage: start line, header folding, Content-Length framing.
// Never throws: every failure is a typed SipError. Must not import anything outside src/sip.
import { isUtf8 } from 'node:buffer';
import { type Result, fail, isDigits, isToken, ok, trimLws } from './grammar';
import { type StartLine, assemble } from './headers';
import type { SipHeader, SipMessage } from './message';
import { parseUri } from './uri';

export interface ParseOptions {
  /** Largest message accepted, in bytes (default 65535, the largest UDP datagram). */
  readonly maxSize?: number;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');
const LFLF = Buffer.from('\n\n');

/** Where the header section ends and the body starts, or undefined when there is no blank line. */
export function findHeaderEnd(buf: Buffer, from = 0): { headEnd: number; bodyStart: number } | undefined {
  const crlf = buf.indexOf(CRLFCRLF, from);
  if (crlf >= 0) return { headEnd: crlf, bodyStart: crlf + 4 };
  // Bare LF line ends are not RFC 3261, but tolerating them costs nothing (robustness principle).
  const lf = buf.indexOf(LFLF, from);
  if (lf >= 0) return { headEnd: lf, bodyStart: lf + 2 };
  return undefined;
}

export function parseStartLine(line: string): Result<StartLine> {
  if (line.startsWith('SIP/')) {
    const sp1 = line.indexOf(' ');
    if (sp1 < 0) return fail('BAD_START_LINE', 'Status-Line has no status code');
    const version = line.slice(0, sp1);
    if (version !== 'SIP/2.0') return fail('BAD_VERSION', `unsupported SIP version ${version}`);
    const sp2 = line.indexOf(' ', sp1 + 1);
    const code = sp2 < 0 ? line.slice(sp1 + 1) : line.slice(sp1 + 1, sp2);
    if (code.length !== 3 || !isDigits(code) || code < '100' || code > '699') return fail('BAD_STATUS', 'status code must be three digits from 100 to 699');
    return ok({ kind: 'response', status: Number(code), reason: sp2 < 0 ? '' : line.slice(sp2 + 1) });
  }
  const parts = line.split(' ');
  if (parts.length !== 3 || parts.some((p) => p === '')) {
    return fail('BAD_START_LINE', 'Request-Line must be Method SP Request-URI SP SIP-Version with single spaces');
  }
  const [method, uriText, version] = parts;
  if (!isToken(method)) return fail('BAD_METHOD', 'method is not a token');
  if (!/^SIP\/\d+\.\d+$/i.test(version)) return fail('BAD_START_LINE', 'Request-Line does not end with a SIP version');
  if (version.toUpperCase() !== 'SIP/2.0') return fail('BAD_VERSION', `unsupported SIP version ${version}`);
  const uri = parseUri(uriText);
  if (!uri.ok) return fail('BAD_REQUEST_URI', `Request-URI: ${uri.error.reason}`);
  return ok({ kind: 'request', method, uri: uri.value });
}

/** Adds one unfolded header line; returns why it is unreadable, or undefined. */
function pushHeader(line: string, headers: SipHeader[]): string | undefined {
  const colon = line.indexOf(':');
  if (colon < 0) return `header line without a colon: ${line.slice(0, 40)}`;
  const name = line.slice(0, colon).trimEnd();
  if (!isToken(name)) return `invalid header name: ${name.slice(0, 40)}`;
  headers.push({ name, value: trimLws(line.slice(colon + 1)) });
  return undefined;
}

/** Splits the header section into its start line and unfolded header lines. */
export function readHeaderSection(head: string): Result<{ startLine: string; headers: SipHeader[] }> {
  const lines = head.split(/\r?\n/);
  let first = 0;
  while (first < lines.length && lines[first] === '') first++; // RFC 3261 §7.5: ignore CRLF before the start line
  if (first >= lines.length) return fail('EMPTY', 'empty message');
  const headers: SipHeader[] = [];
  let pending: string | undefined;
  for (let i = first + 1; i < lines.length; i++) {
    const line = lines[i];
    const c = line.charCodeAt(0);
    if (c === 32 || c === 9) {
      // Folding (LWS continuation): the line belongs to the previous header.
      if (pending === undefined) return fail('BAD_HEADER', 'continuation line before any header');
      pending += ` ${trimLws(line)}`;
      continue;
    }
    if (pending !== undefined) {
      const failed = pushHeader(pending, headers);
      if (failed) return fail('BAD_HEADER', failed);
    }
    pending = line;
  }
  if (pending !== undefined) {
    const failed = pushHeader(pending, headers);
    if (failed) return fail('BAD_HEADER', failed);
  }
  return ok({ startLine: lines[first], headers });
}

function decodeHead(buf: Buffer, end: number): string {
  const head = buf.subarray(0, end);
  // RFC 3261 text is UTF-8; a peer that sends Latin-1 still gets parsed (byte for byte) rather than mangled.
  return isUtf8(head) ? head.toString('utf8') : head.toString('latin1');
}

/**
 * Parses one complete message (a UDP datagram, or one frame cut by the stream framer).
 * The body is the bytes after the blank line, cut to Content-Length when present.
 */
export function parseMessage(buf: Buffer, options: ParseOptions = {}): Result<SipMessage> {
  try {
    return parseUnsafe(buf, options);
  } catch (err) {
    // Nothing above is meant to throw; this net keeps a parser bug from crashing the transport.
    return fail('INTERNAL', `unparseable message (${err instanceof Error ? err.message : String(err)})`);
  }
}

function parseUnsafe(buf: Buffer, options: ParseOptions): Result<SipMessage> {
  if (buf.length === 0) return fail('EMPTY', 'empty message');
  if (buf.length > (options.maxSize ?? 65535)) return fail('TOO_LARGE', 'message exceeds the size limit');
  const bounds = findHeaderEnd(buf);
  const headEnd = bounds?.headEnd ?? buf.length;
  const bodyStart = bounds?.bodyStart ?? buf.length;
  const section = readHeaderSection(decodeHead(buf, headEnd));
  if (!section.ok) return section;
  const start = parseStartLine(section.value.startLine);
  if (!start.ok) return start;
  let body = buf.subarray(bodyStart);
  let lengths = 0;
  for (const h of section.value.headers) {
    const name = h.name.toLowerCase();
    if (name !== 'content-length' && name !== 'l') continue;
    if (++lengths > 1) return fail('MULTIPLE_VALUES', 'Content-Length appears more than once');
    if (!isDigits(h.value) || h.value.length > 10) return fail('BAD_CONTENT_LENGTH', 'Content-Length is not a non-negative integer');
    const length = Number(h.value);
    if (length > body.length) return fail('BAD_CONTENT_LENGTH', 'Content-Length is larger than the message body');
    // RFC 3261 §18.3: bytes past Content-Length in a datagram are discarded.
    body = body.subarray(0, length);
  }
  // Copy so the message does not pin the whole receive buffer in memory.
  return assemble(start.value, section.value.headers, Buffer.from(body));
}
