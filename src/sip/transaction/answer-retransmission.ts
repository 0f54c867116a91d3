// Owns the UAS core's duty to retransmit a 2xx to INVITE until the ACK arrives (RFC 3261 §13.3.1.4):
// the INVITE server transaction hands 2xx reliability to the TU, and this does that job for it.
// Must not import anything outside src/sip.
import type { SipResponse } from '../message';
import type { Target } from '../transport/types';
import type { Clock, TimerConfig, TimerHandle } from './timers';
import type { MessageSender } from './transaction';

export class AnswerRetransmission {
  private timer?: TimerHandle;
  private deadline?: TimerHandle;
  private done = false;

  constructor(
    private readonly sender: MessageSender,
    private readonly response: SipResponse,
    private readonly timers: TimerConfig,
    private readonly clock: Clock,
    /** Called when 64*T1 pass without an ACK: the TU should then send BYE (§13.3.1.4). */
    private readonly onGiveUp: () => void,
    /** Where the INVITE's responses go (its server transaction's replyTo). */
    private readonly target: Target,
  ) {}

  /** Starts retransmitting over UDP; over TCP the transport is reliable and nothing is repeated. */
  start(reliable: boolean): void {
    if (reliable) return;
    this.schedule(this.timers.t1);
    this.deadline = this.clock.setTimeout(() => {
      this.stop();
      this.onGiveUp();
    }, 64 * this.timers.t1);
  }

  private schedule(interval: number): void {
    this.timer = this.clock.setTimeout(() => {
      if (this.done) return;
      // A failed send is reported by the transport; the next retransmission or the deadline follows anyway.
      this.sender.sendResponse(this.response, this.target).catch((err: unknown) => void err);
      this.schedule(Math.min(interval * 2, this.timers.t2));
    }, interval);
  }

  /** The ACK arrived (or the call ended): stop retransmitting. */
  stop(): void {
    this.done = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    if (this.deadline !== undefined) this.clock.clearTimeout(this.deadline);
  }
}
