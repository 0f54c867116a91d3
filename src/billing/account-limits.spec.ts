import fc from 'fast-check';
import { countryAllowed, dailyRoom, destinationCountry, rateAllowed, utcDayStart } from './account-limits';
import { affordableSeconds, costOf, fromMicros } from './rating';

describe('account limits', () => {
  it('finds the country of a destination, +1 numbers included', () => {
    expect(destinationCountry('+12015550123')).toBe('US');
    expect(destinationCountry('+442071234567')).toBe('GB');
    expect(destinationCountry('+81312345678')).toBe('JP');
    expect(destinationCountry('+14165550123')).toBe('CA');
    expect(destinationCountry('+882123456789')).toBeNull();
  });

  it('allows every country when null, only the listed ones otherwise, never a number of no country', () => {
    expect(countryAllowed(null, '+882123456789')).toBe(true);
    expect(countryAllowed(['GB'], '+442071234567')).toBe(true);
    expect(countryAllowed(['GB'], '+12015550123')).toBe(false);
    expect(countryAllowed(['US', 'GB'], '+882123456789')).toBe(false);
    expect(countryAllowed([], '+442071234567')).toBe(false);
  });

  it('compares rates exactly: equal passes, one micro-unit above does not', () => {
    expect(rateAllowed(null, '99.000000')).toBe(true);
    expect(rateAllowed('0.600000', '0.600000')).toBe(true);
    expect(rateAllowed('0.6', '0.600001')).toBe(false);
    expect(rateAllowed('0.599999', '0.600000')).toBe(false);
    // 0.1 + 0.2 style float traps do not apply.
    expect(rateAllowed('0.3', '0.300000')).toBe(true);
  });

  it('starts the day at 00:00 UTC whatever the local zone', () => {
    expect(utcDayStart(new Date('2026-11-30T23:59:59.999Z')).toISOString()).toBe('2026-11-30T00:00:00.000Z');
    expect(utcDayStart(new Date('2026-12-01T00:00:00.000Z')).toISOString()).toBe('2026-12-01T00:00:00.000Z');
  });

  it('never grants more than the daily room: spent + held + the new hold <= limit, exactly', () => {
    const tariff = { ratePerMinute: '0.600000', connectionFee: '0.010000', firstIncrement: 1, nextIncrement: 1 };
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 50_000_000n }), fc.bigInt({ min: 0n, max: 50_000_000n }), fc.bigInt({ min: 0n, max: 50_000_000n }), (limit, spent, held) => {
        const room = dailyRoom(fromMicros(limit), fromMicros(spent), fromMicros(held));
        const seconds = room.lte(0) ? 0 : affordableSeconds(tariff, room, 4 * 3600);
        if (seconds === 0) return true;
        return costOf(tariff, seconds).plus(fromMicros(spent)).plus(fromMicros(held)).lte(fromMicros(limit));
      }),
    );
  });
});
