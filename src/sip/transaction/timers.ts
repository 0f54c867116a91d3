// Owns the timer values of RFC 3261 §17 (Table 4) and the clock the state machines use, injectable
// so tests can run with small T1/T2/T4. Must not import anything outside src/sip.

export interface TimerConfig {
  /** RTT estimate (default 500 ms). */
  readonly t1: number;
  /** Maximum retransmit interval for non-INVITE requests and INVITE responses (default 4 s). */
  readonly t2: number;
  /** Maximum time a message stays in the network (default 5 s). */
  readonly t4: number;
  /** Wait for response retransmissions in the INVITE client (default 32 s, at least that over UDP). */
  readonly timerD: number;
}

export const DEFAULT_TIMERS: TimerConfig = { t1: 500, t2: 4000, t4: 5000, timerD: 32000 };

export type TimerHandle = unknown;

export interface Clock {
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export const systemClock: Clock = {
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    // Transaction timers must not keep a process alive on shutdown.
    t.unref?.();
    return t;
  },
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};
