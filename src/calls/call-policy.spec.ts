import fc from 'fast-check';
import { MediaError, MediaErrorCode } from '../media';
import { bestFailure, blockedReason, cleanDialled, type CreditRefusal, DEFAULT_BLOCKED_PREFIXES, dispositionOf, failsOver, forwardingTarget, fraudLabel, mediaRefusal, refusalAnswer, reject, ringVerdict, unreachableStatus } from './call-policy';

const policy = { blockedPrefixes: DEFAULT_BLOCKED_PREFIXES, blockPremiumRate: true };

describe('blockedReason', () => {
  it('blocks the default premium and high-risk prefixes', () => {
    expect(blockedReason('+19005550100', 'premiumRate', policy)).toBe('destination +1900 is blocked');
    expect(blockedReason('+882123456', undefined, policy)).toBe('destination +882 is blocked');
    expect(blockedReason('+81990123456', undefined, policy)).toBe('destination +81990 is blocked');
  });

  it('blocks numbers libphonenumber types as premium rate even outside the list', () => {
    expect(blockedReason('+33899123456', 'premiumRate', policy)).toBe('premium-rate destinations are blocked');
    expect(blockedReason('+33899123456', 'premiumRate', { ...policy, blockPremiumRate: false })).toBeUndefined();
  });

  it('lets ordinary numbers through, and an empty list blocks nothing by prefix', () => {
    expect(blockedReason('+12125550100', 'fixedLineOrMobile', policy)).toBeUndefined();
    expect(blockedReason('+882123456', undefined, { blockedPrefixes: [], blockPremiumRate: false })).toBeUndefined();
  });
});

describe('failsOver', () => {
  it('tries the next trunk when the trunk could not take the call', () => {
    for (const s of [408, 500, 502, 503, 504]) expect(failsOver(s, 'network')).toBe(true);
    expect(failsOver(408, 'setup-timeout')).toBe(true);
    expect(failsOver(503, 'transport-error')).toBe(true);
  });

  it('never fails over on the far end refusing (4xx but 408, and 6xx)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 400, max: 699 }), (s) => {
        fc.pre(s !== 408 && (s < 500 || s >= 600));
        return failsOver(s, 'network') === false;
      }),
    );
  });
});

describe('dispositionOf', () => {
  it('maps final statuses to CDR dispositions', () => {
    expect(dispositionOf(200)).toBe('answered');
    expect(dispositionOf(486)).toBe('busy');
    expect(dispositionOf(600)).toBe('busy');
    expect(dispositionOf(480)).toBe('noAnswer');
    expect(dispositionOf(487)).toBe('cancelled');
    expect(dispositionOf(503)).toBe('failed');
    expect(dispositionOf(603)).toBe('rejected');
    expect(dispositionOf(404, true)).toBe('cancelled');
  });
});

describe('bestFailure', () => {
  it('prefers 6xx, then busy, then the lowest class and code', () => {
    expect(bestFailure([{ status: 503 }, { status: 603 }, { status: 486 }])?.status).toBe(603);
    expect(bestFailure([{ status: 503 }, { status: 480 }, { status: 486 }])?.status).toBe(486);
    expect(bestFailure([{ status: 503 }, { status: 480 }, { status: 404 }])?.status).toBe(404);
    expect(bestFailure([{ status: 503 }, { status: 500 }])?.status).toBe(500);
    expect(bestFailure([])).toBeUndefined();
  });

  it('always returns one of its inputs', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 300, max: 699 }).map((status) => ({ status })), { minLength: 1 }), (rs) => rs.includes(bestFailure(rs)!)),
    );
  });
});

describe('forwarding', () => {
  const rule = { mode: 'busy' as const, target: '+12125550100', noAnswerSeconds: 20, redirect: false };
  it('applies only in its own situation', () => {
    expect(forwardingTarget(rule, 'busy')).toBe('+12125550100');
    expect(forwardingTarget(rule, 'offline')).toBeUndefined();
    expect(forwardingTarget({ ...rule, mode: 'always' }, 'always')).toBe('+12125550100');
    expect(forwardingTarget({ ...rule, mode: 'none' }, 'busy')).toBeUndefined();
    expect(forwardingTarget(undefined, 'busy')).toBeUndefined();
  });

  it('answers 480, 486 or 408 without a rule', () => {
    expect(unreachableStatus('offline').status).toBe(480);
    expect(unreachableStatus('busy').status).toBe(486);
    expect(unreachableStatus('noAnswer').status).toBe(408);
  });
});

describe('cleanDialled', () => {
  it('drops visual separators from numbers and keeps usernames', () => {
    expect(cleanDialled('+1%20(212)%20555-0100')).toBe('+12125550100');
    expect(cleanDialled('alice.smith')).toBe('alice.smith');
    expect(cleanDialled('%zz')).toBe('%zz');
  });
});

describe('refusalAnswer', () => {
  it('answers each fraud limit 403 naming the account field, and keeps the other refusals as they were', () => {
    expect(refusalAnswer('country_not_allowed', 'x')).toEqual({ status: 403, reason: 'Destination Country Not Allowed (allowedCountries)' });
    expect(refusalAnswer('rate_above_limit', 'x')).toEqual({ status: 403, reason: 'Destination Rate Above Limit (maxRatePerMinute)' });
    expect(refusalAnswer('daily_spend_limit', 'x')).toEqual({ status: 403, reason: 'Daily Spend Limit Reached (dailySpendLimit)' });
    expect(refusalAnswer('concurrent_limit', '2 calls (limit 2)')).toEqual({ status: 403, reason: 'Concurrent Call Limit Reached (maxConcurrentCalls: 2 calls (limit 2))' });
    expect(refusalAnswer('insufficient_balance', 'b').status).toBe(402);
    expect(refusalAnswer('suspended', 's')).toEqual({ status: 403, reason: 'Forbidden (s)' });
    expect(refusalAnswer('no_rate', 'n').status).toBe(403);
    expect(refusalAnswer('unknown_account', 'u').status).toBe(404);
  });

  it('labels the fraud limits (and the blocked destinations) for the metric, and nothing else', () => {
    const all: CreditRefusal[] = ['unknown_account', 'suspended', 'no_rate', 'insufficient_balance', 'concurrent_limit', 'country_not_allowed', 'rate_above_limit', 'daily_spend_limit'];
    expect(all.map((r) => fraudLabel(r))).toEqual([undefined, undefined, undefined, undefined, 'maxConcurrentCalls', 'allowedCountries', 'maxRatePerMinute', 'dailySpendLimit']);
    expect(fraudLabel('blocked_destination')).toBe('blockedDestinations');
  });
});

describe('reject', () => {
  it("takes RFC 3261's phrase for the status and appends the detail in parentheses", () => {
    expect(reject(500)).toEqual({ status: 500, reason: 'Server Internal Error' });
    expect(reject(503, 'no route')).toEqual({ status: 503, reason: 'Service Unavailable (no route)' });
    expect(reject(603, 'Chicago callers are not served')).toEqual({ status: 603, reason: 'Decline (Chicago callers are not served)' });
    expect(reject(487, '')).toEqual({ status: 487, reason: 'Request Terminated' });
  });
});

describe('ringVerdict', () => {
  it("maps a user's devices' refusals to busy, decline or offline, and passes a peer's on", () => {
    expect(ringVerdict({ kind: 'answered' }, 'user')).toEqual({ kind: 'answered' });
    expect(ringVerdict({ kind: 'cancelled' }, 'peer')).toEqual({ kind: 'refused', answer: { status: 487, reason: 'Request Terminated' } });
    expect(ringVerdict({ kind: 'noAnswer' }, 'peer')).toEqual({ kind: 'unreachable', reason: 'noAnswer' });
    expect(ringVerdict({ kind: 'failed', status: 600, reason: 'Busy Everywhere' }, 'user')).toEqual({ kind: 'unreachable', reason: 'busy' });
    expect(ringVerdict({ kind: 'failed', status: 603, reason: 'Decline (x)' }, 'user')).toEqual({ kind: 'refused', answer: { status: 603, reason: 'Decline' } });
    expect(ringVerdict({ kind: 'failed', status: 404, reason: 'Not Found' }, 'user')).toEqual({ kind: 'unreachable', reason: 'offline' });
    expect(ringVerdict({ kind: 'failed', status: 404, reason: 'Not Found (x)' }, 'peer')).toEqual({ kind: 'refused', answer: { status: 404, reason: 'Not Found (x)' } });
  });
});

describe('mediaRefusal', () => {
  it('answers 503 for no ports, 400/488 naming the SDP problem on one line, 500 for anything else', () => {
    expect(mediaRefusal(new MediaError(MediaErrorCode.PortsExhausted, 'x'))).toEqual({ status: 503, reason: 'Service Unavailable (no media ports)' });
    expect(mediaRefusal(new MediaError(MediaErrorCode.InvalidSdp, 'no c=\r\nline'))).toEqual({ status: 400, reason: 'Bad Request (no c=  line)' });
    expect(mediaRefusal(new MediaError(MediaErrorCode.UnsupportedSdp, 'no audio'))).toEqual({ status: 488, reason: 'Not Acceptable Here (no audio)' });
    expect(mediaRefusal(new Error('boom'))).toEqual({ status: 500, reason: 'Server Internal Error' });
  });
});
