// Owns the random identifiers of RFC 3261: branch (§8.1.1.7), tag (§19.3) and Call-ID (§8.1.1.4).
// Must not import anything outside src/sip.
import { randomBytes } from 'node:crypto';
import { MAGIC_COOKIE } from './via';

// base64url only uses token characters, and 96 random bits make collisions negligible.
function randomToken(bytes: number): string {
  return randomBytes(bytes).toString('base64url');
}

export function newBranch(): string {
  return `${MAGIC_COOKIE}${randomToken(12)}`;
}

export function newTag(): string {
  return randomToken(8);
}

export function newCallId(host?: string): string {
  return host ? `${randomToken(15)}@${host}` : randomToken(15);
}
