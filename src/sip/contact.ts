// Owns the Contact and Expires rules a registrar needs (RFC 3261 §10.2.1.1, §10.3 step 7).
// Must not import anything outside src/sip.
import { type NameAddr, withParam } from './address';
import { parseDeltaSeconds } from './headers';
import { type SipMessage, headerValues } from './message';

/** True for `Contact: *` (a REGISTER that removes every binding, §10.2.2). */
export function isWildcardContact(msg: SipMessage): boolean {
  return headerValues(msg, 'contact').some((v) => v === '*');
}

/**
 * The expiry a REGISTER asks for a contact: its expires parameter, else the Expires header, else the
 * registrar's default (§10.3 step 7). Unreadable expires parameters fall back the same way.
 */
export function requestedExpires(contact: NameAddr, msg: SipMessage, defaultSeconds: number): number {
  const param = contact.params.get('expires');
  const fromParam = param ? parseDeltaSeconds(param) : undefined;
  return fromParam ?? msg.expires ?? defaultSeconds;
}

/** The contact as a registrar lists it in its 200 OK: with the granted expires parameter. */
export function contactWithExpires(contact: NameAddr, seconds: number): NameAddr {
  return withParam(contact, 'expires', String(seconds));
}

/** The q-value of a contact (0 to 1, default 1), for ordering forks. */
export function contactQ(contact: NameAddr): number {
  const q = Number(contact.params.get('q') ?? '1');
  return Number.isFinite(q) && q >= 0 && q <= 1 ? q : 1;
}
