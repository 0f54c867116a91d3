import fc from 'fast-check';
import {
  callBucket,
  CallerType,
  classifyCaller,
  compileEntry,
  isBlocked,
  RuleConditions,
  SPLIT_BUCKETS,
  TollFreeEntry,
  TollFreeRule,
  translate,
  translateCompiled,
  weekdays,
} from './translate';

const NY = 'America/New_York';
const TOKYO = 'Asia/Tokyo';
let ids = 0;
const rule = (name: string, when: RuleConditions, action: TollFreeRule['action']): TollFreeRule => ({ id: `r${++ids}-${name}`, name, when, action });
const entry = (timezone: string, rules: TollFreeRule[]): TollFreeEntry => ({
  e164: '+18005550100',
  accountId: '0190a000-0000-7000-8000-000000000001',
  timezone,
  defaultTarget: '+12125550100',
  rules,
});
const call = (at: string, caller: string | null = '+12125550123', callId = 'c1') => ({ caller, at: new Date(at), callId });
const routedTo = (e: TollFreeEntry, at: string, caller?: string | null) => {
  const r = translate(e, call(at, caller));
  return isBlocked(r) ? `blocked:${r.reason}` : r.target;
};

describe('translate: rule order', () => {
  it('routes to the default target, with null rule id and name, when no rule matches', () => {
    const e = entry(NY, [rule('tokyo callers', { callerPrefixes: ['+81'] }, { route: '+12125550199' })]);
    expect(translate(e, call('2026-11-23T15:00:00Z'))).toEqual({ target: '+12125550100', ruleId: null, ruleName: null });
  });

  it('lets the first matching rule act even when later rules match too', () => {
    const first = rule('212 callers', { callerPrefixes: ['+1212'] }, { route: '+13125550102' });
    const e = entry(NY, [first, rule('everyone', {}, { route: '+12125550199' })]);
    expect(translate(e, call('2026-11-23T15:00:00Z'))).toEqual({ target: '+13125550102', ruleId: first.id, ruleName: '212 callers' });
    expect(routedTo(e, '2026-11-23T15:00:00Z', '+13125550123')).toBe('+12125550199');
  });

  it('acts on the first rule whose conditions all hold (property over random prefix rules and callers)', () => {
    const digits = fc.constantFrom('1', '2', '3');
    const prefixOf = fc.array(digits, { minLength: 1, maxLength: 3 }).map((d) => `+1${d.join('')}`);
    const ruleArb = fc.record({ prefixes: fc.option(fc.array(prefixOf, { minLength: 1, maxLength: 3 }), { nil: undefined }), target: fc.integer({ min: 0, max: 999 }) });
    fc.assert(
      fc.property(fc.array(ruleArb, { maxLength: 8 }), fc.array(digits, { minLength: 6, maxLength: 6 }), (specs, callerDigits) => {
        const caller = `+1${callerDigits.join('')}`;
        const rules = specs.map((s, i) => rule(`r${i}`, s.prefixes ? { callerPrefixes: s.prefixes } : {}, { route: `+1212555${String(s.target).padStart(4, '0')}` }));
        const expected = rules.find((r) => !r.when.callerPrefixes || r.when.callerPrefixes.some((p) => caller.startsWith(p)));
        const r = translate(entry(NY, rules), { caller, at: new Date('2026-06-01T12:00:00Z'), callId: 'x' });
        return expected ? r.ruleId === expected.id && (r as { target: string }).target === (expected.action as { route: string }).route : r.ruleId === null;
      }),
      { numRuns: 2000 },
    );
  });

  it('requires every condition of a rule to hold', () => {
    const e = entry(NY, [rule('212 on weekends', { callerPrefixes: ['+1212'], days: ['sat', 'sun'] }, { route: '+12125550199' })]);
    expect(routedTo(e, '2026-11-21T15:00:00Z', '+12125550123')).toBe('+12125550199'); // Saturday, 212
    expect(routedTo(e, '2026-11-23T15:00:00Z', '+12125550123')).toBe('+12125550100'); // Monday
    expect(routedTo(e, '2026-11-21T15:00:00Z', '+13125550123')).toBe('+12125550100'); // Saturday, 312
  });

  it('blocks with the reason and SIP code of the rule', () => {
    const block = rule('no payphones', { callerTypes: ['payphone'] }, { block: 'payphones not accepted', sipCode: 603 });
    const e = entry(NY, [block]);
    const r = translateCompiled(compileEntry(e), call('2026-11-23T15:00:00Z', '+12125550123'), { payphonePrefixes: ['+1212555'] });
    expect(r).toEqual({ blocked: true, reason: 'payphones not accepted', sipCode: 603, ruleId: block.id, ruleName: 'no payphones' });
  });

  it('is a function of its input alone: the same call translates the same way every time', () => {
    const e = entry(TOKYO, [
      rule('night', { timeRanges: [{ from: '22:00', to: '06:00' }] }, { split: [{ target: '+81312345678', percent: 50 }, { target: '+81612345678', percent: 50 }] }),
    ]);
    fc.assert(
      fc.property(fc.string(), fc.integer({ min: Date.UTC(2020, 0, 1), max: Date.UTC(2030, 0, 1) }), (callId, ms) => {
        const c = { caller: null, at: new Date(ms), callId };
        return JSON.stringify(translate(e, c)) === JSON.stringify(translate(e, c));
      }),
    );
  });
});

describe('translate: percentage split', () => {
  const targets = (n: number) => Array.from({ length: n }, (_, i) => `+1212555${String(1000 + i)}`);

  it('lands within 1 percentage point of each share over 100,000 call ids (random splits)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 100 }), { minLength: 2, maxLength: 32 }), fc.constantFrom('seq', 'uuid'), (weights, style) => {
        // Turn arbitrary weights into whole percentages summing to exactly 100.
        const total = weights.reduce((a, b) => a + b, 0);
        const shares = weights.map((w) => Math.max(0, Math.floor((w * 100) / total)));
        shares[0] += 100 - shares.reduce((a, b) => a + b, 0);
        const t = targets(weights.length);
        const split = t.map((target, i) => ({ target, percent: shares[i] })).filter((s) => s.percent > 0);
        const compiled = compileEntry(entry(NY, [rule('split', {}, { split })]));
        const counts = new Map<string, number>();
        const at = new Date('2026-11-23T15:00:00Z');
        const N = 100_000;
        for (let i = 0; i < N; i++) {
          const callId = style === 'seq' ? `call-${i}` : `${(i * 2654435761) >>> 0}-${i.toString(16)}@gw.example`;
          const r = translateCompiled(compiled, { caller: null, at, callId }) as { target: string };
          counts.set(r.target, (counts.get(r.target) ?? 0) + 1);
        }
        for (const s of split) expect(Math.abs(((counts.get(s.target) ?? 0) * 100) / N - s.percent)).toBeLessThan(1);
      }),
      { numRuns: 6 },
    );
  });

  it('always sends the same call id to the same target, whatever the time or caller', () => {
    const split = [
      { target: '+12125551001', percent: 33.33 },
      { target: '+12125551002', percent: 33.33 },
      { target: '+12125551003', percent: 33.34 },
    ];
    const e = entry(NY, [rule('split', {}, { split })]);
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 64 }), fc.integer({ min: 0, max: 2 ** 40 }), fc.option(fc.constant('+13125550123'), { nil: null }), (callId, ms, caller) => {
        const a = translate(e, { caller: null, at: new Date('2026-01-01T00:00:00Z'), callId }) as { target: string };
        const b = translate(e, { caller, at: new Date(ms), callId }) as { target: string };
        return a.target === b.target && split.some((s) => s.target === a.target);
      }),
      { numRuns: 2000 },
    );
  });

  it('maps call ids to buckets in [0, SPLIT_BUCKETS)', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), (id) => Number.isInteger(callBucket(id)) && callBucket(id) >= 0 && callBucket(id) < SPLIT_BUCKETS));
  });
});

describe('translate: time of day, days and dates in the number’s time zone', () => {
  const business = entry(NY, [rule('office', { timeRanges: [{ from: '09:00', to: '17:00' }] }, { route: '+12125550199' })]);
  const office = '+12125550199';
  const fallback = '+12125550100';

  it('includes the start and excludes the end of a range', () => {
    // 2026-11-23 is in EST (UTC-5).
    expect(routedTo(business, '2026-11-23T13:59:59Z')).toBe(fallback); // 08:59:59
    expect(routedTo(business, '2026-11-23T14:00:00Z')).toBe(office); // 09:00:00
    expect(routedTo(business, '2026-11-23T21:59:59Z')).toBe(office); // 16:59:59
    expect(routedTo(business, '2026-11-23T22:00:00Z')).toBe(fallback); // 17:00:00
  });

  it('handles a range that crosses midnight', () => {
    const night = entry(NY, [rule('night', { timeRanges: [{ from: '22:00', to: '06:00' }] }, { route: office })]);
    expect(routedTo(night, '2026-11-24T02:59:59Z')).toBe(fallback); // 21:59:59
    expect(routedTo(night, '2026-11-24T03:00:00Z')).toBe(office); // 22:00
    expect(routedTo(night, '2026-11-24T05:00:00Z')).toBe(office); // 00:00
    expect(routedTo(night, '2026-11-24T10:59:59Z')).toBe(office); // 05:59:59
    expect(routedTo(night, '2026-11-24T11:00:00Z')).toBe(fallback); // 06:00
  });

  it('accepts 24:00 as the end of the day', () => {
    const evening = entry(NY, [rule('evening', { timeRanges: [{ from: '18:00', to: '24:00' }] }, { route: office })]);
    expect(routedTo(evening, '2026-11-24T04:59:59Z')).toBe(office); // 23:59:59
    expect(routedTo(evening, '2026-11-24T05:00:00Z')).toBe(fallback); // 00:00 next day
  });

  it('follows the clock on the day daylight saving starts in America/New_York (2026-03-08)', () => {
    // 09:00 EDT is 13:00 UTC on the day itself, not 14:00 as the day before.
    expect(routedTo(business, '2026-03-07T13:59:59Z')).toBe(fallback); // Sat 08:59:59 EST
    expect(routedTo(business, '2026-03-07T14:00:00Z')).toBe(office); // Sat 09:00 EST
    expect(routedTo(business, '2026-03-08T12:59:59Z')).toBe(fallback); // Sun 08:59:59 EDT
    expect(routedTo(business, '2026-03-08T13:00:00Z')).toBe(office); // Sun 09:00 EDT
    expect(routedTo(business, '2026-03-08T20:59:59Z')).toBe(office); // 16:59:59 EDT
    expect(routedTo(business, '2026-03-08T21:00:00Z')).toBe(fallback); // 17:00 EDT
    // 02:00–03:00 does not exist that night: a rule for it never matches, the hour around it does as the clock says.
    const gap = entry(NY, [rule('gap', { timeRanges: [{ from: '02:00', to: '03:00' }] }, { route: office })]);
    for (let s = 0; s < 3 * 3600; s += 60) {
      expect(routedTo(gap, new Date(Date.parse('2026-03-08T05:00:00Z') + s * 1000).toISOString())).toBe(fallback);
    }
    const early = entry(NY, [rule('early', { timeRanges: [{ from: '01:30', to: '03:30' }] }, { route: office })]);
    expect(routedTo(early, '2026-03-08T06:29:59Z')).toBe(fallback); // 01:29:59 EST
    expect(routedTo(early, '2026-03-08T06:30:00Z')).toBe(office); // 01:30 EST
    expect(routedTo(early, '2026-03-08T06:59:59Z')).toBe(office); // 01:59:59 EST
    expect(routedTo(early, '2026-03-08T07:00:00Z')).toBe(office); // 03:00 EDT
    expect(routedTo(early, '2026-03-08T07:29:59Z')).toBe(office); // 03:29:59 EDT
    expect(routedTo(early, '2026-03-08T07:30:00Z')).toBe(fallback); // 03:30 EDT
  });

  it('follows the clock on the day daylight saving ends in America/New_York (2026-11-01)', () => {
    expect(routedTo(business, '2026-11-01T13:59:59Z')).toBe(fallback); // 08:59:59 EST
    expect(routedTo(business, '2026-11-01T14:00:00Z')).toBe(office); // 09:00 EST
    expect(routedTo(business, '2026-10-31T13:00:00Z')).toBe(office); // Sat 09:00 EDT
    expect(routedTo(business, '2026-11-01T21:59:59Z')).toBe(office); // 16:59:59 EST
    expect(routedTo(business, '2026-11-01T22:00:00Z')).toBe(fallback); // 17:00 EST
    // 01:00–02:00 happens twice that night: both hours match.
    const twice = entry(NY, [rule('one am', { timeRanges: [{ from: '01:00', to: '02:00' }] }, { route: office })]);
    expect(routedTo(twice, '2026-11-01T04:59:59Z')).toBe(fallback); // 00:59:59 EDT
    expect(routedTo(twice, '2026-11-01T05:00:00Z')).toBe(office); // 01:00 EDT
    expect(routedTo(twice, '2026-11-01T05:59:59Z')).toBe(office); // 01:59:59 EDT
    expect(routedTo(twice, '2026-11-01T06:00:00Z')).toBe(office); // 01:00 EST, again
    expect(routedTo(twice, '2026-11-01T06:59:59Z')).toBe(office); // 01:59:59 EST
    expect(routedTo(twice, '2026-11-01T07:00:00Z')).toBe(fallback); // 02:00 EST
  });

  it('reads days and time in Asia/Tokyo (UTC+9, no daylight saving)', () => {
    const e: TollFreeEntry = {
      e164: '+81120123456',
      accountId: '0190a000-0000-7000-8000-000000000001',
      timezone: TOKYO,
      defaultTarget: '+81312345678',
      rules: [
        rule('weekday office', { days: ['mon', 'tue', 'wed', 'thu', 'fri'], timeRanges: [{ from: '09:00', to: '18:00' }] }, { route: '+81612345678' }),
        rule('mobiles at night', { callerTypes: ['mobile'], timeRanges: [{ from: '18:00', to: '09:00' }] }, { route: '+819012345678' }),
      ],
    };
    const to = (at: string, caller = '+81355551234') => (translate(e, call(at, caller)) as { target: string }).target;
    // Monday 2026-11-23 09:00 JST is Sunday 2026-11-22 24:00 UTC.
    expect(to('2026-11-22T23:59:59Z')).toBe('+81312345678'); // Mon 08:59:59 JST
    expect(to('2026-11-23T00:00:00Z')).toBe('+81612345678'); // Mon 09:00 JST
    expect(to('2026-11-23T08:59:59Z')).toBe('+81612345678'); // Mon 17:59:59 JST
    expect(to('2026-11-23T09:00:00Z')).toBe('+81312345678'); // Mon 18:00 JST, fixed-line caller
    expect(to('2026-11-23T09:00:00Z', '+819012345678')).toBe('+819012345678'); // mobile caller at night
    expect(to('2026-11-21T01:00:00Z')).toBe('+81312345678'); // Sat 10:00 JST: not a weekday
    expect(to('2026-11-20T01:00:00Z')).toBe('+81612345678'); // Fri 10:00 JST
    expect(to('2026-11-21T00:30:00Z')).toBe('+81312345678'); // Sat 09:30 JST, still Friday in UTC: not a weekday in Tokyo
  });

  it('reads dates in the number’s time zone, both ends included', () => {
    const holiday = entry(TOKYO, [rule('new year', { dateRanges: [{ from: '2026-12-29', to: '2027-01-03' }] }, { route: '+81612345678' })]);
    expect(routedTo(holiday, '2026-12-28T14:59:59Z')).toBe('+12125550100'); // 12-28 23:59:59 JST
    expect(routedTo(holiday, '2026-12-28T15:00:00Z')).toBe('+81612345678'); // 12-29 00:00 JST
    expect(routedTo(holiday, '2027-01-03T14:59:59Z')).toBe('+81612345678'); // 01-03 23:59:59 JST
    expect(routedTo(holiday, '2027-01-03T15:00:00Z')).toBe('+12125550100'); // 01-04 00:00 JST
  });

  it('agrees with the wall clock (Intl) minute by minute through the 2026 transitions, memoised or not', () => {
    const windows: [string, string][] = [
      [NY, '2026-03-08T07:00:00Z'],
      [NY, '2026-11-01T06:00:00Z'],
      ['Europe/London', '2026-03-29T01:00:00Z'],
      ['Europe/London', '2026-10-25T01:00:00Z'],
      ['Australia/Lord_Howe', '2026-04-04T15:00:00Z'], // 30-minute shift
      ['Australia/Lord_Howe', '2026-10-03T15:30:00Z'],
    ];
    const f = (zone: string) => new Intl.DateTimeFormat('en-GB', { timeZone: zone, hourCycle: 'h23', hour: '2-digit', minute: '2-digit' });
    for (const [zone, transition] of windows) {
      const e = (from: string, to: string) => entry(zone, [rule('r', { timeRanges: [{ from, to }] }, { route: '+12125550199' })]);
      // Twice over, so the second pass reads memoised offsets where the first computed them.
      for (let pass = 0; pass < 2; pass++) {
        for (let m = -180; m <= 180; m += 1) {
          const at = new Date(Date.parse(transition) + m * 60_000);
          const wall = f(zone).format(at); // HH:MM
          const next = new Date(Date.UTC(2000, 0, 1, Number(wall.slice(0, 2)), Number(wall.slice(3)) + 1)).toISOString().slice(11, 16);
          const one = e(wall, next === '00:00' ? '24:00' : next);
          expect([zone, at.toISOString(), translate(one, { caller: null, at, callId: 'x' }).ruleId !== null]).toEqual([zone, at.toISOString(), true]);
        }
      }
    }
  });

  it('agrees with the wall clock computed independently (Intl) for any instant, range and zone', () => {
    const hhmm = fc.tuple(fc.integer({ min: 0, max: 23 }), fc.constantFrom(0, 15, 30, 59)).map(([h, m]) => `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`);
    const zones = [NY, TOKYO, 'Europe/London', 'Australia/Lord_Howe', 'UTC'];
    const parts = (at: Date, timeZone: string) => {
      const f = new Intl.DateTimeFormat('en-GB', { timeZone, hourCycle: 'h23', weekday: 'short', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
      const p = Object.fromEntries(f.formatToParts(at).map((x) => [x.type, x.value]));
      return { second: Number(p.hour) * 3600 + Number(p.minute) * 60 + Number(p.second), day: p.weekday.toLowerCase().slice(0, 3) };
    };
    fc.assert(
      fc.property(
        fc.integer({ min: Date.UTC(2024, 0, 1), max: Date.UTC(2029, 0, 1) }),
        hhmm,
        hhmm,
        fc.constantFrom(...zones),
        fc.subarray([...weekdays], { minLength: 1 }),
        (ms, from, to, zone, days) => {
          fc.pre(from !== to);
          const at = new Date(Math.floor(ms / 1000) * 1000);
          const e = entry(zone, [rule('r', { days, timeRanges: [{ from, to }] }, { route: office })]);
          const { second, day } = parts(at, zone);
          const f = Number(from.slice(0, 2)) * 3600 + Number(from.slice(3)) * 60;
          const t = Number(to.slice(0, 2)) * 3600 + Number(to.slice(3)) * 60;
          const inRange = f < t ? second >= f && second < t : second >= f || second < t;
          const expected = inRange && (days as string[]).includes(day);
          return (translate(e, { caller: null, at, callId: 'p' }).ruleId !== null) === expected;
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('classifyCaller', () => {
  it.each<[string | null, CallerType]>([
    [null, 'unknown'],
    ['', 'unknown'],
    ['anonymous', 'unknown'],
    ['+999123', 'unknown'],
    ['+819012345678', 'mobile'],
    ['+81312345678', 'fixedLine'],
    ['+12125550123', 'fixedLineOrMobile'],
    ['+18005550100', 'tollFree'],
  ])('%s is %s', (caller, type) => {
    expect(classifyCaller(caller)).toBe(type);
  });

  it('lets an operator payphone prefix win over the number type', () => {
    expect(classifyCaller('+81312345678', { payphonePrefixes: ['+813123'] })).toBe('payphone');
  });

  it('matches unknown callers and withheld callers by type, never by prefix', () => {
    const e = entry(NY, [
      rule('prefix', { callerPrefixes: ['+1'] }, { route: '+12125550101' }),
      rule('withheld', { callerTypes: ['unknown'] }, { block: 'withheld numbers not accepted', sipCode: 403 }),
    ]);
    expect(routedTo(e, '2026-11-23T15:00:00Z', null)).toBe('blocked:withheld numbers not accepted');
    expect(routedTo(e, '2026-11-23T15:00:00Z', 'anonymous')).toBe('blocked:withheld numbers not accepted');
    expect(routedTo(e, '2026-11-23T15:00:00Z', '+12125550123')).toBe('+12125550101');
  });
});
