// Owns the INVITE client transaction (RFC 3261 §17.1.1, with the Accepted state of RFC 6026):
// Timer A retransmits over UDP, Timer B gives up with 408, non-2xx finals are ACKed here, Timer D
// absorbs their retransmissions, Timer M keeps the transaction to pass 2xx retransmissions up.
// Must not import anything outside src/sip.
import { createAck } from '../builders';
import type { SipRequest, SipResponse } from '../message';
import { serialize } from '../serializer';
import type { Target } from '../transport/types';
import { type ClientTransactionEvents, ClientTransactionBase } from './client-transaction';
import type { TransactionContext } from './transaction';

export type ClientInviteState = 'calling' | 'proceeding' | 'completed' | 'accepted' | 'terminated';

export class ClientInviteTransaction extends ClientTransactionBase<ClientInviteState> {
  private ack?: SipRequest;

  constructor(id: string, request: SipRequest, target: Target, context: TransactionContext, events: ClientTransactionEvents) {
    super(id, request, target, context, events, 'calling');
  }

  start(): void {
    this.transmit(this.request);
    if (!this.reliable) this.retransmitAfter(this.t1);
    this.giveUpAfter('B');
  }

  private retransmitAfter(interval: number): void {
    this.arm('A', interval, () => {
      this.transmit(this.request);
      this.retransmitAfter(interval * 2);
    });
  }

  receive(response: SipResponse): void {
    const state = this.state;
    if (state === 'terminated') return;
    if (response.status < 200) {
      if (state === 'calling' || state === 'proceeding') {
        this.disarm('A');
        // Timer B only guards the wait for a first response; after a 1xx the TU decides (Timer C is the proxy's).
        this.disarm('B');
        this.moveTo('proceeding');
        this.events.response(response, 'network');
      }
      return;
    }
    if (response.status < 300) {
      if (state === 'calling' || state === 'proceeding') {
        this.disarm('A');
        this.disarm('B');
        this.moveTo('accepted');
        this.arm('M', 64 * this.t1, () => this.terminate());
        this.events.response(response, 'network');
      } else if (state === 'accepted') {
        // A retransmitted 2xx: the TU re-sends its ACK (RFC 6026 §7.2).
        this.events.response(response, 'network');
      }
      return;
    }
    if (state === 'calling' || state === 'proceeding') {
      this.disarm('A');
      this.disarm('B');
      this.moveTo('completed');
      this.ack = createAck(this.request, response);
      this.transmit(this.ack);
      this.events.response(response, 'network');
      this.waitThenTerminate('D', this.reliable ? 0 : this.context.timers.timerD);
    } else if (state === 'completed' && this.ack) {
      // A retransmitted final response means our ACK was lost: send it again, do not bother the TU.
      this.transmit(this.ack);
    }
  }

  /** The wire form of the ACK this transaction sent, for tests and logs. */
  ackBytes(): Buffer | undefined {
    return this.ack && serialize(this.ack);
  }
}
