import { parseMessage } from '../parser';
import type { SipRequest } from '../message';
import { parseVia } from '../via';
import { request } from '../../../test/sip/support/messages';
import { responseTarget, stampReceived } from './nat';
import type { Source } from './types';

const source = (port: number, transport: 'UDP' | 'TCP' = 'UDP'): Source => ({ address: '127.0.0.1', port, transport, local: { address: '127.0.0.1', port: 5060 } });

function parsedRequest(data: Buffer): SipRequest {
  const r = parseMessage(data);
  if (!r.ok || r.value.kind !== 'request') throw new Error('bad fixture');
  return r.value;
}

function via(text: string) {
  const v = parseVia(text);
  if (!v.ok) throw new Error(v.error.reason);
  return v.value;
}

describe('NAT handling of Via', () => {
  it('fills rport and received from the packet source when the client asks (RFC 3581)', () => {
    const stamped = stampReceived(parsedRequest(request({ rport: true, viaPort: 5999 })), source(40123));
    expect(stamped.via[0].rport).toBe(40123);
    expect(stamped.via[0].received).toBe('127.0.0.1');
    expect(responseTarget(stamped.via[0])).toEqual({ host: '127.0.0.1', port: 40123, transport: 'UDP' });
  });

  it('leaves a UDP Via alone when its host matches and no rport was asked for', () => {
    const req = parsedRequest(request({ viaPort: 5999 }));
    expect(stampReceived(req, source(40123))).toBe(req);
    expect(responseTarget(req.via[0])).toEqual({ host: '127.0.0.1', port: 5999, transport: 'UDP' });
  });

  it('records the TCP connection peer so the response reuses that connection', () => {
    const stamped = stampReceived(parsedRequest(request({ viaTransport: 'TCP', viaPort: 5999 })), source(40999, 'TCP'));
    expect(responseTarget(stamped.via[0])).toEqual({ host: '127.0.0.1', port: 40999, transport: 'TCP' });
  });

  it('sends to received when the host differs, and to port 5060 when none is given', () => {
    expect(responseTarget(via('SIP/2.0/UDP host.invalid;branch=z9hG4bK1;received=127.0.0.2'))).toEqual({ host: '127.0.0.2', port: 5060, transport: 'UDP' });
  });
});
