// Owns what client transactions share and how they talk to their TU. Timeouts and transport errors arrive as locally
// made responses (408, RFC 3261 §17.1.1.2; 503, §8.1.3.1) so the TU has one path for "the attempt failed".
// Must not import anything outside src/sip.
import { createResponse } from '../builders';
import type { SipRequest, SipResponse } from '../message';
import type { Target } from '../transport/types';
import { type TransactionContext, Transaction } from './transaction';

export type ResponseOrigin = 'network' | 'timeout' | 'transport-error';

export interface ClientTransactionEvents {
  response(response: SipResponse, origin: ResponseOrigin): void;
}

export function localFailure(request: SipRequest, origin: 'timeout' | 'transport-error', detail?: string): SipResponse {
  return origin === 'timeout'
    ? createResponse(request, 408, { reason: 'Request Timeout' })
    : createResponse(request, 503, { reason: detail ? `Service Unavailable (${detail.replace(/[\r\n]/g, ' ').slice(0, 80)})` : 'Service Unavailable' });
}

/**
 * What both client state machines share: sending to a fixed target, turning a send failure into a
 * local 503, and giving up with a local 408 when Timer B or F fires.
 */
export abstract class ClientTransactionBase<State extends string> extends Transaction<State> {
  protected constructor(
    id: string,
    request: SipRequest,
    protected readonly target: Target,
    context: TransactionContext,
    protected readonly events: ClientTransactionEvents,
    initial: State,
  ) {
    super(id, request, target.transport !== 'UDP', context, initial);
  }

  protected transmit(message: SipRequest): void {
    this.context.sender.send(message, this.target).catch((err: unknown) => {
      if (this.state === 'terminated') return;
      this.events.response(localFailure(this.request, 'transport-error', err instanceof Error ? err.message : String(err)), 'transport-error');
      this.terminate();
    });
  }

  protected giveUpAfter(timer: 'B' | 'F'): void {
    this.arm(timer, 64 * this.t1, () => {
      this.events.response(localFailure(this.request, 'timeout'), 'timeout');
      this.terminate();
    });
  }
}
