// Owns what every RFC 3261 §17 state machine shares: state, named timers (A to M), termination and
// the link to the transport. Must not import anything outside src/sip.
import type { SipMessage, SipRequest, SipResponse } from '../message';
import type { Target } from '../transport/types';
import type { Clock, TimerConfig, TimerHandle } from './timers';

/** What the transaction layer needs from the transport layer. */
export interface MessageSender {
  send(message: SipMessage, target: Target): Promise<void>;
  /** A response goes to the target computed from its request's source, never to one its Via names. */
  sendResponse(response: SipResponse, to: Target): Promise<void>;
}

export interface TransactionContext {
  readonly sender: MessageSender;
  readonly timers: TimerConfig;
  readonly clock: Clock;
}

export type TimerName = 'A' | 'B' | 'D' | 'E' | 'F' | 'G' | 'H' | 'I' | 'J' | 'K' | 'L' | 'M';

export abstract class Transaction<State extends string> {
  private readonly running = new Map<TimerName, TimerHandle>();
  private readonly terminatedListeners: Array<() => void> = [];
  private readonly stateListeners: Array<(state: State | 'terminated') => void> = [];

  protected constructor(
    readonly id: string,
    readonly request: SipRequest,
    /** UDP needs retransmissions and wait timers; TCP delivers reliably (§17.1.1.2). */
    readonly reliable: boolean,
    protected readonly context: TransactionContext,
    private current: State,
  ) {}

  get state(): State | 'terminated' {
    return this.current;
  }

  onTerminated(listener: () => void): void {
    this.terminatedListeners.push(listener);
  }

  /** Every state change, termination included. */
  onStateChange(listener: (state: State | 'terminated') => void): void {
    this.stateListeners.push(listener);
  }

  protected moveTo(state: State): void {
    this.current = state;
    for (const listener of this.stateListeners) listener(state);
  }

  protected arm(name: TimerName, ms: number, fire: () => void): void {
    this.disarm(name);
    this.running.set(
      name,
      this.context.clock.setTimeout(() => {
        this.running.delete(name);
        if (this.current !== 'terminated') fire();
      }, ms),
    );
  }

  protected disarm(name: TimerName): void {
    const handle = this.running.get(name);
    if (handle !== undefined) this.context.clock.clearTimeout(handle);
    this.running.delete(name);
  }

  /** Starts a wait timer, or terminates at once when it would be zero (reliable transports). */
  protected waitThenTerminate(name: TimerName, ms: number): void {
    if (ms <= 0) this.terminate();
    else this.arm(name, ms, () => this.terminate());
  }

  protected get t1(): number {
    return this.context.timers.t1;
  }

  terminate(): void {
    if (this.current === 'terminated') return;
    for (const name of [...this.running.keys()]) this.disarm(name);
    this.current = 'terminated' as State;
    for (const listener of this.stateListeners) listener('terminated');
    for (const listener of this.terminatedListeners) listener();
  }
}
