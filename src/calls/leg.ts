/**
 * What both legs of a call share: the SIP services a leg needs (`LegSip`, a narrow view of
 * SipServer) and sending a request inside a leg's dialog to the leg's fixed peer. `LegSip` is the
 * seam call.spec.ts uses: it implements it over a real TransactionLayer on a fake transport and
 * drives real UacLegs and UasLegs through a Call, asserting on the messages that transport saw.
 *
 * A leg always sends in-dialog requests to the address it talks to (the trunk, the binding's
 * NAT-facing source, the caller's source), never to the peer's Contact: behind NAT the Contact is
 * a private address. The Contact is still the Request-URI, as RFC 3261 §12.2.1.1 asks.
 */
import { Logger } from '@nestjs/common';
import {
  type Dialog,
  type SipHeader,
  type SipMessage,
  type SipRequest,
  type SipResponse,
  type Target,
  type TransactionLayer,
  type TransportName,
  type Via,
  createAckFor2xx,
  createInDialogRequest,
} from '../sip';
import type { AnswerRetransmission } from '../sip/transaction/answer-retransmission';

export interface LegSip {
  readonly transactionLayer: TransactionLayer | undefined;
  sendStateless(message: SipMessage, target: Target): Promise<void>;
  newVia(transport: TransportName): Via;
  contact(transport: TransportName): string;
  retransmitAnswer(response: SipResponse, reliable: boolean, onGiveUp: () => void): AnswerRetransmission;
  allowed(): string[];
}

/** Legs have no host to log through; Nest's static logger goes to the application's logger. */
const log = new Logger('calls');

export const SDP_TYPE: SipHeader = { name: 'Content-Type', value: 'application/sdp' };

export function transactions(sip: LegSip): TransactionLayer {
  const t = sip.transactionLayer;
  if (!t) throw new Error('SIP is not listening in this process');
  return t;
}

export function hasSdp(message: SipMessage): boolean {
  return message.body.length > 0 && /application\/sdp/i.test(message.headers.find((h) => h.name.toLowerCase() === 'content-type')?.value ?? '');
}

/** The dialog a leg keeps, with the peer it sends to. */
export interface DialogState {
  dialog?: Dialog;
  readonly peer: Target;
}

/**
 * Sends `method` inside the dialog and resolves with the final response (a local 408/503 when the
 * peer does not answer). A 2xx to a re-INVITE is ACKed here: the B2BUA has no SDP to put in it.
 */
export function requestInDialog(
  sip: LegSip,
  state: DialogState,
  method: string,
  options: { body?: Buffer; headers?: SipHeader[] } = {},
): Promise<SipResponse> {
  const dialog = state.dialog;
  if (!dialog) return Promise.reject(new Error(`no dialog to send ${method} in`));
  const via = sip.newVia(state.peer.transport);
  const headers = [...(options.headers ?? [])];
  // A body is SDP unless the caller says otherwise (an INFO's application/dtmf-relay is passed on as it came).
  const typed = headers.some((h) => h.name.toLowerCase() === 'content-type');
  if (options.body && options.body.length > 0 && !typed) headers.push(SDP_TYPE);
  const { request, dialog: advanced } = createInDialogRequest(dialog, method, via, {
    body: options.body,
    headers,
    contact: method === 'INVITE' || method === 'UPDATE' ? sip.contact(state.peer.transport) : undefined,
  });
  state.dialog = advanced;
  return new Promise((resolve) => {
    transactions(sip).sendRequest(request, state.peer, {
      response: (response) => {
        if (response.status < 200) return;
        if (method === 'INVITE' && response.status < 300) ackFor2xx(sip, state, request);
        resolve(response);
      },
    });
  });
}

function ackFor2xx(sip: LegSip, state: DialogState, invite: SipRequest): void {
  if (!state.dialog) return;
  sendAck(sip, createAckFor2xx(state.dialog, invite, sip.newVia(state.peer.transport)), state.peer);
}

/**
 * Sends the ACK for a 2xx (outside any transaction). A send failure (socket closed, TCP connection
 * refused) is logged; the peer retransmits its 2xx and the next one is ACKed again.
 */
export function sendAck(sip: LegSip, ack: SipRequest, peer: Target): void {
  sip.sendStateless(ack, peer).catch((err: unknown) => {
    log.warn({ err: err instanceof Error ? err.message : String(err), callId: ack.callId, peer: `${peer.transport} ${peer.host}:${peer.port}` }, 'ACK not sent');
  });
}

/** Sends BYE in a dialog nobody keeps (a late or second answer); a failure is logged, the peer's session timer ends it. */
export function byeUnwanted(sip: LegSip, state: DialogState): void {
  requestInDialog(sip, state, 'BYE').catch((err: unknown) => {
    log.warn({ err: err instanceof Error ? err.message : String(err), callId: state.dialog?.callId, peer: `${state.peer.transport} ${state.peer.host}:${state.peer.port}` }, 'BYE to an unwanted answer not sent');
  });
}
