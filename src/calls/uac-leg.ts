/**
 * The callee leg of a call: the gateway as UAC towards a trunk or a user's device (RFC 3261 §13.2,
 * §9.1). It sends the INVITE with its own Call-ID and tags, answers one 401/407 with the trunk's
 * credentials, ACKs the 2xx, and cancels or hangs up when told. It decides nothing about routing:
 * the call it belongs to hears `provisional`, `answered` and `failed` and acts.
 */
import {
  type ClientTransaction,
  type Dialog,
  type ResponseOrigin,
  type SipHeader,
  type SipRequest,
  type SipResponse,
  type Target,
  answerChallenge,
  challengeIn,
  createAckFor2xx,
  createCancel,
  createRequest,
  createResponse,
  dialogAsUac,
  newCallId,
  newTag,
} from '../sip';
import { type DialogState, type LegSip, SDP_TYPE, byeUnwanted, requestInDialog, sendAck, transactions } from './leg';
import { reject } from './call-policy';

export interface UacLegSpec {
  readonly target: Target;
  readonly requestUri: string;
  /** name-addr without tag, e.g. `<sip:+12015550100@gw>`. */
  readonly from: string;
  readonly to: string;
  readonly body?: Buffer;
  /** Answers one 401/407 (trunks). */
  readonly credentials?: { readonly username: string; readonly password: string };
  /** No response at all within this time fails the leg (`setup-timeout`). */
  readonly setupTimeoutMs?: number;
  readonly headers?: readonly SipHeader[];
  /** the callee is a browser: offer WebRTC media (ICE, DTLS-SRTP) */
  readonly webrtc?: boolean;
}

export type LegFailureOrigin = ResponseOrigin | 'setup-timeout';

export interface UacLegEvents {
  provisional(leg: UacLeg, response: SipResponse): void;
  answered(leg: UacLeg, response: SipResponse): void;
  failed(leg: UacLeg, response: SipResponse, origin: LegFailureOrigin): void;
}

export type UacLegState = 'idle' | 'calling' | 'early' | 'confirmed' | 'terminated';

export class UacLeg implements DialogState {
  readonly callId = newCallId();
  readonly localTag = newTag();
  readonly peer: Target;
  state: UacLegState = 'idle';
  dialog?: Dialog;
  private invite?: SipRequest;
  private tx?: ClientTransaction;
  private provisionalSeen = false;
  private cancelRequested = false;
  private cancelSent = false;
  private authTried = false;
  private setupTimer?: NodeJS.Timeout;

  constructor(
    private readonly sip: LegSip,
    readonly spec: UacLegSpec,
    private readonly events: UacLegEvents,
  ) {
    this.peer = spec.target;
  }

  /** Matches requests the peer sends in this dialog: Call-ID and our tag. */
  get key(): string {
    return `${this.callId}|${this.localTag}`;
  }

  get cancelled(): boolean {
    return this.cancelRequested;
  }

  start(): void {
    if (this.state !== 'idle') return;
    this.state = 'calling';
    this.send(this.buildInvite(1));
    const ms = this.spec.setupTimeoutMs;
    if (ms) {
      this.setupTimer = setTimeout(() => this.giveUp(), ms);
      this.setupTimer.unref();
    }
  }

  /** Stops ringing: CANCEL once a provisional response has come (§9.1), BYE if it was answered meanwhile. */
  cancel(): void {
    this.cancelRequested = true;
    this.clearSetupTimer();
    if (this.state === 'confirmed') {
      void this.bye();
      return;
    }
    if (this.state !== 'calling' && this.state !== 'early') return;
    if (this.provisionalSeen) this.sendCancel();
    else if (!this.invite) this.state = 'terminated';
    // else: the CANCEL goes out when the first provisional response arrives.
  }

  /** Ends the confirmed dialog; resolves with the BYE's final response (local 408 when unanswered). */
  async bye(): Promise<SipResponse | undefined> {
    if (this.state !== 'confirmed') return undefined;
    this.state = 'terminated';
    return requestInDialog(this.sip, this, 'BYE');
  }

  /** Sends a request in the dialog (re-INVITE, UPDATE, INFO) and resolves with the final response. */
  request(method: string, body?: Buffer, headers?: SipHeader[]): Promise<SipResponse> {
    return requestInDialog(this.sip, this, method, { body, headers });
  }

  /** A 2xx that matched no transaction: the peer did not hear our ACK, or answered after we gave up. */
  strayAnswer(response: SipResponse): void {
    if (!this.invite || response.cseq.method !== 'INVITE') return;
    const d = dialogAsUac(this.invite, response);
    if (!d.ok) return;
    sendAck(this.sip, createAckFor2xx(d.value, this.invite, this.sip.newVia(this.peer.transport)), this.peer);
    const same = this.dialog?.remoteTag === d.value.remoteTag;
    if (!same || this.state === 'terminated') {
      // An answer nobody wants (late, or a second fork): hang it up at once.
      byeUnwanted(this.sip, { dialog: d.value, peer: this.peer });
    }
  }

  private buildInvite(cseq: number, auth?: SipHeader): SipRequest {
    const transport = this.peer.transport;
    const headers: SipHeader[] = [...(this.spec.headers ?? []), { name: 'Allow', value: this.sip.allowed().join(', ') }];
    if (auth) headers.push(auth);
    if (this.spec.body && this.spec.body.length > 0) headers.push(SDP_TYPE);
    return createRequest({
      method: 'INVITE',
      uri: this.spec.requestUri,
      via: this.sip.newVia(transport),
      from: `${this.spec.from};tag=${this.localTag}`,
      to: this.spec.to,
      callId: this.callId,
      cseq,
      contact: this.sip.contact(transport),
      headers,
      body: this.spec.body,
    });
  }

  private send(invite: SipRequest): void {
    this.invite = invite;
    this.tx = transactions(this.sip).sendRequest(invite, this.peer, { response: (r, origin) => this.onResponse(invite, r, origin) });
  }

  private onResponse(invite: SipRequest, response: SipResponse, origin: ResponseOrigin): void {
    if (invite !== this.invite) return;
    if (origin === 'network') this.clearSetupTimer();
    if (response.status < 200) {
      this.provisionalSeen = true;
      if (this.cancelRequested) {
        if (!this.cancelSent) this.sendCancel();
        return;
      }
      if (response.status === 100 || this.state === 'terminated') return;
      this.state = 'early';
      this.events.provisional(this, response);
      return;
    }
    if (response.status < 300) {
      this.answeredBy(invite, response);
      return;
    }
    if ((response.status === 401 || response.status === 407) && this.spec.credentials && !this.authTried && !this.cancelRequested) {
      const challenge = challengeIn(response);
      if (challenge) {
        this.authTried = true;
        const { username, password } = this.spec.credentials;
        const value = answerChallenge(challenge, { username, secret: { password }, method: 'INVITE', uri: this.spec.requestUri });
        this.provisionalSeen = false;
        this.send(this.buildInvite(invite.cseq.seq + 1, { name: response.status === 407 ? 'Proxy-Authorization' : 'Authorization', value }));
        return;
      }
    }
    this.state = 'terminated';
    this.events.failed(this, response, origin);
  }

  private answeredBy(invite: SipRequest, response: SipResponse): void {
    const d = dialogAsUac(invite, response);
    if (!d.ok) {
      // A 2xx without Contact or tag: we cannot even ACK it properly; count the leg as failed.
      this.state = 'terminated';
      this.events.failed(this, createResponse(invite, 502, { reason: reject(502, d.error.reason).reason }), 'network');
      return;
    }
    this.dialog = d.value;
    sendAck(this.sip, createAckFor2xx(d.value, invite, this.sip.newVia(this.peer.transport)), this.peer);
    this.state = 'confirmed';
    if (this.cancelRequested) {
      // Answered while our CANCEL crossed it (§9.1 race): the call no longer wants this leg.
      void this.bye();
      return;
    }
    this.events.answered(this, response);
  }

  private sendCancel(): void {
    if (!this.invite || this.cancelSent) return;
    this.cancelSent = true;
    transactions(this.sip).sendRequest(createCancel(this.invite), this.peer, { response: () => undefined });
  }

  /** No response at all: abandon the transaction without CANCEL (nothing to cancel yet, §9.1). */
  private giveUp(): void {
    this.setupTimer = undefined;
    if (this.state !== 'calling' || this.provisionalSeen || !this.invite) return;
    const invite = this.invite;
    this.state = 'terminated';
    this.tx?.terminate();
    this.events.failed(this, createResponse(invite, 408, { reason: reject(408, 'no response').reason }), 'setup-timeout');
  }

  private clearSetupTimer(): void {
    if (this.setupTimer) clearTimeout(this.setupTimer);
    this.setupTimer = undefined;
  }
}
