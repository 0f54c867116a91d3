// Owns self-validating nonces: a timestamp and random bytes signed with an HMAC of a server secret,
// so any gateway node sharing the secret can check a nonce without shared state, and old ones are
// refused as stale (RFC 7616 §3.3 "stale"). Must not import anything outside src/sip.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export type NonceCheck = 'valid' | 'stale' | 'invalid';

const PAYLOAD = 8 + 12;
const MAC = 16;

export class NonceIssuer {
  constructor(
    private readonly secret: Buffer | string,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  issue(): string {
    const payload = Buffer.alloc(PAYLOAD);
    payload.writeBigUInt64BE(BigInt(Math.floor(this.now())), 0);
    randomBytes(12).copy(payload, 8);
    return Buffer.concat([payload, this.mac(payload)]).toString('base64url');
  }

  check(nonce: string): NonceCheck {
    const raw = Buffer.from(nonce, 'base64url');
    if (raw.length !== PAYLOAD + MAC || raw.toString('base64url') !== nonce) return 'invalid';
    const payload = raw.subarray(0, PAYLOAD);
    if (!timingSafeEqual(raw.subarray(PAYLOAD), this.mac(payload))) return 'invalid';
    const age = this.now() - Number(payload.readBigUInt64BE(0));
    if (age < -5000) return 'invalid'; // issued in the future: not ours (small clock skew between nodes allowed)
    return age > this.ttlMs ? 'stale' : 'valid';
  }

  private mac(payload: Buffer): Buffer {
    return createHmac('sha256', this.secret).update(payload).digest().subarray(0, MAC);
  }
}
