import fc from 'fast-check';
import { SourceGuard, trustList } from './source-guard';

describe('SourceGuard', () => {
  const clock = () => {
    let now = 5_000_000;
    return { now: () => now, advance: (ms: number) => (now += ms) };
  };

  it('admits a source up to its rate, refuses the rest with 503, drops past 4x, and refills with time', () => {
    const c = clock();
    const guard = new SourceGuard({ ratePerSecond: 10, trustedRatePerSecond: 100, now: c.now });
    const verdicts = Array.from({ length: 50 }, () => guard.request('192.0.2.1'));
    expect(verdicts.filter((v) => v === 'admit')).toHaveLength(10);
    expect(verdicts.filter((v) => v === 'refuse')).toHaveLength(30);
    expect(verdicts.filter((v) => v === 'drop')).toHaveLength(10);
    // Another source is not affected.
    expect(guard.request('192.0.2.2')).toBe('admit');
    // Still the same second: everything is dropped.
    c.advance(500);
    expect(guard.request('192.0.2.1')).toBe('drop');
    // A new second: the bucket has refilled (capped at one second's worth).
    c.advance(600);
    const next = Array.from({ length: 12 }, () => guard.request('192.0.2.1'));
    expect(next.filter((v) => v === 'admit')).toHaveLength(10);
    expect(next.slice(10)).toEqual(['refuse', 'refuse']);
  });

  it('property: a steady source never gets more than its rate (plus one burst) admitted', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: 400 }), (limit, perSecond) => {
        const c = clock();
        const guard = new SourceGuard({ ratePerSecond: limit, trustedRatePerSecond: 0, now: c.now });
        let admitted = 0;
        for (let i = 0; i < perSecond * 3; i++) {
          if (guard.request('192.0.2.9') === 'admit') admitted++;
          c.advance(1000 / perSecond);
        }
        expect(admitted).toBeLessThanOrEqual(limit * 4 + 1);
        if (perSecond <= limit) expect(admitted).toBe(perSecond * 3);
      }),
    );
  });

  it('gives trusted addresses their own limit, unlimited at 0, and re-reads the list when it changes', () => {
    const c = clock();
    const guard = new SourceGuard({ ratePerSecond: 2, trustedRatePerSecond: 0, now: c.now });
    guard.setTrusted(['198.51.100.0/24', '2001:db8::/32']);
    expect(Array.from({ length: 500 }, () => guard.request('198.51.100.7')).every((v) => v === 'admit')).toBe(true);
    expect(guard.isTrusted('::ffff:198.51.100.8')).toBe(true);
    expect(guard.isTrusted('2001:db8::1')).toBe(true);
    expect(guard.isTrusted('198.51.101.1')).toBe(false);
    guard.setTrusted([]);
    expect(Array.from({ length: 10 }, () => guard.request('198.51.100.7')).filter((v) => v === 'admit').length).toBeLessThan(10);
    expect(() => trustList(['not-an-address/8'])).toThrow();
  });

  it('takes no token for responses and ACKs, but drops them too when the source is far over', () => {
    const c = clock();
    const guard = new SourceGuard({ ratePerSecond: 3, trustedRatePerSecond: 0, now: c.now });
    for (let i = 0; i < 11; i++) expect(guard.other('192.0.2.3')).toBe('admit');
    expect(guard.request('192.0.2.3')).toBe('admit');
    expect(guard.other('192.0.2.3')).toBe('drop');
  });

  it('is off at 0, keeps its memory bounded, and summarises refusals at most once per 10 s', () => {
    const c = clock();
    expect(new SourceGuard({ ratePerSecond: 0, trustedRatePerSecond: 0 }).request('192.0.2.1')).toBe('admit');
    const guard = new SourceGuard({ ratePerSecond: 1, trustedRatePerSecond: 0, maxSources: 100, now: c.now });
    for (let i = 0; i < 1000; i++) guard.request(`10.0.${i >> 8}.${i & 255}`);
    expect(guard.size()).toBeLessThanOrEqual(100);
    expect(guard.summary()).toBeUndefined();
    guard.request('192.0.2.4');
    guard.request('192.0.2.4');
    expect(guard.summary()).toMatchObject({ refused: 1, dropped: 0, top: { address: '192.0.2.4', count: 1 } });
    for (let i = 0; i < 10; i++) guard.request('192.0.2.4');
    expect(guard.summary()).toBeUndefined();
    c.advance(10_000);
    expect(guard.summary()).toMatchObject({ refused: 2, dropped: 8 });
  });
});
