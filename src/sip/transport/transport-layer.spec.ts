import { createResponse } from '../builders';
import type { SipRequest } from '../message';
import { parseMessage } from '../parser';
import { request, SDP } from '../../../test/sip/support/messages';
import { type UdpPeer, delay, tcpPeer, udpPeer } from '../../../test/sip/support/sockets';
import { createServer } from 'node:net';
import { responseTarget } from './nat';
import { SourceGuard } from './source-guard';
import { type Inbound, TransportLayer } from './transport-layer';
import type { TransportReport, WireTrace } from './types';

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
    await layer.sendResponse(createResponse(message as SipRequest, 200, { toTag: 'to-1' }), responseTarget(message.via[0], source));
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
    await layer.sendResponse(createResponse(inbound[2].message as SipRequest, 486, { toTag: 't' }), responseTarget(inbound[2].message.via[0], inbound[2].source));
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

  it('drops a response whose TCP connection is gone, reports it, and opens no new connection', async () => {
    // A listener standing for "any host:port": the gateway must never connect to it for a response.
    let connects = 0;
    const trap = createServer((socket) => {
      connects++;
      socket.destroy();
    });
    await new Promise<void>((ok) => trap.listen(0, '127.0.0.1', () => ok()));
    const trapPort = (trap.address() as { port: number }).port;
    const client = await tcpPeer(tcpPort);
    client.socket.write(request({ viaTransport: 'TCP', viaPort: trapPort }));
    await waitFor(() => inbound.length === 1);
    client.socket.destroy();
    await delay(50);
    const { message, source } = inbound[0];
    await expect(layer.sendResponse(createResponse(message as SipRequest, 200, { toTag: 't' }), responseTarget(message.via[0], source))).rejects.toThrow('the connection is gone');
    // And even a target naming the trap directly is not connected to for a response.
    await expect(layer.sendResponse(createResponse(message as SipRequest, 200, { toTag: 't' }), { host: '127.0.0.1', port: trapPort, transport: 'TCP' })).rejects.toThrow(
      'the connection is gone',
    );
    await delay(50);
    expect(connects).toBe(0);
    expect(reports.filter((r) => r.kind === 'send-error')).toHaveLength(2);
    await new Promise<void>((ok) => trap.close(() => ok()));
  });
});

describe('TransportLayer limits on 127.0.0.1', () => {
  const waitFor = async (check: () => boolean): Promise<void> => {
    for (let i = 0; i < 200 && !check(); i++) await delay(5);
    if (!check()) throw new Error('condition not reached');
  };

  it('answers requests over the per-source rate with 503 and Retry-After, then drops them unparsed; responses take no token', async () => {
    let now = 1_000_000;
    const guard = new SourceGuard({ ratePerSecond: 5, trustedRatePerSecond: 0, now: () => now });
    const layer = new TransportLayer({ listen: [{ address: '127.0.0.1', port: 0, transports: ['UDP'] }], guard });
    const inbound: Inbound[] = [];
    const reports: TransportReport[] = [];
    layer.onMessage((m) => inbound.push(m));
    layer.onReport((r) => reports.push(r));
    await layer.start();
    const port = layer.listening()[0].port;
    const peer = await udpPeer();
    try {
      // A burst of responses first: not new work, so the full bucket of 5 requests is still there.
      for (let i = 0; i < 5; i++) await peer.send(`SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKr${i}\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:b@127.0.0.1>;tag=2\r\nCall-ID: r${i}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`, port);
      await waitFor(() => inbound.length === 5);
      for (let i = 0; i < 25; i++) await peer.send(request({ callId: `c${i}@127.0.0.1`, rport: true }), port);
      await delay(100);
      expect(inbound.filter((m) => m.message.kind === 'request')).toHaveLength(5);
      const answers = peer.received.map((d) => d.toString());
      // 5 responses + 25 requests = 30 packets this second; at 4 x 5 = 20 the rest are dropped silently.
      expect(answers).toHaveLength(20 - 5 - 5);
      for (const a of answers) expect(a).toMatch(/^SIP\/2.0 503 Rate Limit Exceeded\r\n[\s\S]*Retry-After: 5\r\n/);
      expect(reports.filter((r) => r.kind === 'refused')).toHaveLength(1);
      // One second later the bucket holds 5 tokens again.
      now += 1000;
      await peer.send(request({ callId: 'later@127.0.0.1' }), port);
      await waitFor(() => inbound.length === 11);
    } finally {
      await peer.close();
      await layer.stop();
    }
  });

  it('traces every message in and out with its bytes and ends; requests over the rate and their 503s are marked limited', async () => {
    const guard = new SourceGuard({ ratePerSecond: 1, trustedRatePerSecond: 0, now: () => 1_000_000 });
    const layer = new TransportLayer({ listen: [{ address: '127.0.0.1', port: 0, transports: ['UDP'] }], guard });
    const traces: WireTrace[] = [];
    layer.onTrace((t) => traces.push(t));
    const inbound: Inbound[] = [];
    layer.onMessage((m) => inbound.push(m));
    await layer.start();
    const port = layer.listening()[0].port;
    const peer = await udpPeer();
    try {
      await peer.send(request({ callId: 'traced-1@127.0.0.1', rport: true }), port);
      await waitFor(() => inbound.length === 1);
      const { message, source } = inbound[0];
      await layer.sendResponse(createResponse(message as SipRequest, 200, { toTag: 't' }), responseTarget(message.via[0], source));
      await peer.next();
      // Over the rate of 1 per second: refused statelessly.
      await peer.send(request({ callId: 'traced-2@127.0.0.1', rport: true }), port);
      await waitFor(() => traces.length === 4);
      expect(traces.map((t) => [t.direction, t.message.callId, t.message.kind, t.limited ?? false])).toEqual([
        ['in', 'traced-1@127.0.0.1', 'request', false],
        ['out', 'traced-1@127.0.0.1', 'response', false],
        ['in', 'traced-2@127.0.0.1', 'request', true],
        ['out', 'traced-2@127.0.0.1', 'response', true],
      ]);
      expect(traces[0]).toMatchObject({ transport: 'UDP', src: { address: '127.0.0.1', port: peer.port }, dst: { address: '127.0.0.1', port } });
      expect(traces[1]).toMatchObject({ src: { address: '127.0.0.1', port }, dst: { address: '127.0.0.1', port: peer.port } });
      expect(traces[1].data.toString().startsWith('SIP/2.0 200 ')).toBe(true);
      expect(traces[3].data.toString().startsWith('SIP/2.0 503 ')).toBe(true);
    } finally {
      await peer.close();
      await layer.stop();
    }
  });

  it('caps TCP connections per IP and closes idle ones', async () => {
    const layer = new TransportLayer({ listen: [{ address: '127.0.0.1', port: 0, transports: ['TCP'] }], tcp: { maxConnectionsPerIp: 2, idleMs: 300 } });
    const reports: TransportReport[] = [];
    layer.onReport((r) => reports.push(r));
    await layer.start();
    const port = layer.listening()[0].port;
    try {
      const a = await tcpPeer(port);
      const b = await tcpPeer(port);
      const c = await tcpPeer(port);
      await c.closed();
      expect(reports[0]).toMatchObject({ kind: 'refused', reason: 'too many TCP connections from this address; connection closed' });
      // b keeps talking (a CRLF keep-alive every 100 ms) and stays; a says nothing and is closed when idle.
      const keepAlive = setInterval(() => b.socket.write('\r\n\r\n'), 100);
      await a.closed();
      expect(b.socket.destroyed).toBe(false);
      clearInterval(keepAlive);
      expect(reports.some((r) => r.reason === 'TCP connection idle too long; closed')).toBe(true);
      // The closed connections' share is free again.
      const d = await tcpPeer(port);
      await delay(50);
      expect(d.socket.destroyed).toBe(false);
      b.socket.destroy();
      d.socket.destroy();
    } finally {
      await layer.stop();
    }
  });
});
