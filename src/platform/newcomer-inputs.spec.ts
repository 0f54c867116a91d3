/** The small rules behind the newcomer fixes of issue 16: a query's `+` read back, the usage period's defaults, a dialable SIP host. */
import { usagePeriod } from '../billing/cdrs.service';
import { advertisedHostPort } from './advertised-host';
import { plusFromSpace } from './validation';

describe('plusFromSpace', () => {
  it('reads one space and digits as + and digits, and leaves anything else', () => {
    expect(plusFromSpace(' 442071234567')).toBe('+442071234567');
    expect(plusFromSpace('+442071234567')).toBe('+442071234567');
    expect(plusFromSpace('442071234567')).toBe('442071234567');
    expect(plusFromSpace('44 20 7123')).toBe('44 20 7123');
    expect(plusFromSpace('  44')).toBe('  44');
    expect(plusFromSpace(' ')).toBe(' ');
    expect(plusFromSpace(' alice')).toBe(' alice');
    expect(plusFromSpace(['a'])).toEqual(['a']);
  });
});

describe('usagePeriod', () => {
  const now = new Date('2026-11-30T17:05:00.000Z');
  it('defaults to the start of the current UTC month until now', () => {
    expect(usagePeriod({}, now)).toEqual({ from: '2026-11-01T00:00:00.000Z', to: '2026-11-30T17:05:00.000Z' });
    expect(usagePeriod({ from: '2026-10-01T00:00:00Z' }, now)).toEqual({ from: '2026-10-01T00:00:00Z', to: '2026-11-30T17:05:00.000Z' });
  });
  it('refuses a period that ends before it starts, naming from', () => {
    expect(() => usagePeriod({ from: '2026-12-01T00:00:00Z' }, now)).toThrow(/from: must be before to/);
  });
});

describe('advertisedHostPort', () => {
  const listen = (host: string, port: number) => ({ host, port });
  it('names the public address and a port other than 5060', () => {
    expect(advertisedHostPort({ sipPublicAddress: '203.0.113.5', sipListen: listen('0.0.0.0', 5070) } as never)).toBe('203.0.113.5:5070');
    expect(advertisedHostPort({ sipPublicAddress: '203.0.113.5', sipListen: listen('0.0.0.0', 5060) } as never)).toBe('203.0.113.5');
    expect(advertisedHostPort({ sipPublicAddress: undefined, sipListen: listen('127.0.0.1', 5080) } as never)).toBe('127.0.0.1:5080');
    expect(advertisedHostPort({ sipPublicAddress: '2001:db8::1', sipListen: listen('::', 5062) } as never)).toBe('[2001:db8::1]:5062');
  });
});
