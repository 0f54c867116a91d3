import { addressAllowed, normaliseCidr } from './cidr';

describe('normaliseCidr', () => {
  it('reduces a CIDR to its network address and gives bare addresses a full mask', () => {
    expect(normaliseCidr('10.0.0.7/24')).toBe('10.0.0.0/24');
    expect(normaliseCidr('192.0.2.10')).toBe('192.0.2.10/32');
    expect(normaliseCidr('2001:db8::1')).toBe('2001:db8::1/128');
    expect(normaliseCidr('2001:db8::1/32')).toBe('2001:db8::/32');
  });

  it('refuses what is not an address', () => {
    expect(normaliseCidr('10.0.0.300')).toBeUndefined();
    expect(normaliseCidr('example.com')).toBeUndefined();
    expect(normaliseCidr('10.0.0.0/33')).toBeUndefined();
  });
});

describe('addressAllowed', () => {
  const list = ['127.0.0.0/8', '2001:db8::/32'];
  it('accepts addresses inside the list, including IPv4-mapped IPv6', () => {
    expect(addressAllowed('127.0.0.1', list)).toBe(true);
    expect(addressAllowed('::ffff:127.0.0.2', list)).toBe(true);
    expect(addressAllowed('2001:db8::5', list)).toBe(true);
  });
  it('refuses addresses outside it and garbage', () => {
    expect(addressAllowed('192.0.2.1', list)).toBe(false);
    expect(addressAllowed('not-an-ip', list)).toBe(false);
    expect(addressAllowed('127.0.0.1', [])).toBe(false);
  });
});
