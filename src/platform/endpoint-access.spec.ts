import { addressAllowed, toRanges } from './endpoint-access';
import { PRIVATE_NETWORKS } from './config';

describe('addressAllowed', () => {
  const byDefault = toRanges(PRIVATE_NETWORKS.split(','));

  it('lets loopback and private networks read by default, IPv4-mapped IPv6 included', () => {
    for (const a of ['127.0.0.1', '::1', '::ffff:127.0.0.1', '10.9.8.7', '172.20.0.5', '192.168.1.10', '::ffff:192.168.1.10', 'fd00::1']) expect({ a, ok: addressAllowed(a, byDefault) }).toEqual({ a, ok: true });
  });

  it('refuses public addresses, garbage and a missing address by default', () => {
    for (const a of ['203.0.113.5', '8.8.8.8', '::ffff:8.8.8.8', '2001:db8::1', '172.32.0.1', 'not-an-ip', '', undefined]) expect({ a, ok: addressAllowed(a, byDefault) }).toEqual({ a, ok: false });
  });

  it('takes single addresses as /32 or /128, and `any` as everything', () => {
    const one = toRanges(['127.0.0.2', '2001:db8::7']);
    expect(addressAllowed('127.0.0.2', one)).toBe(true);
    expect(addressAllowed('127.0.0.1', one)).toBe(false);
    expect(addressAllowed('2001:db8::7', one)).toBe(true);
    expect(addressAllowed('203.0.113.5', toRanges('any'))).toBe(true);
  });
});
