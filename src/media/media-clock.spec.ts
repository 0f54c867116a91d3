import { performance } from 'node:perf_hooks';
import { MediaClock } from './media-clock';

/** The slot holds a reading taken during wake() (the module reads node:perf_hooks, which fake timers leave real). */
function expectFreshAfterWake(clock: MediaClock): void {
  const before = performance.now();
  clock.wake();
  const after = performance.now();
  expect(clock.ms[0]).toBeGreaterThanOrEqual(before);
  expect(clock.ms[0]).toBeLessThanOrEqual(after);
}

describe('MediaClock', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('does not tick for an open session that carries no packet', () => {
    const clock = new MediaClock();
    clock.acquire();
    clock.ms[0] = -1;
    jest.advanceTimersByTime(50);
    expect(clock.ms[0]).toBe(-1);
  });

  it('gives each packet the current time while packets come, and stops ticking after 100 ms without one', () => {
    const clock = new MediaClock();
    clock.acquire();
    jest.advanceTimersByTime(30);
    expectFreshAfterWake(clock);
    // Ticking: each interval refreshes the slot (set aside here to see it written).
    for (let i = 0; i < 40; i++) {
      clock.ms[0] = -1;
      jest.advanceTimersByTime(1);
      expect(clock.ms[0]).toBeGreaterThan(0);
      clock.wake();
    }
    jest.advanceTimersByTime(150);
    clock.ms[0] = -1;
    jest.advanceTimersByTime(20);
    expect(clock.ms[0]).toBe(-1);
    expectFreshAfterWake(clock);
  });

  it('stops when the last session closes, and a packet without a session leaves the slot alone', () => {
    const clock = new MediaClock();
    clock.acquire();
    clock.wake();
    clock.release();
    clock.ms[0] = -1;
    jest.advanceTimersByTime(20);
    clock.wake();
    expect(clock.ms[0]).toBe(-1);
  });
});
