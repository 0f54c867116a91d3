// Owns the Via header (RFC 3261 §20.42, §25.1 via-parm) and the RFC 3581 received/rport parameters.
// Must not import anything outside src/sip.
import { type Params, type Result, fail, formatParams, isDigits, isToken, isTokenChar, ok, readParams, skipWhitespace, trimLws } from './grammar';
import { formatHost, isHost } from './uri';

/** The magic cookie that marks an RFC 3261 branch (§8.1.1.7). */
export const MAGIC_COOKIE = 'z9hG4bK';

export interface Via {
  readonly protocol: string;
  readonly version: string;
  /** Upper-cased transport token: UDP, TCP, TLS, SCTP, WS, or an extension. */
  readonly transport: string;
  readonly host: string;
  readonly port?: number;
  readonly params: Params;
  readonly branch?: string;
  readonly received?: string;
  /** rport: a number when filled in, null when requested (present without value). */
  readonly rport?: number | null;
}

function readToken(s: string, i: number): { text: string; end: number } {
  let j = i;
  while (j < s.length && isTokenChar(s.charCodeAt(j))) j++;
  return { text: s.slice(i, j), end: j };
}

function expectSlash(s: string, i: number): number {
  const j = skipWhitespace(s, i);
  return s.charCodeAt(j) === 47 ? skipWhitespace(s, j + 1) : -1;
}

/** Builds a Via whose derived fields (branch, received, rport) agree with its params. */
export function createVia(fields: {
  protocol?: string;
  version?: string;
  transport: string;
  host: string;
  port?: number;
  params?: Params;
}): Via {
  const params = fields.params ?? new Map<string, string | null>();
  const rportText = params.get('rport');
  return {
    protocol: fields.protocol ?? 'SIP',
    version: fields.version ?? '2.0',
    transport: fields.transport.toUpperCase(),
    host: fields.host,
    port: fields.port,
    params,
    branch: params.get('branch') ?? undefined,
    received: params.get('received') ?? undefined,
    rport: rportText === undefined ? undefined : rportText === null ? null : Number(rportText),
  };
}

export function parseVia(value: string): Result<Via> {
  const s = trimLws(value);
  const protocol = readToken(s, 0);
  let i = expectSlash(s, protocol.end);
  if (protocol.text === '' || i < 0) return fail('BAD_VIA', 'Via sent-protocol is malformed');
  const version = readToken(s, i);
  i = expectSlash(s, version.end);
  if (version.text === '' || i < 0) return fail('BAD_VIA', 'Via sent-protocol is malformed');
  const transport = readToken(s, i);
  if (transport.text === '') return fail('BAD_VIA', 'Via transport is missing');
  if (protocol.text.toUpperCase() !== 'SIP' || version.text !== '2.0') return fail('BAD_VIA', `Via protocol ${protocol.text}/${version.text} is not SIP/2.0`);
  i = skipWhitespace(s, transport.end);
  if (i === transport.end) return fail('BAD_VIA', 'Via sent-by must follow the transport after whitespace');
  let host: string;
  if (s.charCodeAt(i) === 91) {
    const close = s.indexOf(']', i);
    if (close < 0) return fail('BAD_VIA', 'Via has an unterminated IPv6 reference');
    host = s.slice(i + 1, close);
    i = close + 1;
  } else {
    const start = i;
    while (i < s.length && (isTokenChar(s.charCodeAt(i)) || s.charCodeAt(i) === 58) && s.charCodeAt(i) !== 59) i++;
    host = s.slice(start, i);
    // An unbracketed IPv6 address is not allowed, so a single colon introduces the port.
    const colon = host.indexOf(':');
    if (colon >= 0) {
      i = start + colon;
      host = host.slice(0, colon);
    }
  }
  if (!isHost(host)) return fail('BAD_VIA', `Via sent-by host is invalid: ${host === '' ? '(empty)' : host}`);
  let port: number | undefined;
  let j = skipWhitespace(s, i);
  if (s.charCodeAt(j) === 58) {
    j = skipWhitespace(s, j + 1);
    const digits = readToken(s, j);
    if (!isDigits(digits.text) || digits.text.length > 5 || Number(digits.text) > 65535) return fail('BAD_VIA', 'Via port is invalid');
    port = Number(digits.text);
    i = digits.end;
  }
  const read = readParams(s, i, 'Via');
  if (!read.ok) return fail('BAD_VIA', read.error.reason);
  if (read.value.end !== s.length) return fail('BAD_VIA', 'unexpected text in Via');
  const params = read.value.params;
  const branch = params.get('branch');
  if (branch === null || (branch !== undefined && !isToken(branch))) return fail('BAD_VIA', 'Via branch must be a token');
  const received = params.get('received');
  if (received === null || (received !== undefined && !isHost(received.replace(/^\[|\]$/g, '')))) return fail('BAD_VIA', 'Via received must be an IP address');
  const rport = params.get('rport');
  if (rport !== undefined && rport !== null && (!isDigits(rport) || Number(rport) > 65535)) return fail('BAD_VIA', 'Via rport must be a port number');
  return ok(createVia({ protocol: protocol.text, version: version.text, transport: transport.text, host, port, params }));
}

export function formatVia(via: Via): string {
  const port = via.port === undefined ? '' : `:${via.port}`;
  return `${via.protocol}/${via.version}/${via.transport} ${formatHost(via.host)}${port}${formatParams(via.params)}`;
}

/** A copy of the Via with parameters set or replaced, order kept (used for received/rport). */
export function withViaParams(via: Via, changes: Record<string, string | null>): Via {
  const params = new Map(via.params);
  for (const [name, value] of Object.entries(changes)) params.set(name.toLowerCase(), value);
  return createVia({ ...via, params });
}

/** True when the branch carries the RFC 3261 magic cookie and thus identifies the transaction (§17.2.3). */
export function hasRfc3261Branch(via: Via): boolean {
  return via.branch !== undefined && via.branch.startsWith(MAGIC_COOKIE);
}
