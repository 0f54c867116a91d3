// Owns the server side of digest authentication (RFC 3261 §22.4, RFC 7616, RFC 8760): challenges
// with self-validating nonces, and verification of credentials against an HA1 the application
// supplies. It never sees a password. Must not import anything outside src/sip.
import { type Result, fail, ok } from '../grammar';
import { type SipRequest, headerValues } from '../message';
import { CHALLENGE_BARE, formatDigestParams, parseDigestParams } from './digest-params';
import { type DigestAlgorithm, computeResponse, parseAlgorithm, sameDigest } from './hash';
import { InMemoryNonceCountStore, type NonceCountStore } from './nonce-count-store';
import { NonceIssuer } from './nonce';
import { type Uri, formatUri, isSipUri, parseUri } from '../uri';

const defaultPort = (scheme: string) => (scheme === 'sips' ? 5061 : 5060);

/**
 * True when a digest-uri names the same resource as the Request-URI. SIP URIs compare as RFC 3261
 * §19.1.4 has it for the parts that name the resource: scheme, user (case-sensitive, escapes
 * decoded), password and host (case-insensitive). More tolerant than §19.1.4, because user agents
 * differ in how they write it: a missing port equals the scheme's default; URI parameters and
 * headers are not compared (they do not change the resource a REGISTER or INVITE is for); and a
 * digest-uri without a user part that names the same host and port is accepted (SIPp, and some
 * user agents, put the server's address there rather than the Request-URI), while one with a user
 * part must name the Request-URI's user. Other URIs compare as formatted, case-insensitively.
 */
export function sameResource(digestUri: string, requestUri: Uri | string): boolean {
  const a = parseUri(digestUri);
  const b = typeof requestUri === 'string' ? parseUri(requestUri) : { ok: true as const, value: requestUri };
  if (!a.ok || !b.ok) return digestUri === (typeof requestUri === 'string' ? requestUri : formatUri(requestUri));
  const x = a.value;
  const y = b.value;
  if (isSipUri(x) && isSipUri(y)) {
    return (
      x.scheme === y.scheme &&
      (x.user === undefined || (x.user === y.user && x.password === y.password)) &&
      x.host.toLowerCase() === y.host.toLowerCase() &&
      (x.port ?? defaultPort(x.scheme)) === (y.port ?? defaultPort(y.scheme))
    );
  }
  return formatUri(x).toLowerCase() === formatUri(y).toLowerCase();
}

export interface DigestCredentials {
  readonly username: string;
  readonly realm: string;
  readonly nonce: string;
  readonly uri: string;
  readonly response: string;
  readonly algorithm: DigestAlgorithm;
  readonly qop?: string;
  readonly nc?: string;
  readonly cnonce?: string;
  readonly opaque?: string;
}

export type DigestFailure =
  | 'wrong-realm'
  | 'unsupported-algorithm'
  | 'qop-required'
  | 'invalid-nonce'
  | 'stale-nonce'
  | 'wrong-response'
  | 'replayed-nonce-count'
  | 'uri-mismatch';

export type DigestVerdict = { readonly ok: true; readonly username: string } | { readonly ok: false; readonly reason: DigestFailure; readonly stale: boolean };

export interface DigestVerifierOptions {
  readonly realm: string;
  /** HMAC key for nonces; every node that must accept a nonce needs the same secret. */
  readonly secret: Buffer | string;
  readonly nonceTtlSeconds?: number;
  readonly store?: NonceCountStore;
  /** Offered in this order (RFC 8760 §2.4: the preferred one first). Default SHA-256 then MD5. */
  readonly algorithms?: readonly DigestAlgorithm[];
  readonly now?: () => number;
}

export interface VerifyInput {
  readonly method: string;
  /** HA1 for credentials.username in credentials.algorithm (without -sess: H(username:realm:password)). */
  readonly ha1: string;
  /**
   * The request's Request-URI. When given, the digest-uri must name the same resource (RFC 2617
   * §3.2.2.5, RFC 3261 §22.4), compared as sameResource() says; otherwise a captured Authorization
   * could be replayed for another Request-URI.
   */
  readonly requestUri?: Uri | string;
  readonly body?: Buffer;
}


export class DigestVerifier {
  private readonly nonces: NonceIssuer;
  private readonly store: NonceCountStore;
  private readonly ttlMs: number;
  readonly realm: string;
  readonly algorithms: readonly DigestAlgorithm[];

  constructor(options: DigestVerifierOptions) {
    this.realm = options.realm;
    this.ttlMs = (options.nonceTtlSeconds ?? 300) * 1000;
    this.nonces = new NonceIssuer(options.secret, this.ttlMs, options.now);
    this.store = options.store ?? new InMemoryNonceCountStore(options.now);
    this.algorithms = options.algorithms ?? ['SHA-256', 'MD5'];
  }

  /** Values for WWW-Authenticate (401) or Proxy-Authenticate (407), one per algorithm, sharing a nonce. */
  challenge(options: { stale?: boolean } = {}): string[] {
    const nonce = this.nonces.issue();
    return this.algorithms.map((algorithm) => {
      const entries: Array<[string, string]> = [
        ['realm', this.realm],
        ['nonce', nonce],
        ['algorithm', algorithm],
        ['qop', 'auth'],
      ];
      if (options.stale) entries.push(['stale', 'true']);
      return formatDigestParams('Digest', entries, CHALLENGE_BARE);
    });
  }

  parseCredentials(value: string): Result<DigestCredentials> {
    const parsed = parseDigestParams(value);
    if (!parsed.ok) return parsed;
    if (parsed.value.scheme.toLowerCase() !== 'digest') return fail('BAD_HEADER', `unsupported authentication scheme ${parsed.value.scheme}`);
    const p = parsed.value.params;
    const required = ['username', 'realm', 'nonce', 'uri', 'response'];
    const missing = required.find((name) => !p.has(name));
    if (missing) return fail('BAD_HEADER', `credentials lack ${missing}`);
    const algorithm = parseAlgorithm(p.get('algorithm'));
    if (!algorithm) return fail('BAD_HEADER', `unsupported digest algorithm ${p.get('algorithm')}`);
    return ok({
      username: p.get('username') as string,
      realm: p.get('realm') as string,
      nonce: p.get('nonce') as string,
      uri: p.get('uri') as string,
      response: p.get('response') as string,
      algorithm,
      qop: p.get('qop'),
      nc: p.get('nc'),
      cnonce: p.get('cnonce'),
      opaque: p.get('opaque'),
    });
  }

  /** The credentials in a request for this realm (Authorization for a registrar/UAS, Proxy-Authorization for a proxy). */
  credentialsIn(req: SipRequest, header: 'Authorization' | 'Proxy-Authorization'): DigestCredentials | undefined {
    for (const value of headerValues(req, header)) {
      const parsed = this.parseCredentials(value);
      if (parsed.ok && parsed.value.realm === this.realm) return parsed.value;
    }
    return undefined;
  }

  async verify(credentials: DigestCredentials, input: VerifyInput): Promise<DigestVerdict> {
    const no = (reason: DigestFailure, stale = false): DigestVerdict => ({ ok: false, reason, stale });
    if (credentials.realm !== this.realm) return no('wrong-realm');
    if (!this.algorithms.some((a) => a === credentials.algorithm || `${a}-sess` === credentials.algorithm)) return no('unsupported-algorithm');
    // Without qop there is no nonce-count, hence no replay protection: refuse the RFC 2069 form.
    if ((credentials.qop !== 'auth' && credentials.qop !== 'auth-int') || !credentials.nc || !credentials.cnonce || !/^[0-9a-fA-F]{8}$/.test(credentials.nc)) {
      return no('qop-required');
    }
    if (input.requestUri !== undefined && !sameResource(credentials.uri, input.requestUri)) return no('uri-mismatch');
    const nonce = this.nonces.check(credentials.nonce);
    if (nonce === 'invalid') return no('invalid-nonce');
    const expected = computeResponse({ ...credentials, method: input.method, ha1: input.ha1, body: input.body });
    if (!sameDigest(expected, credentials.response)) return no('wrong-response');
    // Only a client that knows the password learns its nonce is stale (RFC 7616 §3.3).
    if (nonce === 'stale') return no('stale-nonce', true);
    if (!(await this.store.advance(credentials.nonce, parseInt(credentials.nc, 16), this.ttlMs))) return no('replayed-nonce-count');
    return { ok: true, username: credentials.username };
  }
}
