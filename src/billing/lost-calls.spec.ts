import { hasLapsed, instanceOf, lostCallEnd, lostReason, nodeOfInstance } from './lost-calls';

describe('closing a lost node\'s calls (pure rules)', () => {
  const answered = new Date('2026-11-30T10:00:00.000Z');
  const at = (ms: number) => new Date(answered.getTime() + ms);

  it('ends a call at the last heartbeat, rounding the duration up to the second', () => {
    expect(lostCallEnd(answered, at(3200), null)).toEqual({ endedAt: at(3200), durationSeconds: 4 });
    expect(lostCallEnd(answered, at(3000), 3600)).toEqual({ endedAt: at(3000), durationSeconds: 3 });
  });

  it('never ends a call before its answer (answered after the last heartbeat, or no heartbeat known)', () => {
    expect(lostCallEnd(answered, at(-5000), null)).toEqual({ endedAt: answered, durationSeconds: 0 });
    expect(lostCallEnd(answered, null, 60)).toEqual({ endedAt: answered, durationSeconds: 0 });
  });

  it('never bills past the seconds credit control granted', () => {
    expect(lostCallEnd(answered, at(61_700), 60)).toEqual({ endedAt: at(60_000), durationSeconds: 60 });
  });

  it('counts a node lost only after two missed heartbeats', () => {
    const beat = answered;
    expect(hasLapsed(beat, 15, at(15_000))).toBe(false);
    expect(hasLapsed(beat, 15, at(30_000))).toBe(false);
    expect(hasLapsed(beat, 15, at(30_001))).toBe(true);
    expect(hasLapsed(beat, 1, at(2_500))).toBe(true);
  });

  it('names the node in the instance id and in the reason', () => {
    const instance = instanceOf('gw-1.example:a', '0f3c9a1b');
    expect(instance).toBe('gw-1.example:a/0f3c9a1b');
    expect(nodeOfInstance(instance)).toBe('gw-1.example:a');
    expect(nodeOfInstance('legacy')).toBe('legacy');
    expect(lostReason('gw-1')).toBe('node lost: gw-1');
  });
});
