import { callLogLine } from './call-log';
import type { Attempt, Call, CallFacts } from './call';

const T0 = new Date('2026-11-30T10:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);
const labels = { direction: 'outbound' as const, trunk: '' };
const trunkLeg = (n: string) => ({ target: { host: '127.0.0.1', port: 5090, transport: 'UDP' as const }, requestUri: `sip:${n}@127.0.0.1:5090`, from: '<sip:a@gw>', to: `<sip:${n}@127.0.0.1>` });

function call(facts: CallFacts, history: Attempt[], refusal?: { status: number; reason: string }): Pick<Call, 'callId' | 'facts' | 'history' | 'refusal' | 'startedAt' | 'hangupReason'> {
  return { callId: 'c1@127.0.0.1', facts, history, refusal, startedAt: T0, hangupReason: undefined };
}

describe('callLogLine', () => {
  it('a refusal before anyone was rung is "call refused" with the refusal, no attempts, no routed number', () => {
    const r = callLogLine(
      call({ direction: 'outbound', username: 'alice', dialed: '+442079460958', callee: '+442079460958' }, [{ target: { legs: [] }, startedAt: T0, endedAt: at(5), status: 403, reason: 'no rate for +442079460958', disposition: 'rejected', hangupBy: 'gateway', labels }], {
        status: 403,
        reason: 'no rate for +442079460958',
      }),
    );
    expect(r.msg).toBe('call refused');
    expect(r.line).toMatchObject({ callId: 'c1@127.0.0.1', user: 'alice', dialled: '+442079460958', routed: null, trunk: null, sipCode: 403, reason: 'no rate for +442079460958', disposition: 'rejected', attempts: [], durationSeconds: null, pddMs: null });
  });

  it('every trunk failing: "call ended", each trunk with its code, the caller\'s 503 as the answer', () => {
    const n = '+12015550100';
    const r = callLogLine(
      call(
        { direction: 'outbound', username: 'alice', dialed: n, callee: n, translatedTo: null },
        [
          { target: { legs: [trunkLeg(n)], trunkName: 'a' }, startedAt: T0, endedAt: at(100), status: 503, reason: 'Service Unavailable', disposition: 'failed', labels },
          { target: { legs: [trunkLeg(n)], trunkName: 'b' }, startedAt: at(100), endedAt: at(1600), status: 408, reason: 'Request Timeout', disposition: 'failed', labels },
        ],
        { status: 503, reason: 'no trunk could take the call' },
      ),
    );
    expect(r.msg).toBe('call ended');
    expect(r.line).toMatchObject({ trunk: 'b', routed: n, sipCode: 503, reason: 'no trunk could take the call', disposition: 'failed', pddMs: null });
    expect(r.line.attempts).toEqual([
      { trunk: 'a', userId: null, routed: n, sipCode: 503, reason: 'Service Unavailable', disposition: 'failed' },
      { trunk: 'b', userId: null, routed: n, sipCode: 408, reason: 'Request Timeout', disposition: 'failed' },
    ]);
  });

  it('an answered inbound call: the inbound trunk, 200, talk time, post-dial delay from the first ringing', () => {
    const r = callLogLine(
      call({ direction: 'inbound', trunkName: 'carrier', userId: 'u1', username: 'bob', callee: '+12015550111', translatedTo: '+12125550100' }, [
        { target: { legs: [trunkLeg('bob')], userId: 'u1' }, startedAt: T0, ringingAt: at(250), answeredAt: at(2250), endedAt: at(14_250), status: 200, reason: 'normal clearing', disposition: 'answered', hangupBy: 'caller', labels },
      ]),
    );
    expect(r).toMatchObject({ msg: 'call ended', line: { trunk: 'carrier', user: 'bob', translated: '+12125550100', sipCode: 200, reason: 'normal clearing', disposition: 'answered', durationSeconds: 12, pddMs: 250, hangupBy: 'caller' } });
  });
});
