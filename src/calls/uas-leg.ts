/**
 * The caller leg of a call: the gateway as UAS for the INVITE it received (RFC 3261 §13.3). It
 * sends provisional and final responses with one To tag, keeps the 2xx alive until the ACK, and
 * hangs up with BYE. Routing and media are the call's business.
 */
import {
  type Dialog,
  type IncomingRequest,
  type ServerInviteTransaction,
  type SipHeader,
  type SipRequest,
  type SipResponse,
  type Source,
  type Target,
  createResponse,
  dialogAsUas,
} from '../sip';
import type { AnswerRetransmission } from '../sip/transaction/answer-retransmission';
import { type DialogState, type LegSip, SDP_TYPE, requestInDialog } from './leg';
import { sessionTimerAnswer } from './session-timer';

export type UasLegState = 'proceeding' | 'accepted' | 'confirmed' | 'rejected' | 'terminated';

const SERVER = { name: 'Server', value: 'pstn-gateway' };

export class UasLeg implements DialogState {
  readonly invite: SipRequest;
  readonly source: Source;
  readonly peer: Target;
  readonly localTag: string;
  state: UasLegState = 'proceeding';
  dialog?: Dialog;
  private readonly tx: ServerInviteTransaction;
  private answerRetransmission?: AnswerRetransmission;

  constructor(
    private readonly sip: LegSip,
    incoming: IncomingRequest,
    localTag: string,
  ) {
    this.invite = incoming.request;
    this.source = incoming.source;
    this.tx = incoming.transaction as ServerInviteTransaction;
    this.localTag = localTag;
    // Symmetric signalling: answer and call back where the INVITE came from (RFC 3581 spirit).
    this.peer = { host: incoming.source.address, port: incoming.source.port, transport: incoming.source.transport };
  }

  /** Matches requests the caller sends in this dialog: its Call-ID and our To tag. */
  get key(): string {
    return `${this.invite.callId}|${this.localTag}`;
  }

  /** 180/183, with the relay's SDP for early media. */
  progress(status: number, body?: Buffer, reason?: string): void {
    if (this.state !== 'proceeding') return;
    this.tx.respond(this.response(status, { body, reason }));
  }

  /** 200 OK with the SDP answer; retransmitted until the ACK, `onAckTimeout` if it never comes. */
  answer(body: Buffer | undefined, onAckTimeout: () => void): boolean {
    if (this.state !== 'proceeding') return false;
    const response = this.response(200, { body });
    if (!this.tx.respond(response)) return false;
    const d = dialogAsUas(this.invite, this.localTag);
    if (d.ok) this.dialog = d.value;
    this.state = 'accepted';
    this.answerRetransmission = this.sip.retransmitAnswer(response, this.source.transport !== 'UDP', () => {
      if (this.state === 'accepted') onAckTimeout();
    });
    return true;
  }

  /** The ACK for our 2xx arrived. */
  acknowledged(): void {
    this.answerRetransmission?.stop();
    if (this.state === 'accepted') this.state = 'confirmed';
  }

  /** A final failure response (3xx-6xx). */
  reject(status: number, reason?: string, headers: SipHeader[] = []): void {
    if (this.state !== 'proceeding') return;
    this.state = 'rejected';
    this.tx.respond(this.response(status, { reason, headers }));
  }

  async bye(): Promise<SipResponse | undefined> {
    this.answerRetransmission?.stop();
    if (this.state !== 'accepted' && this.state !== 'confirmed') return undefined;
    this.state = 'terminated';
    return requestInDialog(this.sip, this, 'BYE');
  }

  request(method: string, body?: Buffer, headers?: SipHeader[]): Promise<SipResponse> {
    return requestInDialog(this.sip, this, method, { body, headers });
  }

  /** The peer ended the dialog (its BYE was answered). */
  ended(): void {
    this.answerRetransmission?.stop();
    this.state = 'terminated';
  }

  private response(status: number, options: { body?: Buffer; reason?: string; headers?: SipHeader[] }): SipResponse {
    const headers: SipHeader[] = [...(options.headers ?? [])];
    if (status > 100 && status < 300) headers.push({ name: 'Contact', value: this.sip.contact(this.source.transport) });
    if (status >= 200 && status < 300) headers.push(...sessionTimerAnswer(this.invite));
    headers.push({ name: 'Allow', value: this.sip.allowed().join(', ') }, SERVER);
    if (options.body && options.body.length > 0) headers.push(SDP_TYPE);
    return createResponse(this.invite, status, { reason: options.reason, toTag: this.localTag, headers, body: options.body });
  }
}
