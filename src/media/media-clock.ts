/**
 * The relay's millisecond clock, read once per RTP packet for jitter without
 * allocating. Imports nothing of the domain.
 *
 * performance.now() and Date.now() return a fresh heap number per call (checked
 * on Node 20), so the hot path instead reads a Float64Array slot that a 1 ms
 * timer refreshes while any session is open. Arrival times are thus those of
 * the event-loop turn that handled the packet, which is also when the relay
 * forwarded it: the jitter reported is the jitter the relay itself saw.
 */
import { performance } from 'node:perf_hooks';

export class MediaClock {
  /** ms[0]: milliseconds on a monotonic clock, as of the last tick. */
  readonly ms = new Float64Array(1);
  private timer: NodeJS.Timeout | null = null;
  private users = 0;

  constructor() {
    this.tick = this.tick.bind(this);
    this.tick();
  }

  /** Starts ticking for one more user (a session). */
  acquire(): void {
    if (this.users++ === 0) {
      this.tick();
      this.timer = setInterval(this.tick, 1);
      this.timer.unref();
    }
  }

  release(): void {
    if (this.users > 0 && --this.users === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  private tick(): void {
    this.ms[0] = performance.now();
  }
}
