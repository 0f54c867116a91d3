// Owns the non-INVITE server transaction (RFC 3261 §17.2.2): retransmitted requests are answered with
// the last response, and Timer J keeps the final response around for them over UDP.
// Must not import anything outside src/sip.
import type { SipRequest, SipResponse } from '../message';
import type { Target } from '../transport/types';
import { type TransactionContext, Transaction } from './transaction';

export type ServerNonInviteState = 'trying' | 'proceeding' | 'completed' | 'terminated';

export class ServerNonInviteTransaction extends Transaction<ServerNonInviteState> {
  private lastResponse?: SipResponse;
  transportError?: (error: Error) => void;

  constructor(
    id: string,
    request: SipRequest,
    reliable: boolean,
    context: TransactionContext,
    /** Where responses go: computed once from the request's source (nat.ts responseTarget). */
    readonly replyTo: Target,
  ) {
    super(id, request, reliable, context, 'trying');
  }

  get response(): SipResponse | undefined {
    return this.lastResponse;
  }

  respond(response: SipResponse): boolean {
    if (this.state !== 'trying' && this.state !== 'proceeding') return false;
    this.lastResponse = response;
    this.transmit(response);
    if (response.status < 200) {
      this.moveTo('proceeding');
      return true;
    }
    this.moveTo('completed');
    this.waitThenTerminate('J', this.reliable ? 0 : 64 * this.t1);
    return true;
  }

  private transmit(response: SipResponse): void {
    this.context.sender.sendResponse(response, this.replyTo).catch((err: unknown) => {
      if (this.state === 'terminated') return;
      this.transportError?.(err instanceof Error ? err : new Error(String(err)));
      this.terminate();
    });
  }

  /** A retransmitted request: discarded in trying, answered with the last response afterwards (§17.2.2). */
  receiveRetransmission(): void {
    if ((this.state === 'proceeding' || this.state === 'completed') && this.lastResponse) this.transmit(this.lastResponse);
  }
}
