/**
 * Session timers (RFC 4028) at the B2BUA, per dialog: each side's session is kept alive by that
 * side, and a refresh is answered by the gateway itself, never passed across (the other side keeps
 * its own timer, or none: trunks rarely use one). JsSIP asks for a 90 s session and refreshes it
 * with UPDATE without SDP every 45 s; an unanswered or refused refresh makes it hang up.
 *
 * - An INVITE whose Session-Expires is below MIN_SE gets 422 with Min-SE (§6).
 * - The 2xx to an INVITE that asked for a session timer (Session-Expires, `Supported: timer`)
 *   names the caller (uac) as refresher and the interval it asked for, or Min-SE if that is larger (§9).
 * - An in-dialog UPDATE without SDP is a refresh (or a mere target refresh): 200 at once, with
 *   Session-Expires echoed when it carried one (§10).
 *
 * The gateway never refreshes itself and tears nothing down on a missed refresh: the media
 * inactivity timeout and a closed WebSocket end dead calls. Pure functions; no I/O.
 */
import { type SipHeader, type SipMessage, type SipRequest, headerValue, headerValues } from '../sip';

/** The smallest session interval accepted (RFC 4028 §4: 90 s, and its recommended minimum). */
export const MIN_SE = 90;

interface SessionExpires {
  readonly seconds: number;
  readonly refresher?: 'uac' | 'uas';
}

/** The Session-Expires of a message, or undefined when absent or unreadable (then ignored, §7.1 leaves it to us). */
export function sessionExpires(message: SipMessage): SessionExpires | undefined {
  const value = headerValue(message, 'Session-Expires');
  if (value === undefined) return undefined;
  const m = /^\s*(\d{1,10})\s*(?:;(.*))?$/.exec(value);
  if (!m) return undefined;
  const refresher = /(?:^|;)\s*refresher\s*=\s*(uac|uas)\s*(?:;|$)/i.exec(m[2] ?? '')?.[1]?.toLowerCase() as 'uac' | 'uas' | undefined;
  return { seconds: Number(m[1]), refresher };
}

function supportsTimer(message: SipMessage): boolean {
  return [...headerValues(message, 'Supported'), ...headerValues(message, 'Require')].some((v) => v.split(',').some((t) => t.trim().toLowerCase() === 'timer'));
}

/** The 422 headers for an INVITE whose interval is too small, or undefined when it is acceptable. */
export function intervalTooSmall(invite: SipRequest): SipHeader[] | undefined {
  const se = sessionExpires(invite);
  if (!se || se.seconds >= MIN_SE) return undefined;
  return [{ name: 'Min-SE', value: String(MIN_SE) }];
}

/** Headers for our 2xx to an INVITE (initial or re-INVITE) that asked for a session timer; [] otherwise. */
export function sessionTimerAnswer(invite: SipRequest): SipHeader[] {
  const se = sessionExpires(invite);
  if (!se || !supportsTimer(invite)) return [];
  const minSe = Number(/^\s*(\d{1,10})/.exec(headerValue(invite, 'Min-SE') ?? '')?.[1] ?? 0);
  const seconds = Math.max(se.seconds, MIN_SE, minSe);
  return [
    { name: 'Session-Expires', value: `${seconds};refresher=uac` },
    { name: 'Require', value: 'timer' },
  ];
}

/** Is this in-dialog request a session refresh the gateway answers itself (UPDATE without a body)? */
export function isLocalRefresh(request: SipRequest): boolean {
  return request.method === 'UPDATE' && request.body.length === 0;
}

/** Headers of the 200 to a refresh UPDATE: Session-Expires echoed (the requester refreshes) when it asked for one. */
export function refreshAnswer(request: SipRequest): SipHeader[] {
  const se = sessionExpires(request);
  if (!se) return [];
  const seconds = Math.max(se.seconds, MIN_SE);
  return [
    { name: 'Session-Expires', value: `${seconds};refresher=${se.refresher ?? 'uac'}` },
    ...(supportsTimer(request) ? [{ name: 'Require', value: 'timer' }] : []),
  ];
}
