import { createRequest, createResponse } from '../builders';
import type { SipMessage, SipRequest } from '../message';
import type { ResponseOrigin } from './client-transaction';
import { ClientNonInviteTransaction } from './client-non-invite';
import { ClientInviteTransaction } from './client-invite';
import { ManualClock } from '../../../test/sip/support/manual-clock';
import type { TransactionContext } from './transaction';

function setup() {
  const clock = new ManualClock();
  const sent: Array<{ message: SipMessage; at: number }> = [];
  const context: TransactionContext = {
    clock,
    timers: { t1: 500, t2: 4000, t4: 5000, timerD: 32000 },
    sender: {
      send: async (message) => void sent.push({ message, at: clock.now }),
      sendResponse: async (message) => void sent.push({ message, at: clock.now }),
    },
  };
  const responses: Array<[number, ResponseOrigin]> = [];
  const events = { response: (r: { status: number }, o: ResponseOrigin) => void responses.push([r.status, o]) };
  return { clock, sent, context, responses, events };
}

function request(method: string): SipRequest {
  return createRequest({ method, uri: 'sip:bob@127.0.0.1', from: '<sip:gw@127.0.0.1>;tag=a', to: '<sip:bob@127.0.0.1>', via: 'SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-manual' });
}

const udp = { host: '127.0.0.1', port: 5062, transport: 'UDP' as const };

describe('client transaction timers with the RFC 3261 default values', () => {
  it('retransmits a non-INVITE at T1, 2T1, 4T1 then every T2, and times out at 64*T1 (Timers E and F)', () => {
    const { clock, sent, context, responses, events } = setup();
    new ClientNonInviteTransaction('k', request('OPTIONS'), udp, context, events).start();
    clock.advance(32000);
    expect(sent.map((s) => s.at)).toEqual([0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
    expect(responses).toEqual([[408, 'timeout']]);
  });

  it('retransmits every T2 once a provisional response arrived', () => {
    const { clock, sent, context, events } = setup();
    const req = request('OPTIONS');
    const tx = new ClientNonInviteTransaction('k', req, udp, context, events);
    tx.start();
    clock.advance(600);
    tx.receive(createResponse(req, 100));
    clock.advance(9000);
    expect(sent.map((s) => s.at)).toEqual([0, 500, 4600, 8600]);
  });

  it('doubles INVITE retransmissions without a cap (Timer A) and stops at Timer B', () => {
    const { clock, sent, context, responses, events } = setup();
    new ClientInviteTransaction('k', request('INVITE'), udp, context, events).start();
    clock.advance(40000);
    expect(sent.map((s) => s.at)).toEqual([0, 500, 1500, 3500, 7500, 15500, 31500]);
    expect(responses).toEqual([[408, 'timeout']]);
  });

  it('does not retransmit over TCP and ends at once after the final response (Timer K = 0)', () => {
    const { clock, sent, context, events } = setup();
    const req = request('OPTIONS');
    const tx = new ClientNonInviteTransaction('k', req, { ...udp, transport: 'TCP' }, context, events);
    tx.start();
    clock.advance(5000);
    expect(sent).toHaveLength(1);
    tx.receive(createResponse(req, 200, { toTag: 'b' }));
    expect(tx.state).toBe('terminated');
  });
});
