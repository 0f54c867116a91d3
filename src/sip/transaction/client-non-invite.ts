// Owns the non-INVITE client transaction (RFC 3261 §17.1.2): Timer E retransmits over UDP (doubling
// to T2, then every T2 once a provisional arrived), Timer F gives up with 408, Timer K absorbs
// response retransmissions. Must not import anything outside src/sip.
import type { SipRequest, SipResponse } from '../message';
import type { Target } from '../transport/types';
import { type ClientTransactionEvents, ClientTransactionBase } from './client-transaction';
import type { TransactionContext } from './transaction';

export type ClientNonInviteState = 'trying' | 'proceeding' | 'completed' | 'terminated';

export class ClientNonInviteTransaction extends ClientTransactionBase<ClientNonInviteState> {
  constructor(id: string, request: SipRequest, target: Target, context: TransactionContext, events: ClientTransactionEvents) {
    super(id, request, target, context, events, 'trying');
  }

  start(): void {
    this.transmit(this.request);
    if (!this.reliable) this.retransmitAfter(this.t1);
    this.giveUpAfter('F');
  }

  private retransmitAfter(interval: number): void {
    this.arm('E', interval, () => {
      this.transmit(this.request);
      const next = this.state === 'proceeding' ? this.context.timers.t2 : Math.min(interval * 2, this.context.timers.t2);
      this.retransmitAfter(next);
    });
  }

  receive(response: SipResponse): void {
    const state = this.state;
    if (state !== 'trying' && state !== 'proceeding') return; // completed: absorb retransmissions
    if (response.status < 200) {
      if (state === 'trying' && !this.reliable) {
        this.moveTo('proceeding');
        this.retransmitAfter(this.context.timers.t2);
      }
      this.moveTo('proceeding');
      this.events.response(response, 'network');
      return;
    }
    this.disarm('E');
    this.disarm('F');
    this.moveTo('completed');
    this.events.response(response, 'network');
    this.waitThenTerminate('K', this.reliable ? 0 : this.context.timers.t4);
  }
}
