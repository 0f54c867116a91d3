// Owns building messages in code: requests from parts, responses from requests (RFC 3261 §8.2.6),
// and re-assembling a message with changed headers. Everything goes through assemble(), so a built
// message is as valid as a parsed one; a builder given invalid input throws SipBuildError, because
// that is a bug in the caller rather than bad input from the network.
// Must not import anything outside src/sip.
import { type NameAddr, formatNameAddr, withParam } from './address';
import type { SipError } from './grammar';
import { assemble, type StartLine } from './headers';
import { newCallId, newTag } from './identifiers';
import type { SipHeader, SipMessage, SipRequest, SipResponse } from './message';
import { reasonPhrase } from './reasons';
import { type Uri, parseUri } from './uri';
import { type Via, formatVia } from './via';

export class SipBuildError extends Error {
  constructor(readonly error: SipError) {
    super(`${error.code}: ${error.reason}`);
    this.name = 'SipBuildError';
  }
}

function build(start: StartLine, headers: SipHeader[], body: Buffer): SipMessage {
  const result = assemble(start, headers, body);
  if (!result.ok) throw new SipBuildError(result.error);
  return result.value;
}

export function toUri(uri: Uri | string): Uri {
  if (typeof uri !== 'string') return uri;
  const parsed = parseUri(uri);
  if (!parsed.ok) throw new SipBuildError(parsed.error);
  return parsed.value;
}

function addressText(addr: NameAddr | string): string {
  return typeof addr === 'string' ? addr : formatNameAddr(addr);
}

export interface RequestParts {
  readonly method: string;
  readonly uri: Uri | string;
  readonly from: NameAddr | string;
  readonly to: NameAddr | string;
  /** Top Via; its branch should come from newBranch(). The transport layer fills in sent-by when omitted. */
  readonly via: Via | string;
  readonly callId?: string;
  readonly cseq?: number;
  readonly maxForwards?: number;
  readonly contact?: NameAddr | string;
  readonly headers?: readonly SipHeader[];
  readonly body?: Buffer;
}

/** Builds a request; Call-ID is generated when absent, a From tag is added when missing. */
export function createRequest(parts: RequestParts): SipRequest {
  let from = parts.from;
  if (typeof from !== 'string' && !from.params.has('tag')) from = withParam(from, 'tag', newTag());
  const headers: SipHeader[] = [
    { name: 'Via', value: typeof parts.via === 'string' ? parts.via : formatVia(parts.via) },
    { name: 'Max-Forwards', value: String(parts.maxForwards ?? 70) },
    { name: 'From', value: addressText(from) },
    { name: 'To', value: addressText(parts.to) },
    { name: 'Call-ID', value: parts.callId ?? newCallId() },
    { name: 'CSeq', value: `${parts.cseq ?? 1} ${parts.method}` },
  ];
  if (parts.contact !== undefined) headers.push({ name: 'Contact', value: addressText(parts.contact) });
  headers.push(...(parts.headers ?? []));
  const start: StartLine = { kind: 'request', method: parts.method, uri: toUri(parts.uri) };
  return build(start, headers, parts.body ?? Buffer.alloc(0)) as SipRequest;
}

export interface ResponseOptions {
  readonly reason?: string;
  /** To tag to add when the request's To has none (required for every final response and for 1xx in a dialog). */
  readonly toTag?: string;
  readonly headers?: readonly SipHeader[];
  readonly body?: Buffer;
}

const COPIED = new Set(['via', 'from', 'call-id', 'cseq']);

/**
 * Builds a response as RFC 3261 §8.2.6.2 says: Via, From, Call-ID, CSeq copied, To copied with a tag
 * added when given, Record-Route copied for dialog-creating responses (§12.1.1).
 */
export function createResponse(req: SipRequest, status: number, options: ResponseOptions = {}): SipResponse {
  const headers: SipHeader[] = [];
  for (const h of req.headers) {
    const key = h.name.toLowerCase();
    if (COPIED.has(key)) headers.push(h);
    else if (key === 'to') {
      const to = options.toTag !== undefined && !req.to.params.has('tag') ? withParam(req.to, 'tag', options.toTag) : req.to;
      headers.push({ name: 'To', value: formatNameAddr(to) });
    } else if (key === 'record-route' && status > 100 && status < 300) headers.push(h);
  }
  headers.push(...(options.headers ?? []));
  const start: StartLine = { kind: 'response', status, reason: options.reason ?? reasonPhrase(status) };
  return build(start, headers, options.body ?? Buffer.alloc(0)) as SipResponse;
}

/** The same message with a new header list (and optionally body): how proxies and B2BUAs edit messages. */
export function withHeaders<M extends SipMessage>(msg: M, headers: readonly SipHeader[], body: Buffer = msg.body): M {
  const start: StartLine = msg.kind === 'request' ? { kind: 'request', method: msg.method, uri: msg.uri } : { kind: 'response', status: msg.status, reason: msg.reason };
  return build(start, [...headers], body) as M;
}

/** The request with a new Via on top (what a stateful element does before forwarding). */
export function withTopVia(req: SipRequest, via: Via): SipRequest {
  return withHeaders(req, [{ name: 'Via', value: formatVia(via) }, ...req.headers]);
}

/** The same request sent to a new Request-URI (redirect, LCR, forking). */
export function withRequestUri(req: SipRequest, uri: Uri | string): SipRequest {
  return build({ kind: 'request', method: req.method, uri: toUri(uri) }, [...req.headers], req.body) as SipRequest;
}


function sameTransactionHeaders(invite: SipRequest, method: 'ACK' | 'CANCEL', to: string): SipHeader[] {
  const headers: SipHeader[] = [{ name: 'Via', value: formatVia(invite.via[0]) }];
  for (const h of invite.headers) {
    const key = h.name.toLowerCase();
    if (key === 'from' || key === 'call-id' || key === 'route' || key === 'max-forwards') headers.push(h);
  }
  headers.push({ name: 'To', value: to }, { name: 'CSeq', value: `${invite.cseq.seq} ${method}` });
  return headers;
}

/**
 * The ACK an INVITE client transaction sends for a non-2xx final response (RFC 3261 §17.1.1.3):
 * same Request-URI, top Via (so the same branch), From, Call-ID, CSeq number and Route; To from the response.
 */
export function createAck(invite: SipRequest, response: SipResponse): SipRequest {
  const to = headerToText(response);
  return build({ kind: 'request', method: 'ACK', uri: invite.uri }, sameTransactionHeaders(invite, 'ACK', to), Buffer.alloc(0)) as SipRequest;
}

/** CANCEL for a pending INVITE (RFC 3261 §9.1): same Request-URI, top Via, From, To, Call-ID and CSeq number. */
export function createCancel(invite: SipRequest): SipRequest {
  const to = headerToText(invite);
  return build({ kind: 'request', method: 'CANCEL', uri: invite.uri }, sameTransactionHeaders(invite, 'CANCEL', to), Buffer.alloc(0)) as SipRequest;
}

function headerToText(msg: SipMessage): string {
  return msg.headers.find((h) => h.name === 'To')?.value ?? formatNameAddr(msg.to);
}
