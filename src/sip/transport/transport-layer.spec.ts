import { createResponse } from '../builders';
import type { SipRequest } from '../message';
import { parseMessage } from '../parser';
import { request, SDP } from '../../../test/sip/support/messages';
import { type UdpPeer, delay, tcpPeer, udpPeer } from '../../../test/sip/support/sockets';
import { type Inbound, TransportLayer } from './transport-layer';
import type { TransportReport } from './types';

describe('TransportLayer on 127.0.0.1', () => {
  let layer: TransportLayer;
  let inbound: Inbound[];
  let reports: TransportReport[];
  let peer: UdpPeer;
  let udpPort: number;
  let tcpPort: number;

  beforeEach(async () => {
    layer = new TransportLayer({ listen: [{ address: '127.0.0.1', port: 0, transports: ['UDP', 'TCP'] }], maxMessageSize: 4000 });
    inbound = [];
    reports = [];
    layer.onMessage((m) => inbound.push(m));
    layer.onReport((r) => reports.push(r));
    await layer.start();
    udpPort = layer.listening().find((l) => l.transport === 'UDP')!.port;
    tcpPort = layer.listening().find((l) => l.transport === 'TCP')!.port;
    peer = await udpPeer();
  });

  afterEach(async () => {
    await peer.close();
    await layer.stop();
  });

  const waitFor = async (check: () => boolean): Promise<void> => {
    for (let i = 0; i < 200 && !check(); i++) await delay(5);
    if (!check()) throw new Error('condition not reached');
  };

  it('emits a parsed UDP request with its source and answers it at the NAT-mapped port (rport)', async () => {
    // The Via names port 5999, but the packet comes from the peer's real port: the answer must go there.
    await peer.send(request({ rport: true, viaPort: 5999 }), udpPort);
    await waitFor(() => inbound.length === 1);
    const { message, source } = inbound[0];
    expect(source).toMatchObject({ address: '127.0.0.1', port: peer.port, transport: 'UDP', local: { address: '127.0.0.1', port: udpPort } });
    expect(message.via[0]).toMatchObject({ rport: peer.port, received: '127.0.0.1' });
    await layer.sendResponse(createResponse(message as SipRequest, 200, { toTag: 'to-1' }));
    const answer = parseMessage(await peer.next());
    expect(answer.ok && answer.value.kind === 'response' && answer.value.status).toBe(200);
    expect(answer.ok && answer.value.via[0].rport).toBe(peer.port);
  });

  it('answers a malformed UDP request with 400 and the reason, and reports it', async () => {
    const bad = request().toString().replace('CSeq: 1 OPTIONS', 'CSeq: 1 INVITE');
    await peer.send(bad, udpPort);
    const answer = (await peer.next()).toString();
    expect(answer.startsWith('SIP/2.0 400 CSeq method does not match request method\r\n')).toBe(true);
    expect(answer).toContain('Call-ID: call-1@127.0.0.1');
    await waitFor(() => reports.length === 1);
    expect(reports[0]).toMatchObject({ kind: 'malformed', answered: 400, source: { port: peer.port } });
    expect(inbound).toHaveLength(0);
  });

  it('answers an oversized UDP request with 513', async () => {
    await peer.send(request({ body: 'x'.repeat(4100) }), udpPort);
    expect((await peer.next()).toString()).toMatch(/^SIP\/2.0 513 message exceeds the size limit\r\n/);
    await waitFor(() => reports.length === 1);
    expect(reports[0]).toMatchObject({ kind: 'malformed', answered: 513 });
  });

  it('drops unreadable datagrams with a report and keeps serving', async () => {
    await peer.send(Buffer.from([0xff, 0x00, 0x13, 0x37]), udpPort);
    await waitFor(() => reports.length === 1);
    expect(reports[0]).toMatchObject({ kind: 'malformed', answered: undefined });
    await peer.send(request(), udpPort);
    await waitFor(() => inbound.length === 1);
    expect(peer.received).toHaveLength(0);
  });

  it('frames coalesced and split TCP messages, skips keep-alives, and answers on the same connection', async () => {
    const client = await tcpPeer(tcpPort);
    const a = request({ viaTransport: 'TCP', callId: 'a@127.0.0.1', method: 'INVITE', body: SDP });
    const b = request({ viaTransport: 'TCP', callId: 'b@127.0.0.1' });
    client.socket.write(Buffer.concat([Buffer.from('\r\n\r\n'), a, b]));
    await waitFor(() => inbound.length === 2);
    const c = request({ viaTransport: 'TCP', callId: 'c@127.0.0.1' });
    client.socket.write(c.subarray(0, 20));
    await delay(20);
    client.socket.write(c.subarray(20, 100));
    await delay(20);
    expect(inbound).toHaveLength(2);
    client.socket.write(c.subarray(100));
    await waitFor(() => inbound.length === 3);
    expect(inbound.map((i) => i.message.callId)).toEqual(['a@127.0.0.1', 'b@127.0.0.1', 'c@127.0.0.1']);
    expect(inbound[0].message.body.toString()).toBe(SDP);
    expect(inbound[0].source).toMatchObject({ transport: 'TCP', port: client.socket.localPort });
    await layer.sendResponse(createResponse(inbound[2].message as SipRequest, 486, { toTag: 't' }));
    await client.waitFor(/^SIP\/2.0 486 Busy Here\r\n[\s\S]*Call-ID: c@127.0.0.1/);
    client.socket.destroy();
  });

  it('closes a TCP connection whose message exceeds the size cap and reports why', async () => {
    const client = await tcpPeer(tcpPort);
    client.socket.write(request({ viaTransport: 'TCP', body: 'x'.repeat(5000) }));
    await client.closed();
    await waitFor(() => reports.length === 1);
    expect(reports[0]).toMatchObject({ kind: 'oversize', reason: 'message exceeds the size limit; connection closed' });
    expect(inbound).toHaveLength(0);
  });

  it('sends a request to a UDP target and reports a send to a missing transport', async () => {
    const parsed = parseMessage(request());
    if (!parsed.ok) throw new Error('fixture');
    await layer.send(parsed.value, { host: '127.0.0.1', port: peer.port, transport: 'UDP' });
    expect((await peer.next()).toString()).toMatch(/^OPTIONS sip:service@127.0.0.1 SIP\/2.0\r\n/);
    const only = new TransportLayer({ listen: [{ address: '127.0.0.1', port: 0, transports: ['UDP'] }] });
    await only.start();
    await expect(only.send(parsed.value, { host: '127.0.0.1', port: 1, transport: 'TCP' })).rejects.toThrow('no TCP transport');
    await only.stop();
  });
});
