import { createRequest, createResponse } from './builders';
import { createAckFor2xx, createInDialogRequest, dialogAsUac, dialogAsUas, nextHop } from './dialog';
import type { SipRequest } from './message';
import { AnswerRetransmission } from './transaction/answer-retransmission';
import { createVia } from './via';
import { ManualClock } from '../../test/sip/support/manual-clock';

const via = createVia({ transport: 'UDP', host: '127.0.0.1', port: 5060, params: new Map([['branch', 'z9hG4bK-dlg']]) });

function invite(extra: Array<{ name: string; value: string }> = []): SipRequest {
  return createRequest({
    method: 'INVITE',
    uri: 'sip:bob@127.0.0.1:5070',
    from: '"Alice" <sip:alice@127.0.0.1>;tag=alice-tag',
    to: '<sip:bob@127.0.0.1>',
    via: 'SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-inv',
    cseq: 7,
    contact: '<sip:alice@127.0.0.1:5999>',
    headers: extra,
  });
}

const recordRoute = [
  { name: 'Record-Route', value: '<sip:127.0.0.1:5081;lr>' },
  { name: 'Record-Route', value: '<sip:127.0.0.1:5082;lr>' },
];

describe('dialogs', () => {
  it('builds the UAC dialog from a 2xx and sends BYE along the reversed Record-Route', () => {
    const req = invite();
    const ok = createResponse(req, 200, { toTag: 'bob-tag', headers: [...recordRoute, { name: 'Contact', value: '<sip:bob@127.0.0.1:5071>' }] });
    const dialog = dialogAsUac(req, ok);
    if (!dialog.ok) throw new Error(dialog.error.reason);
    expect(dialog.value).toMatchObject({ callId: req.callId, localTag: 'alice-tag', remoteTag: 'bob-tag', localSeq: 7 });
    expect(dialog.value.routeSet).toEqual(['<sip:127.0.0.1:5082;lr>', '<sip:127.0.0.1:5081;lr>']);
    const { request: bye, dialog: after } = createInDialogRequest(dialog.value, 'BYE', via);
    expect(bye.uri).toMatchObject({ user: 'bob', host: '127.0.0.1', port: 5071 });
    expect(bye.cseq).toEqual({ seq: 8, method: 'BYE' });
    expect(bye.to.params.get('tag')).toBe('bob-tag');
    expect(bye.from.params.get('tag')).toBe('alice-tag');
    expect(after.localSeq).toBe(8);
    expect(nextHop(bye)).toEqual({ host: '127.0.0.1', port: 5082, transport: 'UDP' });
    const ack = createAckFor2xx(dialog.value, req, via);
    expect(ack.cseq).toEqual({ seq: 7, method: 'ACK' });
  });

  it('builds the UAS dialog and uses a strict router as Request-URI', () => {
    const req = invite([{ name: 'Record-Route', value: '<sip:127.0.0.1:5090>' }]);
    const dialog = dialogAsUas(req, 'srv-tag');
    if (!dialog.ok) throw new Error(dialog.error.reason);
    expect(dialog.value).toMatchObject({ localTag: 'srv-tag', remoteTag: 'alice-tag', routeSet: ['<sip:127.0.0.1:5090>'] });
    const { request: bye } = createInDialogRequest(dialog.value, 'BYE', via);
    expect(bye.uri).toMatchObject({ host: '127.0.0.1', port: 5090 });
    expect(bye.headers.filter((h) => h.name === 'Route').map((h) => h.value)).toEqual(['<sip:alice@127.0.0.1:5999>']);
    expect(bye.to.params.get('tag')).toBe('alice-tag');
    expect(bye.from.params.get('tag')).toBe('srv-tag');
  });

  it('refuses a dialog without tags or Contact', () => {
    const req = invite();
    expect(dialogAsUac(req, createResponse(req, 200)).ok).toBe(false);
    expect(dialogAsUac(req, createResponse(req, 200, { toTag: 'x' }))).toMatchObject({ ok: false, error: { code: 'MISSING_HEADER' } });
  });

  it('routes by maddr and transport parameters', () => {
    const req = createRequest({ method: 'OPTIONS', uri: 'sip:trunk@127.0.0.1;transport=tcp;maddr=127.0.0.2', from: '<sip:gw@127.0.0.1>', to: '<sip:trunk@127.0.0.1>', via });
    expect(nextHop(req)).toEqual({ host: '127.0.0.2', port: 5060, transport: 'TCP' });
  });

  it('retransmits a 2xx until stopped, doubling to T2, and gives up after 64*T1 without ACK', () => {
    const clock = new ManualClock();
    const sent: number[] = [];
    let gaveUp = false;
    const ok = createResponse(invite(), 200, { toTag: 't' });
    const timers = { t1: 500, t2: 4000, t4: 5000, timerD: 32000 };
    const sender = { send: async () => undefined, sendResponse: async () => void sent.push(clock.now) };
    new AnswerRetransmission(sender, ok, timers, clock, () => (gaveUp = true), { host: '127.0.0.1', port: 5999, transport: 'UDP' }).start(false);
    clock.advance(40000);
    expect(sent).toEqual([500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
    expect(gaveUp).toBe(true);
    const stopped: number[] = [];
    const quiet = new AnswerRetransmission({ ...sender, sendResponse: async () => void stopped.push(clock.now) }, ok, timers, clock, () => undefined, { host: '127.0.0.1', port: 5999, transport: 'UDP' });
    quiet.start(false);
    clock.advance(600);
    quiet.stop();
    clock.advance(40000);
    expect(stopped).toHaveLength(1);
  });
});
