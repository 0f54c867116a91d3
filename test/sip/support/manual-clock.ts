import type { Clock } from '../../../src/sip/transaction/timers';

/** A clock that runs timers only when told, so retransmission schedules can be checked exactly. */
export class ManualClock implements Clock {
  now = 0;
  private timers: Array<{ at: number; fn: () => void; id: number }> = [];
  private nextId = 1;
  readonly delays: number[] = [];

  setTimeout(fn: () => void, ms: number): number {
    const id = this.nextId++;
    this.delays.push(ms);
    this.timers.push({ at: this.now + ms, fn, id });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }

  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.now = next.at;
      next.fn();
    }
    this.now = end;
  }
}
