/**
 * The B2BUA's decisions as pure functions: blocked destinations, when to fail over to the next
 * trunk, which of several fork answers the caller hears, what a final status means for the CDR,
 * when a DID's forwarding rule applies, and what the caller hears: every refusal built by
 * `reject` (RFC 3261's phrase plus a detail), for a credit-control refusal, a media failure and
 * the end of a ring. No I/O; unit-tested in call-policy.spec.ts.
 */
import type { RefusalReason } from '../billing/credit-control.service';
import { MediaError, MediaErrorCode } from '../media';
import { reasonPhrase } from '../sip';

/** A final answer to the caller: a SIP status and its reason phrase. */
export interface SipAnswer {
  readonly status: number;
  readonly reason: string;
}

/**
 * Every refusal the B2BUA sends is built here: RFC 3261's phrase for the status (sip/reasons.ts),
 * then the detail in parentheses, e.g. `reject(503, 'no route')` → "Service Unavailable (no route)".
 */
export function reject(status: number, detail?: string): SipAnswer {
  const phrase = reasonPhrase(status);
  return { status, reason: detail ? `${phrase} (${detail})` : phrase };
}

/**
 * Prefixes (E.164 digits) blocked by default: premium-rate and shared-cost ranges, and the
 * international networks and satellite ranges most used for toll fraud (IRSF). Operators replace
 * the list with BLOCKED_DESTINATIONS ("none" empties it).
 */
export const DEFAULT_BLOCKED_PREFIXES: readonly string[] = [
  '1900', // NANP premium rate
  '1976', // NANP legacy premium
  '44871', '44872', '44873', '4490', '4491', '4498', // UK premium and adult services
  '81990', // Japan 0990 premium information services
  '870', '871', '872', '873', '874', // Inmarsat
  '8816', '8817', // Iridium
  '882', '883', // international networks
  '979', // international premium rate
];

export interface DestinationPolicy {
  readonly blockedPrefixes: readonly string[];
  readonly blockPremiumRate: boolean;
}

/** Why a destination is refused, or undefined when it may be called. `type` is libphonenumber's type. */
export function blockedReason(e164: string, type: string | undefined, policy: DestinationPolicy): string | undefined {
  const digits = e164.replace(/^\+/, '');
  const prefix = policy.blockedPrefixes.find((p) => digits.startsWith(p));
  if (prefix !== undefined) return `destination +${prefix} is blocked`;
  if (policy.blockPremiumRate && (type === 'PREMIUM_RATE' || type === 'premiumRate')) return 'premium-rate destinations are blocked';
  return undefined;
}

export type FailureOrigin = 'network' | 'timeout' | 'transport-error' | 'setup-timeout';

/**
 * Whether a trunk's failure sends the call to the next trunk: the trunk could not take the call
 * (408, 5xx, no response, transport error), as opposed to the far end refusing it (4xx, 6xx),
 * which no other trunk would change.
 */
export function failsOver(status: number, origin: FailureOrigin): boolean {
  if (origin !== 'network') return true;
  return status === 408 || (status >= 500 && status < 600);
}

/** CDR disposition of an attempt that ended with `status` (200 answered). */
export function dispositionOf(status: number, cancelledByCaller = false): 'answered' | 'busy' | 'noAnswer' | 'failed' | 'cancelled' | 'rejected' {
  if (cancelledByCaller || status === 487) return 'cancelled';
  if (status >= 200 && status < 300) return 'answered';
  if (status === 486 || status === 600) return 'busy';
  if (status === 408 || status === 480) return 'noAnswer';
  if (status === 603 || status === 403) return 'rejected';
  return 'failed';
}

/**
 * The response a caller hears when every fork failed (after RFC 3261 §16.7): a 6xx wins, then
 * busy (a device that is busy says more than one that is off), then the lowest class, lowest code.
 */
export function bestFailure<T extends { status: number }>(responses: readonly T[]): T | undefined {
  let best: T | undefined;
  const rank = (s: number) => (s >= 600 ? 0 : s === 486 ? 1 : s >= 400 ? 2 : s >= 300 ? 3 : 4);
  for (const r of responses) {
    if (!best || rank(r.status) < rank(best.status) || (rank(r.status) === rank(best.status) && r.status < best.status)) best = r;
  }
  return best;
}

export type ForwardingMode = 'none' | 'always' | 'offline' | 'busy' | 'noAnswer';
export type UnreachableReason = 'offline' | 'busy' | 'noAnswer';

export interface ForwardingRule {
  readonly mode: ForwardingMode;
  readonly target?: string;
  readonly noAnswerSeconds: number;
  readonly redirect: boolean;
}

/** The forwarding target for this situation, or undefined when the rule does not apply. */
export function forwardingTarget(rule: ForwardingRule | undefined, situation: 'always' | UnreachableReason): string | undefined {
  if (!rule || !rule.target || rule.mode === 'none') return undefined;
  return rule.mode === situation ? rule.target : undefined;
}

/** How a finished ring ends for the caller (ring-attempt.ts's RingOutcome, as a type only). */
export type RingEnd =
  | { kind: 'answered' }
  | { kind: 'failed'; status: number; reason: string }
  | { kind: 'noAnswer' }
  | { kind: 'cancelled' };

/**
 * What a ring that did not fail over means for the caller, in one place: answered; 487 when the
 * caller cancelled; `unreachable` (busy, no answer, offline), which a user's forwarding rule may
 * still take, else `unreachableStatus`; or the callee's own refusal. A user's devices that
 * refused say busy (486/600), decline (603) or offline (anything else, as the registrar knows
 * them no better); a trunk's or a SIP URI's refusal is passed on as it came.
 */
export function ringVerdict(
  end: RingEnd,
  callee: 'user' | 'peer',
): { kind: 'answered' } | { kind: 'unreachable'; reason: UnreachableReason } | { kind: 'refused'; answer: SipAnswer } {
  switch (end.kind) {
    case 'answered':
      return end;
    case 'cancelled':
      return { kind: 'refused', answer: reject(487) };
    case 'noAnswer':
      return { kind: 'unreachable', reason: 'noAnswer' };
    case 'failed':
      if (callee === 'peer') return { kind: 'refused', answer: { status: end.status, reason: end.reason } };
      if (end.status === 486 || end.status === 600) return { kind: 'unreachable', reason: 'busy' };
      if (end.status === 603) return { kind: 'refused', answer: reject(603) };
      return { kind: 'unreachable', reason: 'offline' };
  }
}

/** What the caller hears when the user cannot be reached and nothing forwards the call. */
export function unreachableStatus(reason: UnreachableReason): SipAnswer {
  if (reason === 'offline') return reject(480);
  if (reason === 'busy') return reject(486);
  return reject(408, 'no answer');
}

/**
 * The Request-URI user part as dialled: URI escapes undone and visual separators dropped
 * (`+1 (212) 555-0100` → `+12125550100`), but a username stays as it is.
 */
export function cleanDialled(userPart: string): string {
  let s = userPart;
  try {
    s = decodeURIComponent(userPart);
  } catch {
    /* keep the raw text */
  }
  const visual = s.replace(/[\s().-]/g, '');
  return /^\+?[0-9*#]+$/.test(visual) ? visual : s;
}

/** Why credit control refused a call (billing's words; a type only, so this file stays free of I/O). */
export type CreditRefusal = RefusalReason;

/**
 * The SIP answer to a credit-control refusal. An account's fraud limits answer 403 with the limit
 * named in the reason phrase (the account field, so the user and the CDR say which one);
 * maxConcurrentCalls stays 486 Busy Here, a busy signal the phone may try again later, as before.
 * `detail` (billing's message) goes into the phrase only where it names nothing the caller should
 * not learn: the account's own balance, status or rate.
 */
export function refusalAnswer(reason: CreditRefusal, detail: string): SipAnswer {
  switch (reason) {
    case 'insufficient_balance':
      return reject(402, detail);
    case 'unknown_account':
      return reject(404, detail);
    case 'concurrent_limit':
      return { status: 403, reason: `Concurrent Call Limit Reached (maxConcurrentCalls: ${detail})` };
    case 'country_not_allowed':
      return { status: 403, reason: 'Destination Country Not Allowed (allowedCountries)' };
    case 'rate_above_limit':
      return { status: 403, reason: 'Destination Rate Above Limit (maxRatePerMinute)' };
    case 'daily_spend_limit':
      return { status: 403, reason: 'Daily Spend Limit Reached (dailySpendLimit)' };
    case 'suspended':
    case 'no_rate':
      return reject(403, detail);
  }
}

/** The label of gateway_fraud_refusals_total for a refusal, or undefined when it is no fraud limit. */
export function fraudLabel(reason: CreditRefusal | 'blocked_destination'): string | undefined {
  switch (reason) {
    case 'country_not_allowed':
      return 'allowedCountries';
    case 'rate_above_limit':
      return 'maxRatePerMinute';
    case 'daily_spend_limit':
      return 'dailySpendLimit';
    case 'concurrent_limit':
      return 'maxConcurrentCalls';
    case 'blocked_destination':
      return 'blockedDestinations';
    default:
      return undefined;
  }
}

/** The SIP answer for a media failure (codes in media.errors.ts). */
export function mediaRefusal(err: unknown): SipAnswer {
  if (!(err instanceof MediaError)) return reject(500);
  const detail = err.message.replace(/[\r\n]/g, ' ').slice(0, 100);
  switch (err.code) {
    case MediaErrorCode.PortsExhausted:
      return reject(503, 'no media ports');
    case MediaErrorCode.EngineUnavailable:
      return reject(503, 'media engine unavailable');
    case MediaErrorCode.InvalidSdp:
      return reject(400, detail);
    case MediaErrorCode.UnsupportedSdp:
      return reject(488, detail);
    default:
      return reject(500);
  }
}
