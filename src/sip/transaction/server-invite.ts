// Owns the INVITE server transaction (RFC 3261 §17.2.1, with the Accepted state of RFC 6026):
// it absorbs retransmitted INVITEs by re-sending the last response, retransmits non-2xx finals over
// UDP (Timer G) until the ACK arrives or Timer H gives up, then waits Timer I for stray ACKs.
// Must not import anything outside src/sip.
import type { SipRequest, SipResponse } from '../message';
import type { Target } from '../transport/types';
import { type TransactionContext, Transaction } from './transaction';

export type ServerInviteState = 'proceeding' | 'completed' | 'confirmed' | 'accepted' | 'terminated';

export interface ServerInviteEvents {
  /** Timer H fired: the peer never ACKed our final response. */
  ackTimeout?(): void;
  transportError?(error: Error): void;
}

export class ServerInviteTransaction extends Transaction<ServerInviteState> {
  private lastResponse?: SipResponse;
  events: ServerInviteEvents = {};

  constructor(
    id: string,
    request: SipRequest,
    reliable: boolean,
    context: TransactionContext,
    /** Where responses go: computed once from the request's source (nat.ts responseTarget). */
    readonly replyTo: Target,
  ) {
    super(id, request, reliable, context, 'proceeding');
  }

  get response(): SipResponse | undefined {
    return this.lastResponse;
  }

  /** Sends a response from the TU; returns false when the state no longer allows one. */
  respond(response: SipResponse): boolean {
    if (this.state !== 'proceeding') return false;
    this.lastResponse = response;
    this.transmit(response);
    if (response.status < 200) return true;
    if (response.status < 300) {
      // The TU (UAS core) retransmits 2xx until the ACK; the transaction only absorbs INVITE copies.
      this.moveTo('accepted');
      this.arm('L', 64 * this.t1, () => this.terminate());
      return true;
    }
    this.moveTo('completed');
    if (!this.reliable) this.retransmitAfter(this.t1);
    this.arm('H', 64 * this.t1, () => {
      this.events.ackTimeout?.();
      this.terminate();
    });
    return true;
  }

  private retransmitAfter(interval: number): void {
    this.arm('G', interval, () => {
      if (this.lastResponse) this.transmit(this.lastResponse);
      this.retransmitAfter(Math.min(interval * 2, this.context.timers.t2));
    });
  }

  private transmit(response: SipResponse): void {
    this.context.sender.sendResponse(response, this.replyTo).catch((err: unknown) => {
      if (this.state === 'terminated') return;
      this.events.transportError?.(err instanceof Error ? err : new Error(String(err)));
      this.terminate();
    });
  }

  /** A retransmission of the INVITE: answer with the last response, if any (§17.2.1). */
  receiveRetransmission(): void {
    if ((this.state === 'proceeding' || this.state === 'completed') && this.lastResponse) this.transmit(this.lastResponse);
  }

  /** An ACK matched to this transaction (only non-2xx ACKs match, §17.2.3). Returns true when absorbed. */
  receiveAck(): boolean {
    if (this.state === 'completed') {
      this.disarm('G');
      this.disarm('H');
      this.moveTo('confirmed');
      this.waitThenTerminate('I', this.reliable ? 0 : this.context.timers.t4);
      return true;
    }
    return this.state === 'confirmed';
  }
}
