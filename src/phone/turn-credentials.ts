/**
 * TURN REST API credentials (draft-uberti-behave-turn-rest, as coturn's `use-auth-secret` checks
 * them): username = "<expiry unix seconds>:<user>", password = base64(HMAC-SHA1(secret, username)).
 * The TURN server needs no database of users: it recomputes the HMAC with the shared secret and
 * refuses the credential once the expiry has passed.
 *
 * Pure functions: plain data in, plain data out (the clock is a parameter). Imports only
 * node:crypto; no Nest, no I/O.
 */
import { createHmac } from 'node:crypto';

/** An RTCIceServer as a browser's RTCPeerConnection takes it. */
export interface IceServer {
  urls: string[];
  username?: string;
  credential?: string;
}

export interface TurnSettings {
  readonly urls: readonly string[];
  readonly secret?: string;
  readonly ttlSeconds: number;
}

/** The credential for `user`, valid until now + ttl. `user` may not contain ':' (it ends the expiry). */
export function turnCredential(secret: string, user: string, ttlSeconds: number, nowMs: number): { username: string; credential: string; expiresAt: number } {
  const expiresAt = Math.floor(nowMs / 1000) + ttlSeconds;
  const username = `${expiresAt}:${user.replace(/:/g, '_')}`;
  return { username, credential: createHmac('sha1', secret).update(username).digest('base64'), expiresAt };
}

/**
 * The ICE servers a logged-in user gets: stun: URLs as they are; turn:/turns: URLs with a fresh
 * credential, and only when a secret is configured (a browser refuses a TURN URL without one).
 * Nothing configured: `[]`, so the page waits on no unreachable STUN server.
 */
export function iceServersFor(turn: TurnSettings, user: string, nowMs: number): { iceServers: IceServer[]; expiresAt?: number } {
  const stun = turn.urls.filter((u) => u.startsWith('stun:'));
  const relays = turn.secret ? turn.urls.filter((u) => /^turns?:/.test(u)) : [];
  const iceServers: IceServer[] = [];
  if (stun.length) iceServers.push({ urls: [...stun] });
  if (!relays.length || !turn.secret) return { iceServers };
  const c = turnCredential(turn.secret, user, turn.ttlSeconds, nowMs);
  iceServers.push({ urls: [...relays], username: c.username, credential: c.credential });
  return { iceServers, expiresAt: c.expiresAt };
}
