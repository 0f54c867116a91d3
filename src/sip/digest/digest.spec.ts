import { createRequest, createResponse } from '../builders';
import { answerChallenge, challengeIn, parseChallenge } from './client';
import { computeHa1, computeResponse } from './hash';
import { InMemoryNonceCountStore } from './nonce-count-store';
import { NonceIssuer } from './nonce';
import { DigestVerifier, sameResource } from './verifier';

describe('digest arithmetic against published vectors', () => {
  it('matches the RFC 2617 §3.5 MD5 example', () => {
    const ha1 = computeHa1('MD5', 'Mufasa', 'testrealm@host.com', 'Circle Of Life');
    const response = computeResponse({
      algorithm: 'MD5', ha1, method: 'GET', uri: '/dir/index.html', nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093', qop: 'auth', nc: '00000001', cnonce: '0a4f113b',
    });
    expect(response).toBe('6629fae49393a05397450978507c4ef1');
  });

  const rfc7616 = {
    method: 'GET', uri: '/dir/index.html', nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v', qop: 'auth', nc: '00000001', cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
  };

  it('matches the RFC 7616 §3.9.1 MD5 and SHA-256 examples', () => {
    const md5 = computeResponse({ ...rfc7616, algorithm: 'MD5', ha1: computeHa1('MD5', 'Mufasa', 'http-auth@example.org', 'Circle of Life') });
    expect(md5).toBe('8ca523f5e9506fed4657c9700eebdbec');
    const sha = computeResponse({ ...rfc7616, algorithm: 'SHA-256', ha1: computeHa1('SHA-256', 'Mufasa', 'http-auth@example.org', 'Circle of Life') });
    expect(sha).toBe('753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1');
  });

  it('answers a challenge with the same value the RFC 7616 example gives', () => {
    const challenge = parseChallenge('Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"');
    if (!challenge.ok) throw new Error(challenge.error.reason);
    const value = answerChallenge(challenge.value, { username: 'Mufasa', secret: { password: 'Circle of Life' }, method: 'GET', uri: '/dir/index.html', cnonce: rfc7616.cnonce });
    expect(value).toContain('response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"');
    expect(value).toContain('qop=auth, nc=00000001');
    expect(value).toContain('opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"');
  });
});

describe('DigestVerifier', () => {
  const realm = '127.0.0.1';
  let clock = 1_800_000_000_000;
  const now = () => clock;
  const verifier = new DigestVerifier({ realm, secret: 'test-secret', nonceTtlSeconds: 60, now, store: new InMemoryNonceCountStore(now) });
  const register = createRequest({ method: 'REGISTER', uri: 'sip:127.0.0.1', from: '<sip:alice@127.0.0.1>', to: '<sip:alice@127.0.0.1>', via: 'SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-reg' });

  function authorize(algorithm: 'MD5' | 'SHA-256', password: string, nc = 1, challengeValues = verifier.challenge()) {
    const response = createResponse(register, 401, { toTag: 'x', headers: challengeValues.map((value) => ({ name: 'WWW-Authenticate', value })) });
    const challenge = challengeIn(response);
    if (!challenge) throw new Error('no challenge');
    const picked = algorithm === 'SHA-256' ? challenge : { ...challenge, algorithm };
    const value = answerChallenge(picked, { username: 'alice', secret: { password }, method: 'REGISTER', uri: 'sip:127.0.0.1', nc });
    const credentials = verifier.parseCredentials(value);
    if (!credentials.ok) throw new Error(credentials.error.reason);
    return credentials.value;
  }

  const ha1 = (algorithm: 'MD5' | 'SHA-256') => computeHa1(algorithm, 'alice', realm, 'secret-pw');

  it('offers SHA-256 before MD5 with qop=auth, and the client picks SHA-256', () => {
    const values = verifier.challenge();
    expect(values[0]).toMatch(/^Digest realm="127.0.0.1", nonce="[^"]+", algorithm=SHA-256, qop="auth"$/);
    expect(values[1]).toContain('algorithm=MD5');
    expect(authorize('SHA-256', 'secret-pw').algorithm).toBe('SHA-256');
  });

  it.each(['MD5', 'SHA-256'] as const)('accepts the right password with %s', async (algorithm) => {
    const credentials = authorize(algorithm, 'secret-pw');
    await expect(verifier.verify(credentials, { method: 'REGISTER', ha1: ha1(algorithm), requestUri: 'sip:127.0.0.1' })).resolves.toEqual({ ok: true, username: 'alice' });
  });

  it('refuses a wrong password without saying stale', async () => {
    const credentials = authorize('SHA-256', 'guess');
    await expect(verifier.verify(credentials, { method: 'REGISTER', ha1: ha1('SHA-256') })).resolves.toEqual({ ok: false, reason: 'wrong-response', stale: false });
  });

  it('refuses a replayed nonce-count and accepts the next one', async () => {
    const values = verifier.challenge();
    const first = authorize('SHA-256', 'secret-pw', 1, values);
    await expect(verifier.verify(first, { method: 'REGISTER', ha1: ha1('SHA-256') })).resolves.toMatchObject({ ok: true });
    await expect(verifier.verify(first, { method: 'REGISTER', ha1: ha1('SHA-256') })).resolves.toEqual({ ok: false, reason: 'replayed-nonce-count', stale: false });
    const second = authorize('SHA-256', 'secret-pw', 2, values);
    await expect(verifier.verify(second, { method: 'REGISTER', ha1: ha1('SHA-256') })).resolves.toMatchObject({ ok: true });
  });

  it('answers stale=true for an expired nonce when the digest is right', async () => {
    const credentials = authorize('MD5', 'secret-pw');
    clock += 61_000;
    await expect(verifier.verify(credentials, { method: 'REGISTER', ha1: ha1('MD5') })).resolves.toEqual({ ok: false, reason: 'stale-nonce', stale: true });
    expect(verifier.challenge({ stale: true })[0]).toContain('stale=true');
  });

  it('refuses forged nonces, other realms, other methods and the qop-less RFC 2069 form', async () => {
    const good = authorize('SHA-256', 'secret-pw');
    const input = { method: 'REGISTER', ha1: ha1('SHA-256') };
    const forged = new NonceIssuer('other-secret', 60_000, now).issue();
    await expect(verifier.verify({ ...good, nonce: forged }, input)).resolves.toMatchObject({ reason: 'invalid-nonce' });
    await expect(verifier.verify({ ...good, realm: 'elsewhere' }, input)).resolves.toMatchObject({ reason: 'wrong-realm' });
    await expect(verifier.verify(good, { ...input, method: 'INVITE' })).resolves.toMatchObject({ reason: 'wrong-response' });
    await expect(verifier.verify({ ...good, qop: undefined }, input)).resolves.toMatchObject({ reason: 'qop-required' });
    await expect(verifier.verify(good, { ...input, requestUri: 'sip:other@127.0.0.2' })).resolves.toMatchObject({ reason: 'uri-mismatch' });
  });

  it('finds credentials for its realm in a request', () => {
    const value = answerChallenge(
      { realm, nonce: new NonceIssuer('test-secret', 60_000, now).issue(), algorithm: 'MD5', qop: ['auth'], stale: false },
      { username: 'alice', secret: { ha1: ha1('MD5') }, method: 'INVITE', uri: 'sip:+15550100@127.0.0.1' },
    );
    const invite = createRequest({ method: 'INVITE', uri: 'sip:+15550100@127.0.0.1', from: '<sip:alice@127.0.0.1>', to: '<sip:+15550100@127.0.0.1>', via: 'SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-inv', headers: [{ name: 'Proxy-Authorization', value }] });
    expect(verifier.credentialsIn(invite, 'Proxy-Authorization')).toMatchObject({ username: 'alice', uri: 'sip:+15550100@127.0.0.1', algorithm: 'MD5' });
    expect(verifier.credentialsIn(invite, 'Authorization')).toBeUndefined();
  });

  it('supports the -sess variants', async () => {
    const challenge = { realm, nonce: new NonceIssuer('test-secret', 60_000, now).issue(), algorithm: 'SHA-256-sess' as const, qop: ['auth'], stale: false };
    const value = answerChallenge(challenge, { username: 'alice', secret: { password: 'secret-pw' }, method: 'REGISTER', uri: 'sip:127.0.0.1' });
    const credentials = verifier.parseCredentials(value);
    if (!credentials.ok) throw new Error(credentials.error.reason);
    await expect(verifier.verify(credentials.value, { method: 'REGISTER', ha1: ha1('SHA-256') })).resolves.toMatchObject({ ok: true });
  });

  it('compares the digest uri with the Request-URI as SIP URIs (RFC 3261 §22.4, RFC 2617 §3.2.2.5)', () => {
    expect(sameResource('sip:127.0.0.1', 'sip:127.0.0.1')).toBe(true);
    expect(sameResource('sip:alice@GATEWAY.test', 'sip:alice@gateway.test:5060')).toBe(true);
    expect(sameResource('sip:%61lice@gateway.test;transport=udp', 'sip:alice@gateway.test')).toBe(true);
    expect(sameResource('sips:gateway.test', 'sips:gateway.test:5061')).toBe(true);
    expect(sameResource('sip:Alice@gateway.test', 'sip:alice@gateway.test')).toBe(false);
    expect(sameResource('sip:gateway.test', 'sips:gateway.test')).toBe(false);
    expect(sameResource('sip:gateway.test:5070', 'sip:gateway.test')).toBe(false);
    expect(sameResource('sip:+15550100@127.0.0.1', 'sip:+15550199@127.0.0.1')).toBe(false);
    // The server's own address without a user (SIPp's default digest uri) names this server.
    expect(sameResource('sip:127.0.0.1:5070', 'sip:+15550100@127.0.0.1:5070')).toBe(true);
    expect(sameResource('sip:127.0.0.2:5070', 'sip:+15550100@127.0.0.1:5070')).toBe(false);
    expect(sameResource('tel:+15550100', 'TEL:+15550100')).toBe(true);
    expect(sameResource('not a uri', 'sip:127.0.0.1')).toBe(false);
  });

  it('refuses credentials replayed for another Request-URI and accepts an equivalent one', async () => {
    const good = authorize('MD5', 'secret-pw');
    await expect(verifier.verify(good, { method: 'REGISTER', ha1: ha1('MD5'), requestUri: 'sip:127.0.0.1:5070' })).resolves.toMatchObject({ ok: false, reason: 'uri-mismatch' });
    await expect(verifier.verify(good, { method: 'REGISTER', ha1: ha1('MD5'), requestUri: 'sip:127.0.0.1:5060;transport=udp' })).resolves.toMatchObject({ ok: true });
  });
});
