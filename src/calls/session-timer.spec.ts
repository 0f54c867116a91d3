import { parseMessage, type SipRequest } from '../sip';
import { intervalTooSmall, isLocalRefresh, refreshAnswer, sessionExpires, sessionTimerAnswer } from './session-timer';

function request(method: string, headers: string[], body = ''): SipRequest {
  const text = [`${method} sip:x@gw SIP/2.0`, 'Via: SIP/2.0/WS a.invalid;branch=z9hG4bK1', 'Max-Forwards: 70', 'To: <sip:x@gw>', 'From: <sip:a@gw>;tag=1', 'Call-ID: c', `CSeq: 1 ${method}`, ...headers, ...(body ? ['Content-Type: application/sdp'] : []), `Content-Length: ${body.length}`, '', body].join('\r\n');
  const r = parseMessage(Buffer.from(text));
  if (!r.ok || r.value.kind !== 'request') throw new Error('bad fixture');
  return r.value;
}

describe('session timers (RFC 4028)', () => {
  it('reads Session-Expires in long and compact form, with its refresher', () => {
    expect(sessionExpires(request('INVITE', ['Session-Expires: 1800;refresher=UAS']))).toEqual({ seconds: 1800, refresher: 'uas' });
    expect(sessionExpires(request('INVITE', ['x: 90']))).toEqual({ seconds: 90, refresher: undefined });
    expect(sessionExpires(request('INVITE', ['Session-Expires: soon']))).toBeUndefined();
    expect(sessionExpires(request('INVITE', []))).toBeUndefined();
  });

  it('refuses an interval under 90 s with Min-SE: 90 (422), accepts 90 and none', () => {
    expect(intervalTooSmall(request('INVITE', ['Session-Expires: 89']))).toEqual([{ name: 'Min-SE', value: '90' }]);
    expect(intervalTooSmall(request('INVITE', ['Session-Expires: 90']))).toBeUndefined();
    expect(intervalTooSmall(request('INVITE', []))).toBeUndefined();
  });

  it('answers an INVITE that asked for a timer with the caller as refresher, at least Min-SE; nothing when it did not ask', () => {
    expect(sessionTimerAnswer(request('INVITE', ['Session-Expires: 120', 'Supported: timer, ice']))).toEqual([
      { name: 'Session-Expires', value: '120;refresher=uac' },
      { name: 'Require', value: 'timer' },
    ]);
    expect(sessionTimerAnswer(request('INVITE', ['Session-Expires: 90', 'Min-SE: 300', 'Supported: timer']))[0].value).toBe('300;refresher=uac');
    expect(sessionTimerAnswer(request('INVITE', ['Session-Expires: 120']))).toEqual([]);
    expect(sessionTimerAnswer(request('INVITE', ['Supported: timer']))).toEqual([]);
  });

  it('an UPDATE without a body is a refresh answered locally, echoing its interval and refresher', () => {
    const refresh = request('UPDATE', ['Session-Expires: 90;refresher=uac', 'Supported: timer']);
    expect(isLocalRefresh(refresh)).toBe(true);
    expect(refreshAnswer(refresh)).toEqual([
      { name: 'Session-Expires', value: '90;refresher=uac' },
      { name: 'Require', value: 'timer' },
    ]);
    expect(isLocalRefresh(request('UPDATE', [], 'v=0\r\n'))).toBe(false);
    expect(isLocalRefresh(request('INVITE', []))).toBe(false);
    expect(refreshAnswer(request('UPDATE', []))).toEqual([]);
  });
});
