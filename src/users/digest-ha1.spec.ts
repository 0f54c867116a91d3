import { createHash } from 'node:crypto';
import { digestHa1 } from './digest-ha1';

const h = (alg: 'md5' | 'sha256', s: string) => createHash(alg).update(s).digest('hex');

describe('digestHa1', () => {
  // RFC 7616 §3.9.1: the HA1 we store must reproduce the RFC's example responses.
  const nonce = '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v';
  const cnonce = 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ';
  const ha1 = digestHa1('Mufasa', 'http-auth@example.org', 'Circle of Life');
  const response = (alg: 'md5' | 'sha256', a1: string) => h(alg, `${a1}:${nonce}:00000001:${cnonce}:auth:${h(alg, 'GET:/dir/index.html')}`);

  it('reproduces the RFC 7616 MD5 example response', () => {
    expect(response('md5', ha1.md5)).toBe('8ca523f5e9506fed4657c9700eebdbec');
  });

  it('reproduces the RFC 7616 SHA-256 example response', () => {
    expect(response('sha256', ha1.sha256)).toBe('753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1');
  });

  it('depends on the realm, so a realm change needs a new password', () => {
    expect(digestHa1('Mufasa', 'other', 'Circle of Life').md5).not.toBe(ha1.md5);
  });
});
