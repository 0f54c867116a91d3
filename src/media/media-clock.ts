/**
 * The relay's millisecond clock, read once per RTP packet for jitter without
 * allocating. Imports nothing of the domain.
 *
 * performance.now() and Date.now() return a fresh heap number per call (checked
 * on Node 20), so the hot path instead reads a Float64Array slot that a 1 ms
 * timer refreshes while packets flow through any open session. Arrival times are
 * thus those of the event-loop turn that handled the packet, which is also when
 * the relay forwarded it: the jitter reported is the jitter the relay itself saw.
 *
 * The timer runs only while packets come (`wake`, called by each packet before it
 * reads the slot): it stops after QUIET_MS without one, and the next packet reads
 * the time afresh and starts it again. A 1 ms interval costs about 40 ms of CPU a
 * second on its own (measured on the 2-core bench machine), which sessions without
 * media (signalling-only calls, the calls benchmark, calls on hold with no RTCP)
 * no longer pay.
 */
import { performance } from 'node:perf_hooks';

/** The timer stops after this many ticks (ms) without a packet. */
const QUIET_MS = 100;

export class MediaClock {
  /** ms[0]: milliseconds on a monotonic clock, as of the last tick. */
  readonly ms = new Float64Array(1);
  private timer: NodeJS.Timeout | null = null;
  private users = 0;
  /** A packet came since the last tick. */
  private heard = false;
  private quietTicks = 0;

  constructor() {
    this.tick = this.tick.bind(this);
    this.onInterval = this.onInterval.bind(this);
    this.tick();
  }

  /** One more user (a session): the clock may tick (see wake). */
  acquire(): void {
    this.users++;
  }

  release(): void {
    if (this.users > 0 && --this.users === 0) this.stop();
  }

  /** A packet arrived (before it reads `ms`): the slot is fresh for it, and ticks while packets keep coming. */
  wake(): void {
    this.heard = true;
    if (this.timer === null && this.users > 0) {
      this.tick();
      this.quietTicks = 0;
      this.timer = setInterval(this.onInterval, 1);
      this.timer.unref();
    }
  }

  private onInterval(): void {
    this.tick();
    if (this.heard) {
      this.heard = false;
      this.quietTicks = 0;
    } else if (++this.quietTicks >= QUIET_MS) this.stop();
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private tick(): void {
    this.ms[0] = performance.now();
  }
}
