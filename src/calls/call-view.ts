/** What the operations API shows of a call in progress (GET /calls): the call's facts, state and media counters. */
import type { Call } from './call';

export interface CallView {
  id: string;
  callId: string;
  direction: string;
  state: string;
  accountId: string | null;
  userId: string | null;
  trunkId: string | null;
  trunk: string | null;
  caller: string | null;
  dialed: string | null;
  callee: string | null;
  translatedTo: string | null;
  startedAt: string;
  answeredAt: string | null;
  maxSeconds: number | null;
  media: ReturnType<Call['mediaStats']> | null;
}

export function callView(c: Call): CallView {
  const f = c.facts;
  return {
    id: c.id,
    callId: c.callId,
    direction: f.direction,
    state: c.state,
    accountId: f.accountId ?? f.reservation?.accountId ?? null,
    userId: f.userId ?? null,
    trunkId: c.trunkId ?? null,
    trunk: c.trunkName ?? null,
    caller: f.caller ?? null,
    dialed: f.dialed ?? null,
    callee: f.callee ?? null,
    translatedTo: f.translatedTo ?? null,
    startedAt: c.startedAt.toISOString(),
    answeredAt: c.answeredAt?.toISOString() ?? null,
    maxSeconds: f.reservation?.maxSeconds ?? null,
    media: c.mediaStats() ?? null,
  };
}
