// Owns the digest arithmetic of RFC 7616 §3.4.1-3.4.3 (MD5 and SHA-256 as RFC 8760 brings them to SIP,
// with their -sess variants): HA1, HA2 and the response. HA1 comes from the caller, because the
// application stores only HA1 = H(username:realm:password). Must not import anything outside src/sip.
import { createHash, timingSafeEqual } from 'node:crypto';

export type DigestAlgorithm = 'MD5' | 'MD5-sess' | 'SHA-256' | 'SHA-256-sess';

export const ALGORITHMS: readonly DigestAlgorithm[] = ['MD5', 'MD5-sess', 'SHA-256', 'SHA-256-sess'];

export function parseAlgorithm(text: string | undefined): DigestAlgorithm | undefined {
  if (text === undefined) return 'MD5'; // RFC 3261 §22.4: absent means MD5
  return ALGORITHMS.find((a) => a.toLowerCase() === text.toLowerCase());
}

function hashName(algorithm: DigestAlgorithm): 'md5' | 'sha256' {
  return algorithm.startsWith('MD5') ? 'md5' : 'sha256';
}

export function digestHash(algorithm: DigestAlgorithm, text: string | Buffer): string {
  return createHash(hashName(algorithm)).update(text).digest('hex');
}

/** HA1 as the application stores it: H(username:realm:password). */
export function computeHa1(algorithm: DigestAlgorithm, username: string, realm: string, password: string): string {
  return digestHash(algorithm, `${username}:${realm}:${password}`);
}

export interface ResponseInput {
  readonly algorithm: DigestAlgorithm;
  /** H(username:realm:password), hex. */
  readonly ha1: string;
  readonly method: string;
  readonly uri: string;
  readonly nonce: string;
  /** 'auth', 'auth-int', or undefined for the RFC 2069 form without qop. */
  readonly qop?: string;
  readonly nc?: string;
  readonly cnonce?: string;
  /** Message body, for qop=auth-int. */
  readonly body?: Buffer;
}

export function computeResponse(input: ResponseInput): string {
  const { algorithm } = input;
  const ha1 = algorithm.endsWith('-sess') ? digestHash(algorithm, `${input.ha1}:${input.nonce}:${input.cnonce ?? ''}`) : input.ha1;
  const a2 = input.qop === 'auth-int' ? `${input.method}:${input.uri}:${digestHash(algorithm, input.body ?? Buffer.alloc(0))}` : `${input.method}:${input.uri}`;
  const ha2 = digestHash(algorithm, a2);
  const data = input.qop ? `${input.nonce}:${input.nc ?? ''}:${input.cnonce ?? ''}:${input.qop}:${ha2}` : `${input.nonce}:${ha2}`;
  return digestHash(algorithm, `${ha1}:${data}`);
}

/** Compares two hex digests in constant time (length differences are not secret). */
export function sameDigest(a: string, b: string): boolean {
  const x = Buffer.from(a.toLowerCase(), 'utf8');
  const y = Buffer.from(b.toLowerCase(), 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}
