// Owns the wire form of digest challenges and credentials (RFC 3261 §25.1 challenge/credentials,
// RFC 7616 §3.3-3.4): `Digest name=value, name="value", ...`. Must not import anything outside src/sip.
import { type Result, fail, isToken, ok, quote, splitList, trimLws, unquote } from '../grammar';

export interface DigestParams {
  readonly scheme: string;
  /** Parameter names lower-cased; values unquoted. */
  readonly params: ReadonlyMap<string, string>;
}

export function parseDigestParams(value: string): Result<DigestParams> {
  const text = trimLws(value);
  const space = text.search(/[ \t]/);
  const scheme = space < 0 ? text : text.slice(0, space);
  if (!isToken(scheme)) return fail('BAD_HEADER', 'authentication scheme is not a token');
  const params = new Map<string, string>();
  const parts = splitList(space < 0 ? '' : text.slice(space + 1));
  if (!parts) return fail('BAD_HEADER', 'unterminated quoted string in authentication header');
  for (const part of parts) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = trimLws(eq < 0 ? part : part.slice(0, eq)).toLowerCase();
    if (eq < 0 || !isToken(name)) return fail('BAD_HEADER', `malformed authentication parameter: ${part.slice(0, 40)}`);
    if (params.has(name)) return fail('BAD_HEADER', `authentication parameter ${name} appears twice`);
    params.set(name, unquote(trimLws(part.slice(eq + 1))));
  }
  return ok({ scheme, params });
}

/** Formats parameters; names in `bare` are written unquoted (algorithm, qop in credentials, nc, stale). */
export function formatDigestParams(scheme: string, entries: ReadonlyArray<[string, string]>, bare: ReadonlySet<string>): string {
  return `${scheme} ${entries.map(([name, value]) => `${name}=${bare.has(name) ? value : quote(value)}`).join(', ')}`;
}

/** Credential parameters written unquoted (RFC 7616 §3.4: algorithm, qop and nc are tokens). */
export const CREDENTIAL_BARE = new Set(['algorithm', 'qop', 'nc']);
/** Challenge parameters written unquoted; qop stays quoted in a challenge (RFC 7616 §3.3). */
export const CHALLENGE_BARE = new Set(['algorithm', 'stale']);
