/**
 * The call log: one `info` line per call when it is over, so an operator can follow any call with
 * grep on its call id or a number (docs/observability.md lists the fields).
 *  - `call refused`: the gateway answered the INVITE with a refusal before ringing anyone (no rate,
 *    blocked destination, 484, 402, 404, no route, not authorised, draining, bad request...);
 *  - `call ended`: at least one callee (trunk, device, forwarding peer) was rung; `attempts` lists
 *    each one in order with its answer, so a failover reads as trunk → code, trunk → code.
 * Challenges (401/407) are not refusals: the caller retries with credentials.
 *
 * Pure formatting of what Call and the flow recorded; it decides nothing.
 */
import type { Logger } from '@nestjs/common';
import type { SipRequest, SipResponse, Source } from '../sip';
import { isSipUri } from '../sip';
import type { Attempt, Call } from './call';

export interface CallLogAttempt {
  trunk: string | null;
  userId: string | null;
  /** The number or URI the INVITE of this attempt was sent to (its Request-URI's user part, else the URI). */
  routed: string | null;
  sipCode: number | null;
  reason: string | null;
  disposition: string | null;
}

export interface CallLogLine {
  callId: string;
  direction: string;
  user: string | null;
  userId: string | null;
  accountId: string | null;
  /** The inbound trunk, else the trunk of the last attempt. */
  trunk: string | null;
  caller: string | null;
  dialled: string | null;
  /** The toll-free translation or forwarding target, when there was one. */
  translated: string | null;
  /** What the last attempt was sent to. */
  routed: string | null;
  disposition: string;
  sipCode: number | null;
  reason: string | null;
  durationSeconds: number | null;
  pddMs: number | null;
  hangupBy: string | null;
  attempts: CallLogAttempt[];
}

/** The user part of a Request-URI (`sip:+12015550100@host` → `+12015550100`), or the URI itself. */
function routedOf(uri: string | undefined): string | null {
  if (!uri) return null;
  const m = /^(?:sips?|tel):([^@;?]+)/i.exec(uri);
  return m ? decodeURIComponent(m[1]) : uri;
}

function attemptLine(a: Attempt): CallLogAttempt {
  return {
    trunk: a.target.trunkName ?? null,
    userId: a.target.userId ?? null,
    routed: routedOf(a.target.legs[0]?.requestUri),
    sipCode: a.status ?? null,
    reason: a.reason ?? null,
    disposition: a.disposition ?? null,
  };
}

/** The line for a call that is over: `call refused` when nobody was rung, else `call ended`. */
export function callLogLine(call: Pick<Call, 'callId' | 'facts' | 'history' | 'refusal' | 'startedAt' | 'hangupReason'>): { msg: 'call ended' | 'call refused'; line: CallLogLine } {
  const f = call.facts;
  const rung = call.history.filter((a) => a.target.legs.length > 0);
  const last = call.history.at(-1);
  const lastRung = rung.at(-1);
  const answered = rung.find((a) => a.answeredAt);
  const first = rung.find((a) => a.ringingAt ?? a.answeredAt);
  const progress = first?.ringingAt ?? first?.answeredAt;
  // The caller's final answer: 200 for an answered call, the refusal it got, else the last attempt's.
  const sipCode = answered ? 200 : (call.refusal?.status ?? last?.status ?? null);
  const reason = answered ? (answered.reason ?? call.hangupReason ?? null) : (call.refusal?.reason ?? last?.reason ?? null);
  return {
    msg: rung.length === 0 ? 'call refused' : 'call ended',
    line: {
      callId: call.callId,
      direction: f.direction,
      user: f.username ?? null,
      userId: f.userId ?? null,
      accountId: f.accountId ?? f.reservation?.accountId ?? null,
      trunk: f.direction === 'inbound' ? (f.trunkName ?? null) : (lastRung?.target.trunkName ?? null),
      caller: f.caller ?? null,
      dialled: f.dialed ?? null,
      translated: f.translatedTo ?? null,
      routed: lastRung ? routedOf(lastRung.target.legs[0]?.requestUri) : null,
      disposition: (answered ?? last)?.disposition ?? 'failed',
      sipCode,
      reason,
      durationSeconds: answered?.answeredAt ? Math.max(0, Math.round(((answered.endedAt ?? new Date()).getTime() - answered.answeredAt.getTime()) / 100) / 10) : null,
      pddMs: progress ? progress.getTime() - call.startedAt.getTime() : null,
      hangupBy: (answered ?? last)?.hangupBy ?? null,
      attempts: rung.map(attemptLine),
    },
  };
}

export function logCallEnd(log: Logger, call: Call): void {
  const { msg, line } = callLogLine(call);
  log.log(line, msg);
}

/**
 * An INVITE refused before a call was set up (draining, malformed, a stranger's address, failed
 * or refused authentication): the same `call refused` line with what is known. Challenges are not logged.
 */
export function logInviteRefused(log: Logger, request: SipRequest, source: Source, response: SipResponse): void {
  if (response.status < 300 || response.status === 401 || response.status === 407) return;
  const from = request.from.uri;
  log.log(
    {
      callId: request.callId,
      direction: null,
      user: isSipUri(from) ? (from.user ?? null) : null,
      dialled: isSipUri(request.uri) ? (request.uri.user ?? null) : null,
      disposition: 'rejected',
      sipCode: response.status,
      reason: response.reason,
      source: `${source.transport} ${source.address}:${source.port}`,
      attempts: [],
    },
    'call refused',
  );
}
