import { parseMessage, type SipRequest } from '../sip';
import { clientBehindEdge, pathOf, pathReceived } from './edge';

function request(headers: string[]): SipRequest {
  const text = ['REGISTER sip:gateway.test SIP/2.0', ...headers, 'From: <sip:alice@gateway.test>;tag=1', 'To: <sip:alice@gateway.test>', 'Call-ID: c1', 'CSeq: 1 REGISTER', 'Max-Forwards: 69', 'Content-Length: 0', '', ''].join('\r\n');
  const parsed = parseMessage(Buffer.from(text));
  if (!parsed.ok || parsed.value.kind !== 'request') throw new Error('test message did not parse');
  return parsed.value;
}

const EDGE_VIA = 'Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKedge1';

describe('what a request through a SIP edge says about the user behind it', () => {
  it("reads the user's address from the edge's received and rport stamps on the second Via", () => {
    expect(clientBehindEdge(request([EDGE_VIA, 'Via: SIP/2.0/UDP 127.0.0.99:5099;received=127.0.0.7;rport=62000;branch=z9hG4bKdev']))).toEqual({ address: '127.0.0.7', port: 62000 });
    // Without stamps the Via's own address is the client's (no NAT between them and the edge).
    expect(clientBehindEdge(request([EDGE_VIA, 'Via: SIP/2.0/UDP 127.0.0.7:5070;branch=z9hG4bKdev']))).toEqual({ address: '127.0.0.7', port: 5070 });
  });

  it('has no client address for a request with one Via, or a host name in the second', () => {
    expect(clientBehindEdge(request([EDGE_VIA]))).toBeUndefined();
    expect(clientBehindEdge(request([EDGE_VIA, 'Via: SIP/2.0/UDP phone.example:5060;branch=z9hG4bKdev']))).toBeUndefined();
  });

  it("keeps the Path hops in order and reads the edge's received parameter (escaped or not)", () => {
    const path = pathOf(request([EDGE_VIA, 'Path: <sip:127.0.0.1:5060;lr;received=sip:127.0.0.7:62000>', 'Path: <sip:10.0.0.1;lr>']));
    expect(path).toEqual(['<sip:127.0.0.1:5060;lr;received=sip:127.0.0.7:62000>', '<sip:10.0.0.1;lr>']);
    expect(pathReceived(path!)).toEqual({ address: '127.0.0.7', port: 62000 });
    expect(pathReceived(['<sip:127.0.0.1;lr;received=sip:127.0.0.7%3A5090>'])).toEqual({ address: '127.0.0.7', port: 5090 });
    expect(pathReceived(['<sip:127.0.0.1;lr>'])).toBeUndefined();
    expect(pathReceived(['<sip:127.0.0.1;lr;received=sip:evil.example:5060>'])).toBeUndefined();
    expect(pathOf(request([EDGE_VIA]))).toEqual([]);
  });

  it('refuses a Path that is not a SIP URI', () => {
    expect(pathOf(request([EDGE_VIA, 'Path: <mailto:x@example.com>']))).toBeUndefined();
  });
});
