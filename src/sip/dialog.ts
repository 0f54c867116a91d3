// Owns dialog state and in-dialog requests (RFC 3261 §12, §13.2.2.4): building a dialog from an INVITE
// and its 2xx on either side, requests inside it (BYE, re-INVITE, ACK for 2xx) with the route set, and
// where such a request goes next. Must not import anything outside src/sip.
import { type NameAddr, formatNameAddr, parseNameAddr, withParam } from './address';
import { SipBuildError, createRequest } from './builders';
import { type Result, fail, ok } from './grammar';
import { type SipHeader, type SipRequest, type SipResponse, headerValues } from './message';
import type { Target, TransportName } from './transport/types';
import { type Uri, formatUri, isSipUri } from './uri';
import type { Via } from './via';

export interface Dialog {
  readonly callId: string;
  readonly localTag: string;
  readonly remoteTag: string;
  /** Our address (From of our requests). */
  readonly local: NameAddr;
  /** The peer's address (To of our requests). */
  readonly remote: NameAddr;
  /** The peer's Contact: Request-URI of our in-dialog requests. */
  readonly remoteTarget: Uri;
  /** Route header values for our requests, in the order they are sent. */
  readonly routeSet: readonly string[];
  /** CSeq number of the last request we sent in this dialog. */
  readonly localSeq: number;
}

export function dialogId(d: Pick<Dialog, 'callId' | 'localTag' | 'remoteTag'>): string {
  return `${d.callId};${d.localTag};${d.remoteTag}`;
}

function withoutTag(addr: NameAddr): NameAddr {
  const params = new Map(addr.params);
  params.delete('tag');
  return { ...addr, params };
}

/** The dialog a UAC holds after a 2xx (or 1xx with To tag) to its INVITE: route set is Record-Route reversed (§12.1.2). */
export function dialogAsUac(invite: SipRequest, response: SipResponse): Result<Dialog> {
  const remoteTag = response.to.params.get('tag');
  const localTag = invite.from.params.get('tag');
  if (!remoteTag || !localTag) return fail('MISSING_HEADER', 'a dialog needs From and To tags');
  const contact = response.contact[0];
  if (!contact) return fail('MISSING_HEADER', 'a dialog-creating response needs a Contact');
  return ok({
    callId: invite.callId,
    localTag,
    remoteTag,
    local: invite.from,
    remote: withoutTag(response.to),
    remoteTarget: contact.uri,
    routeSet: headerValues(response, 'Record-Route').reverse(),
    localSeq: invite.cseq.seq,
  });
}

/** The dialog a UAS holds once it answers an INVITE with `localTag` in To: route set is Record-Route in order (§12.1.1). */
export function dialogAsUas(invite: SipRequest, localTag: string, localSeq = 0): Result<Dialog> {
  const remoteTag = invite.from.params.get('tag');
  if (!remoteTag) return fail('MISSING_HEADER', 'the INVITE has no From tag');
  const contact = invite.contact[0];
  if (!contact) return fail('MISSING_HEADER', 'the INVITE has no Contact');
  return ok({
    callId: invite.callId,
    localTag,
    remoteTag,
    local: withParam(withoutTag(invite.to), 'tag', localTag),
    remote: invite.from,
    remoteTarget: contact.uri,
    routeSet: headerValues(invite, 'Record-Route'),
    localSeq,
  });
}

export interface InDialogRequest {
  readonly request: SipRequest;
  /** The dialog with its CSeq advanced (ACK and CANCEL do not advance it). */
  readonly dialog: Dialog;
}

/**
 * A request inside the dialog (§12.2.1.1). With a strict-routing first hop (no `lr`), that hop becomes
 * the Request-URI and the remote target goes last in Route, as RFC 3261 requires for RFC 2543 proxies.
 */
export function createInDialogRequest(
  dialog: Dialog,
  method: string,
  via: Via,
  options: { headers?: readonly SipHeader[]; body?: Buffer; cseq?: number; contact?: string } = {},
): InDialogRequest {
  const advances = method !== 'ACK' && method !== 'CANCEL';
  const seq = options.cseq ?? (advances ? dialog.localSeq + 1 : dialog.localSeq);
  let uri: Uri | string = dialog.remoteTarget;
  let routes = [...dialog.routeSet];
  if (routes.length > 0) {
    const first = parseNameAddr(routes[0], 'Route');
    if (!first.ok) throw new SipBuildError(first.error);
    if (isSipUri(first.value.uri) && !first.value.uri.params.has('lr')) {
      uri = first.value.uri;
      routes = [...routes.slice(1), `<${formatUri(dialog.remoteTarget)}>`];
    }
  }
  const headers: SipHeader[] = routes.map((value) => ({ name: 'Route', value }));
  const request = createRequest({
    method,
    uri,
    via,
    from: formatNameAddr(dialog.local),
    to: formatNameAddr(withParam(dialog.remote, 'tag', dialog.remoteTag)),
    callId: dialog.callId,
    cseq: seq,
    contact: options.contact,
    headers: [...headers, ...(options.headers ?? [])],
    body: options.body,
  });
  return { request, dialog: advances ? { ...dialog, localSeq: seq } : dialog };
}

/** The ACK for a 2xx to an INVITE (§13.2.2.4): a new transaction-less request with the INVITE's CSeq number. */
export function createAckFor2xx(dialog: Dialog, invite: SipRequest, via: Via): SipRequest {
  return createInDialogRequest(dialog, 'ACK', via, { cseq: invite.cseq.seq }).request;
}

/**
 * Where a request goes next (RFC 3261 §8.1.2, without RFC 3263 DNS): the first Route if any, else the
 * Request-URI; maddr and transport parameters honoured. Undefined when the URI is not a SIP URI.
 */
export function nextHop(request: SipRequest): Target | undefined {
  const route = headerValues(request, 'Route')[0];
  let uri: Uri = request.uri;
  if (route !== undefined) {
    const parsed = parseNameAddr(route, 'Route');
    if (!parsed.ok) return undefined;
    uri = parsed.value.uri;
  }
  if (!isSipUri(uri)) return undefined;
  const transportParam = (uri.params.get('transport') ?? '').toUpperCase();
  const transport: TransportName = transportParam === 'TCP' ? 'TCP' : 'UDP';
  const host = uri.params.get('maddr') ?? uri.host;
  return { host, port: uri.port ?? (uri.scheme === 'sips' ? 5061 : 5060), transport };
}
