import fc from 'fast-check';
import { parseMessage } from '../parser';
import type { SipRequest } from '../message';
import { parseVia } from '../via';
import { request } from '../../../test/sip/support/messages';
import { responseTarget, stampReceived, stampedTarget } from './nat';
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
    expect(responseTarget(stamped.via[0], source(40123))).toEqual({ host: '127.0.0.1', port: 40123, transport: 'UDP' });
  });

  it('always stamps received, and answers at the Via port when no rport was asked for', () => {
    const stamped = stampReceived(parsedRequest(request({ viaPort: 5999 })), source(40123));
    expect(stamped.via[0].received).toBe('127.0.0.1');
    expect(stamped.via[0].rport).toBeUndefined();
    expect(responseTarget(stamped.via[0], source(40123))).toEqual({ host: '127.0.0.1', port: 5999, transport: 'UDP' });
  });

  it('answers a TCP request on its own connection (the peer address and port)', () => {
    const stamped = stampReceived(parsedRequest(request({ viaTransport: 'TCP', viaPort: 5999 })), source(40999, 'TCP'));
    expect(stamped.via[0]).toMatchObject({ received: '127.0.0.1', rport: 40999 });
    expect(responseTarget(stamped.via[0], source(40999, 'TCP'))).toEqual({ host: '127.0.0.1', port: 40999, transport: 'TCP' });
  });

  it('overwrites a received= the sender forged and ignores maddr and a Via host elsewhere', () => {
    const forged = parsedRequest(
      Buffer.from(request({ viaPort: 5999 }).toString().replace('127.0.0.1:5999;branch=z9hG4bK-test-1', '127.0.0.77:5070;branch=z9hG4bK-test-1;received=127.0.0.78;maddr=127.0.0.79')),
    );
    const stamped = stampReceived(forged, source(40123));
    expect(stamped.via[0].received).toBe('127.0.0.1');
    // The Via is otherwise kept as the client wrote it.
    expect(stamped.via[0]).toMatchObject({ host: '127.0.0.77', port: 5070 });
    expect(stamped.via[0].params.get('maddr')).toBe('127.0.0.79');
    expect(responseTarget(stamped.via[0], source(40123))).toEqual({ host: '127.0.0.1', port: 5070, transport: 'UDP' });
  });

  it('answers a UDP request over UDP even when its Via says TCP', () => {
    const req = parsedRequest(request({ viaTransport: 'TCP', viaPort: 5999, rport: true }));
    expect(responseTarget(stampReceived(req, source(40123)).via[0], source(40123))).toEqual({ host: '127.0.0.1', port: 40123, transport: 'UDP' });
  });

  it('property: whatever the top Via says, a UDP response goes to the source address over UDP', () => {
    const host = fc.constantFrom('127.0.0.77', '127.0.0.1', 'trap.invalid', '[::1]');
    const params = fc.subarray([';received=127.0.0.78', ';maddr=127.0.0.79', ';rport', ';ttl=1']);
    fc.assert(
      fc.property(fc.constantFrom('UDP', 'TCP', 'TLS', 'SCTP'), host, fc.option(fc.integer({ min: 1, max: 65535 })), params, (transport, h, port, params) => {
        const text = request().toString().replace('SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-test-1', `SIP/2.0/${transport} ${h}${port === null ? '' : `:${port}`};branch=z9hG4bK-p${params.join('')}`);
        const target = responseTarget(stampReceived(parsedRequest(Buffer.from(text)), source(40123)).via[0], source(40123));
        expect(target.host).toBe('127.0.0.1');
        expect(target.transport).toBe('UDP');
      }),
    );
  });

  it('falls back to the stamped received/rport, never maddr, when the source is no longer known', () => {
    expect(stampedTarget(via('SIP/2.0/UDP host.invalid;branch=z9hG4bK1;received=127.0.0.2;maddr=127.0.0.3'))).toEqual({ host: '127.0.0.2', port: 5060, transport: 'UDP' });
    expect(stampedTarget(via('SIP/2.0/UDP 127.0.0.9:5999;branch=z9hG4bK1;received=127.0.0.2;rport=4000'))).toEqual({ host: '127.0.0.2', port: 4000, transport: 'UDP' });
  });
});
