import fc from 'fast-check';
import { affordableSeconds, billableSeconds, costOf, fromMicros, Money, rateCall, Tariff, toMicros } from './rating';

const tariff = (ratePerMinute: string, first: number, next: number, connectionFee = '0'): Tariff => ({ ratePerMinute, connectionFee, firstIncrement: first, nextIncrement: next });
const boundaries = [0, 1, 29, 30, 31, 59, 60, 61];

describe('billableSeconds', () => {
  it.each([
    [60, 60, [0, 60, 60, 60, 60, 60, 60, 120]],
    [30, 6, [0, 30, 30, 30, 36, 60, 60, 66]],
    [1, 1, [0, 1, 29, 30, 31, 59, 60, 61]],
  ])('%i/%i at 0, 1, 29, 30, 31, 59, 60, 61 seconds', (first, next, expected) => {
    expect(boundaries.map((s) => billableSeconds(s, first, next))).toEqual(expected);
  });

  it('is never below the duration, overshoots by less than one increment, and never decreases', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 100_000 }), fc.integer({ min: 1, max: 600 }), fc.integer({ min: 1, max: 600 }), (s, first, next) => {
        const b = billableSeconds(s, first, next);
        expect(b).toBeGreaterThanOrEqual(s);
        if (s > first) expect(b - s).toBeLessThan(next);
        if (s > 0) expect(b).toBeGreaterThanOrEqual(first);
        expect(billableSeconds(s + 1, first, next)).toBeGreaterThanOrEqual(b);
      }),
    );
  });

  it('refuses negative or fractional seconds', () => {
    expect(() => billableSeconds(-1, 60, 60)).toThrow(RangeError);
    expect(() => billableSeconds(1.5, 60, 60)).toThrow(RangeError);
  });
});

describe('rateCall', () => {
  it('60/60 at 0.10 per minute with a 0.05 connection fee', () => {
    const t = tariff('0.10', 60, 60, '0.05');
    expect(boundaries.map((s) => rateCall(t, s).cost)).toEqual(['0.050000', '0.150000', '0.150000', '0.150000', '0.150000', '0.150000', '0.150000', '0.250000']);
  });

  it('30/6 at 0.012345 per minute (6 decimals): rounds each cost up to the micro-unit', () => {
    const t = tariff('0.012345', 30, 6);
    // 30 s = 0.0061725 -> 0.006173; 36 s = 0.007407; 60 s = 0.012345; 66 s = 0.0135795 -> 0.013580
    expect(boundaries.map((s) => rateCall(t, s))).toEqual([
      { billableSeconds: 0, cost: '0.000000' },
      { billableSeconds: 30, cost: '0.006173' },
      { billableSeconds: 30, cost: '0.006173' },
      { billableSeconds: 30, cost: '0.006173' },
      { billableSeconds: 36, cost: '0.007407' },
      { billableSeconds: 60, cost: '0.012345' },
      { billableSeconds: 60, cost: '0.012345' },
      { billableSeconds: 66, cost: '0.013580' },
    ]);
  });

  it('1/1 at 0.600000 per minute is 0.01 per second, plus the connection fee', () => {
    const t = tariff('0.600000', 1, 1, '0.000001');
    expect(boundaries.map((s) => rateCall(t, s).cost)).toEqual(['0.000001', '0.010001', '0.290001', '0.300001', '0.310001', '0.590001', '0.600001', '0.610001']);
  });

  it('an unanswered call costs nothing; an answered call of 0 seconds pays the connection fee alone', () => {
    const t = tariff('1.5', 60, 60, '0.25');
    expect(rateCall(t, 0, false)).toEqual({ billableSeconds: 0, cost: '0.000000' });
    expect(rateCall(t, 120, false)).toEqual({ billableSeconds: 0, cost: '0.000000' });
    expect(rateCall(t, 0, true)).toEqual({ billableSeconds: 0, cost: '0.250000' });
  });

  it('totals over 1,000,000 CDRs equal exactly the sum of their parts, checked against integer micro-unit arithmetic', () => {
    const rng = fc.sample(
      fc.record({
        rateMicros: fc.integer({ min: 0, max: 5_000_000 }),
        feeMicros: fc.integer({ min: 0, max: 100_000 }),
        inc: fc.constantFrom<[number, number]>([60, 60], [30, 6], [1, 1], [60, 1]),
        seconds: fc.integer({ min: 0, max: 7200 }),
      }),
      { numRuns: 1_000_000, seed: 42 },
    );
    let decimalTotal = new Money(0);
    let microTotal = 0n;
    for (const c of rng) {
      const t = tariff(fromMicros(BigInt(c.rateMicros)), c.inc[0], c.inc[1], fromMicros(BigInt(c.feeMicros)));
      const { billableSeconds: b, cost } = rateCall(t, c.seconds);
      decimalTotal = decimalTotal.plus(cost);
      // independent: fee + ceil(rateMicros * b / 60), all in integers
      const num = BigInt(c.rateMicros) * BigInt(b);
      microTotal += BigInt(c.feeMicros) + (num + 59n) / 60n;
    }
    expect(rng).toHaveLength(1_000_000);
    expect(toMicros(decimalTotal)).toBe(microTotal);
  });
});

describe('affordableSeconds', () => {
  it('is 0 when the balance cannot pay the first increment', () => {
    expect(affordableSeconds(tariff('0.60', 60, 60), '0.599999', 3600)).toBe(0);
    expect(affordableSeconds(tariff('0.60', 60, 60, '0.01'), '0.60', 3600)).toBe(0);
  });

  it('gives whole increments the balance can pay and no more', () => {
    expect(affordableSeconds(tariff('0.60', 60, 60), '6.00', 3600)).toBe(600);
    expect(affordableSeconds(tariff('0.60', 30, 6), '0.37', 3600)).toBe(36);
    expect(affordableSeconds(tariff('0', 60, 60), '0', 3600)).toBe(3600);
    expect(affordableSeconds(tariff('0.60', 60, 60), '1000000', 7200)).toBe(7200);
  });

  it('property: the grant is affordable and one more increment is not (below the cap)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3_000_000 }),
        fc.integer({ min: 0, max: 50_000 }),
        fc.constantFrom<[number, number]>([60, 60], [30, 6], [1, 1]),
        fc.integer({ min: 0, max: 20_000_000 }),
        (rate, fee, [first, next], avail) => {
          const t = tariff(fromMicros(BigInt(rate)), first, next, fromMicros(BigInt(fee)));
          const a = fromMicros(BigInt(avail));
          const s = affordableSeconds(t, a, 14_400);
          if (s === 0) {
            expect(costOf(t, first).gt(a)).toBe(true);
            return;
          }
          expect(billableSeconds(s, first, next)).toBe(s);
          expect(costOf(t, s).lte(a)).toBe(true);
          if (s + next <= 14_400) expect(costOf(t, s + next).gt(a)).toBe(true);
        },
      ),
    );
  });
});

describe('micro-units', () => {
  it('converts exactly both ways and refuses a seventh decimal', () => {
    expect(toMicros('12.345678')).toBe(12_345_678n);
    expect(fromMicros(12_345_678n)).toBe('12.345678');
    expect(toMicros('-0.000001')).toBe(-1n);
    expect(() => toMicros('0.0000001')).toThrow(RangeError);
  });
});
