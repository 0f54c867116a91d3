import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { iceServersFor, turnCredential } from './turn-credentials';

describe('TURN REST API credentials', () => {
  it('matches the scheme coturn checks: expiry:user, base64 HMAC-SHA1 of it under the secret', () => {
    const c = turnCredential('north-wind-secret', 'alice', 600, 1_700_000_000_500);
    expect(c.username).toBe('1700000600:alice');
    expect(c.expiresAt).toBe(1_700_000_600);
    // Computed independently: printf '1700000600:alice' | openssl dgst -sha1 -hmac north-wind-secret -binary | base64
    expect(c.credential).toBe(createHmac('sha1', 'north-wind-secret').update('1700000600:alice').digest('base64'));
    expect(c.credential).toBe('bntkBZpGOElUUW2z7ikPfZ4iihw=');
  });

  it('keeps the user part from forging another expiry', () => {
    fc.assert(
      fc.property(fc.string(), fc.integer({ min: 60, max: 604800 }), (user, ttl) => {
        const c = turnCredential('s'.repeat(16), user, ttl, 0);
        expect(c.username.split(':')).toHaveLength(2);
        expect(c.username.startsWith(`${ttl}:`)).toBe(true);
      }),
    );
  });

  it('hands out nothing when nothing is configured, and no TURN URL without a secret', () => {
    expect(iceServersFor({ urls: [], ttlSeconds: 60 }, 'bob', 0)).toEqual({ iceServers: [] });
    expect(iceServersFor({ urls: ['turn:t.example:3478', 'stun:s.example'], ttlSeconds: 60 }, 'bob', 0)).toEqual({ iceServers: [{ urls: ['stun:s.example'] }] });
  });

  it('gives TURN URLs one fresh credential and STUN URLs none', () => {
    const r = iceServersFor({ urls: ['stun:s.example', 'turn:t.example:3478?transport=udp', 'turns:t.example:5349'], secret: 'x'.repeat(20), ttlSeconds: 3600 }, 'bob', 10_000);
    expect(r.expiresAt).toBe(3610);
    expect(r.iceServers).toEqual([
      { urls: ['stun:s.example'] },
      { urls: ['turn:t.example:3478?transport=udp', 'turns:t.example:5349'], username: '3610:bob', credential: createHmac('sha1', 'x'.repeat(20)).update('3610:bob').digest('base64') },
    ]);
  });
});
