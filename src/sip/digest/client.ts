// Owns the client side of digest authentication: answering a 401/407 from a trunk (RFC 3261 §22.2,
// §22.3) with Authorization or Proxy-Authorization. Must not import anything outside src/sip.
import { randomBytes } from 'node:crypto';
import { type Result, fail, ok } from '../grammar';
import { type SipResponse, headerValues } from '../message';
import { CREDENTIAL_BARE, formatDigestParams, parseDigestParams } from './digest-params';
import { type DigestAlgorithm, computeHa1, computeResponse, parseAlgorithm } from './hash';

export interface DigestChallenge {
  readonly realm: string;
  readonly nonce: string;
  readonly algorithm: DigestAlgorithm;
  /** The qop values offered, e.g. ['auth']; empty for the RFC 2069 form. */
  readonly qop: readonly string[];
  readonly opaque?: string;
  readonly stale: boolean;
}

export interface DigestAnswerInput {
  readonly username: string;
  /** The password, or the HA1 for the challenge's realm and algorithm. */
  readonly secret: { readonly password: string } | { readonly ha1: string };
  readonly method: string;
  readonly uri: string;
  readonly body?: Buffer;
  /** Nonce-count to use (the caller increments it when reusing a nonce); default 1. */
  readonly nc?: number;
  /** Fixed client nonce, for tests; random by default. */
  readonly cnonce?: string;
}

export function parseChallenge(value: string): Result<DigestChallenge> {
  const parsed = parseDigestParams(value);
  if (!parsed.ok) return parsed;
  if (parsed.value.scheme.toLowerCase() !== 'digest') return fail('BAD_HEADER', `unsupported authentication scheme ${parsed.value.scheme}`);
  const p = parsed.value.params;
  const realm = p.get('realm');
  const nonce = p.get('nonce');
  const algorithm = parseAlgorithm(p.get('algorithm'));
  if (realm === undefined || nonce === undefined) return fail('BAD_HEADER', 'challenge lacks realm or nonce');
  if (!algorithm) return fail('BAD_HEADER', `unsupported digest algorithm ${p.get('algorithm')}`);
  const qop = (p.get('qop') ?? '').split(',').map((q) => q.trim()).filter((q) => q !== '');
  return ok({ realm, nonce, algorithm, qop, opaque: p.get('opaque'), stale: (p.get('stale') ?? '').toLowerCase() === 'true' });
}

/** Picks the strongest challenge we can answer in a 401/407 (SHA-256 over MD5, RFC 8760 §2.4). */
export function challengeIn(response: SipResponse): DigestChallenge | undefined {
  const header = response.status === 407 ? 'Proxy-Authenticate' : 'WWW-Authenticate';
  const challenges = headerValues(response, header)
    .map(parseChallenge)
    .flatMap((r) => (r.ok ? [r.value] : []));
  return challenges.find((c) => c.algorithm.startsWith('SHA-256')) ?? challenges[0];
}

/** The Authorization / Proxy-Authorization value answering a challenge. */
export function answerChallenge(challenge: DigestChallenge, input: DigestAnswerInput): string {
  const qop = challenge.qop.includes('auth') ? 'auth' : challenge.qop.includes('auth-int') ? 'auth-int' : undefined;
  const nc = (input.nc ?? 1).toString(16).padStart(8, '0');
  const cnonce = input.cnonce ?? randomBytes(12).toString('base64url');
  const ha1 = 'ha1' in input.secret ? input.secret.ha1 : computeHa1(challenge.algorithm, input.username, challenge.realm, input.secret.password);
  const response = computeResponse({ algorithm: challenge.algorithm, ha1, method: input.method, uri: input.uri, nonce: challenge.nonce, qop, nc, cnonce, body: input.body });
  const entries: Array<[string, string]> = [
    ['username', input.username],
    ['realm', challenge.realm],
    ['nonce', challenge.nonce],
    ['uri', input.uri],
    ['response', response],
    ['algorithm', challenge.algorithm],
  ];
  if (qop) entries.push(['qop', qop], ['nc', nc], ['cnonce', cnonce]);
  if (challenge.opaque !== undefined) entries.push(['opaque', challenge.opaque]);
  return formatDigestParams('Digest', entries, CREDENTIAL_BARE);
}
