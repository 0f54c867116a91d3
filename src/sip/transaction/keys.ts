// Owns transaction matching keys (RFC 3261 §17.1.3 for responses, §17.2.3 for requests, including the
// RFC 2543 fallback for requests whose branch lacks the magic cookie). Must not import anything outside src/sip.
import type { SipMessage, SipRequest, SipResponse } from '../message';
import { formatUri } from '../uri';
import { MAGIC_COOKIE, type Via, formatVia } from '../via';

/** True when the request's top branch identifies its transaction (cookie plus something unique). */
export function hasTransactionBranch(msg: SipMessage): boolean {
  const branch = msg.via[0].branch;
  return branch !== undefined && branch.length > MAGIC_COOKIE.length && branch.startsWith(MAGIC_COOKIE);
}

/**
 * The server transaction a request belongs to. ACK and CANCEL pass method 'INVITE' to find the INVITE
 * they refer to. RFC 3261: branch + sent-by + method. RFC 2543: Request-URI, From tag, Call-ID, CSeq
 * number, method and the whole top Via (the To tag is checked separately for ACK).
 */
export function serverKey(req: SipRequest, method: string = req.method === 'ACK' ? 'INVITE' : req.method): string {
  const top = req.via[0];
  if (hasTransactionBranch(req)) return branchKey(top, method);
  return `2543|${formatUri(req.uri)}|${req.from.params.get('tag') ?? ''}|${req.callId}|${req.cseq.seq}|${method}|${formatVia(top)}`;
}

/** The client transaction a response belongs to: top Via branch and CSeq method (§17.1.3). */
export function clientKey(msg: SipMessage): string {
  return `${msg.via[0].branch ?? ''}|${msg.cseq.method}`;
}

/** The RFC 3261 server key of the transaction a response of ours belongs to; undefined for RFC 2543 requests. */
export function serverKeyOfResponse(res: SipResponse): string | undefined {
  return hasTransactionBranch(res) ? branchKey(res.via[0], res.cseq.method) : undefined;
}

function branchKey(top: Via, method: string): string {
  // sent-by compares with the default port filled in: "host" and "host:5060" are the same sender.
  const port = top.port ?? (top.transport === 'TLS' ? 5061 : 5060);
  return `3261|${top.branch}|${top.host.toLowerCase()}:${port}|${method}`;
}
