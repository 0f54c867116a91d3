import { createRequest, createResponse } from '../builders';
import type { SipRequest, SipResponse } from '../message';
import { parseMessage } from '../parser';
import { serialize } from '../serializer';
import { TransportLayer } from '../transport/transport-layer';
import { newBranch } from '../identifiers';
import { request, requestText } from '../../../test/sip/support/messages';
import { type UdpPeer, delay, tcpPeer, udpPeer } from '../../../test/sip/support/sockets';
import type { ResponseOrigin } from './client-transaction';
import { type IncomingRequest, TransactionLayer } from './transaction-layer';
import { ServerInviteTransaction } from './server-invite';

const timers = { t1: 20, t2: 80, t4: 60, timerD: 100 };

function parse(data: Buffer): SipRequest | SipResponse {
  const r = parseMessage(data);
  if (!r.ok) throw new Error(`${r.error.code}: ${r.error.reason}`);
  return r.value;
}

async function until(check: () => boolean, ms = 3000): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > ms) throw new Error('condition not reached');
    await delay(5);
  }
}

describe('TransactionLayer over UDP on 127.0.0.1 with short timers', () => {
  let transport: TransportLayer;
  let layer: TransactionLayer;
  let peer: UdpPeer;
  let port: number;
  let incoming: IncomingRequest[];

  beforeEach(async () => {
    transport = new TransportLayer({ listen: [{ address: '127.0.0.1', port: 0, transports: ['UDP', 'TCP'] }] });
    await transport.start();
    port = transport.listening()[0].port;
    layer = new TransactionLayer(transport, { timers });
    incoming = [];
    layer.onRequest((r) => incoming.push(r));
    peer = await udpPeer();
  });

  afterEach(async () => {
    layer.close();
    await peer.close();
    await transport.stop();
  });

  function outgoing(method: string): SipRequest {
    return createRequest({
      method,
      uri: `sip:bob@127.0.0.1:${peer.port}`,
      from: '<sip:gateway@127.0.0.1>;tag=gw1',
      to: '<sip:bob@127.0.0.1>',
      via: transport.via('UDP', newBranch()),
      contact: `<sip:gateway@127.0.0.1:${port}>`,
    });
  }

  const target = () => ({ host: '127.0.0.1', port: peer.port, transport: 'UDP' as const });

  it('retransmits a non-INVITE request (Timer E) and reports 408 when Timer F fires', async () => {
    const responses: Array<[number, ResponseOrigin]> = [];
    const req = outgoing('OPTIONS');
    layer.sendRequest(req, target(), { response: (r, origin) => responses.push([r.status, origin]) });
    await until(() => responses.length === 1);
    expect(responses).toEqual([[408, 'timeout']]);
    expect(peer.received.length).toBeGreaterThanOrEqual(3);
    for (const copy of peer.received) expect(parse(copy).via[0].branch).toBe(req.via[0].branch);
    expect(layer.count().client).toBe(0);
  });

  it('retransmits an INVITE (Timer A) until a provisional response, then stops', async () => {
    const seen: number[] = [];
    const invite = outgoing('INVITE');
    layer.sendRequest(invite, target(), { response: (r) => seen.push(r.status) });
    await peer.next();
    await peer.next(); // at least one retransmission
    await peer.send(serialize(createResponse(parse(peer.received[0]) as SipRequest, 180, { toTag: 'callee' })), port);
    await until(() => seen.length === 1);
    const count = peer.received.length;
    await delay(200);
    expect(seen).toEqual([180]);
    expect(peer.received.length).toBe(count);
  });

  it('ACKs a non-2xx final response itself and re-ACKs its retransmission without bothering the TU', async () => {
    const seen: number[] = [];
    const invite = outgoing('INVITE');
    layer.sendRequest(invite, target(), { response: (r) => seen.push(r.status) });
    const got = parse(await peer.next()) as SipRequest;
    const busy = createResponse(got, 486, { toTag: 'busy-tag' });
    await peer.send(serialize(busy), port);
    const ack = await waitForMethod(peer, 'ACK');
    expect(ack.via[0].branch).toBe(invite.via[0].branch);
    expect(ack.to.params.get('tag')).toBe('busy-tag');
    expect(ack.cseq).toEqual({ seq: invite.cseq.seq, method: 'ACK' });
    expect(ack.callId).toBe(invite.callId);
    await peer.send(serialize(busy), port);
    const again = await waitForMethod(peer, 'ACK');
    expect(again.to.params.get('tag')).toBe('busy-tag');
    expect(seen).toEqual([486]);
    await until(() => layer.count().client === 0); // Timer D
  });

  it('reports 408 for an INVITE nobody answers (Timer B)', async () => {
    const seen: Array<[number, ResponseOrigin]> = [];
    layer.sendRequest(outgoing('INVITE'), target(), { response: (r, o) => seen.push([r.status, o]) });
    await until(() => seen.length === 1);
    expect(seen).toEqual([[408, 'timeout']]);
    expect(peer.received.length).toBeGreaterThanOrEqual(3);
  });

  it('reports a transport error as a local 503', async () => {
    const seen: Array<[number, ResponseOrigin]> = [];
    layer.sendRequest(outgoing('OPTIONS'), { host: '127.0.0.1', port: 1, transport: 'TCP' }, { response: (r, o) => seen.push([r.status, o]) });
    await until(() => seen.length === 1);
    expect(seen[0]).toEqual([503, 'transport-error']);
    expect(layer.count().client).toBe(0);
  });

  it('absorbs a retransmitted non-INVITE request by re-sending the last response, until Timer J ends it', async () => {
    const options = request({ rport: true });
    await peer.send(options, port);
    await until(() => incoming.length === 1);
    incoming[0].transaction.respond(createResponse(incoming[0].request, 200, { toTag: 'srv' }));
    expect((parse(await peer.next()) as SipResponse).status).toBe(200);
    await peer.send(options, port);
    expect((parse(await peer.next()) as SipResponse).status).toBe(200);
    expect(incoming).toHaveLength(1);
    await until(() => layer.count().server === 0); // Timer J = 64*T1
    await peer.send(options, port);
    await until(() => incoming.length === 2); // a new transaction now
  });

  it('sends 100 Trying, retransmits a final non-2xx (Timer G) until the ACK, and absorbs that ACK', async () => {
    const acks: unknown[] = [];
    layer.onAck((a) => acks.push(a));
    await peer.send(request({ method: 'INVITE', rport: true }), port);
    expect((parse(await peer.next()) as SipResponse).status).toBe(100);
    await until(() => incoming.length === 1);
    const tx = incoming[0].transaction;
    tx.respond(createResponse(incoming[0].request, 486, { toTag: 'srv' }));
    expect((parse(await peer.next()) as SipResponse).status).toBe(486);
    expect((parse(await peer.next()) as SipResponse).status).toBe(486); // retransmitted by Timer G
    await peer.send(request({ method: 'ACK', toTag: 'srv', rport: true }), port);
    await until(() => tx.state === 'confirmed' || tx.state === 'terminated');
    const after = peer.received.length;
    await delay(150);
    expect(peer.received.length).toBeLessThanOrEqual(after + 1); // at most one copy already in flight
    expect(acks).toHaveLength(0);
    expect(incoming).toHaveLength(1);
  });

  it('gives up when the ACK never comes (Timer H) and tells the TU', async () => {
    await peer.send(request({ method: 'INVITE' }), port);
    await until(() => incoming.length === 1);
    const tx = incoming[0].transaction as ServerInviteTransaction;
    let timedOut = false;
    tx.events = { ackTimeout: () => (timedOut = true) };
    tx.respond(createResponse(incoming[0].request, 603, { toTag: 'srv' }));
    await until(() => tx.state === 'terminated');
    expect(timedOut).toBe(true);
  });

  it('absorbs a retransmitted INVITE with the last response and passes the ACK for a 2xx to the TU', async () => {
    const acks: SipRequest[] = [];
    layer.onAck((a) => acks.push(a.message as SipRequest));
    const invite = request({ method: 'INVITE', rport: true });
    await peer.send(invite, port);
    await until(() => incoming.length === 1);
    incoming[0].transaction.respond(createResponse(incoming[0].request, 200, { toTag: 'ok' }));
    await peer.send(invite, port);
    await until(() => peer.received.length >= 2);
    expect(incoming).toHaveLength(1);
    await peer.send(request({ method: 'ACK', branch: 'z9hG4bK-ack-2xx', toTag: 'ok', rport: true }), port);
    await until(() => acks.length === 1);
    expect(acks[0].to.params.get('tag')).toBe('ok');
  });

  it('over TCP, sends a non-2xx final once and ends as soon as the ACK arrives (Timers G off, I = 0)', async () => {
    const tcpPort = transport.listening().find((l) => l.transport === 'TCP')!.port;
    const client = await tcpPeer(tcpPort);
    client.socket.write(request({ method: 'INVITE', viaTransport: 'TCP' }));
    await until(() => incoming.length === 1);
    const tx = incoming[0].transaction;
    expect(tx.reliable).toBe(true);
    tx.respond(createResponse(incoming[0].request, 486, { toTag: 'tcp' }));
    await client.waitFor(/SIP\/2.0 486/);
    await delay(150); // several T1 periods: a UDP transaction would have retransmitted by now
    expect(client.text().match(/SIP\/2.0 486/g)).toHaveLength(1);
    client.socket.write(request({ method: 'ACK', viaTransport: 'TCP', toTag: 'tcp' }));
    await until(() => tx.state === 'terminated');
    expect(layer.count().server).toBe(0);
    client.socket.destroy();
  });

  it('matches a CANCEL to its INVITE server transaction', async () => {
    await peer.send(request({ method: 'INVITE', branch: 'z9hG4bK-cancel-me' }), port);
    await until(() => incoming.length === 1);
    await peer.send(request({ method: 'CANCEL', branch: 'z9hG4bK-cancel-me' }), port);
    await until(() => incoming.length === 2);
    const cancel = incoming[1];
    expect(cancel.request.method).toBe('CANCEL');
    expect(layer.inviteFor(cancel.request)).toBe(incoming[0].transaction);
    expect(cancel.transaction).not.toBe(incoming[0].transaction);
    await peer.send(request({ method: 'CANCEL', branch: 'z9hG4bK-unknown' }), port);
    await until(() => incoming.length === 3);
    expect(layer.inviteFor(incoming[2].request)).toBeUndefined();
  });

  it('matches RFC 2543 requests without a branch (retransmission and ACK)', async () => {
    const invite = request({ method: 'INVITE', branch: '', rport: true });
    await peer.send(invite, port);
    await until(() => incoming.length === 1);
    incoming[0].transaction.respond(createResponse(incoming[0].request, 480, { toTag: 'old' }));
    await peer.send(invite, port);
    await until(() => peer.received.filter((d) => d.toString().startsWith('SIP/2.0 480')).length >= 2);
    expect(incoming).toHaveLength(1);
    await peer.send(requestText({ method: 'ACK', branch: '', toTag: 'old', rport: true }), port);
    await until(() => incoming[0].transaction.state !== 'completed');
    expect(incoming[0].transaction.state).not.toBe('completed');
  });
});

async function waitForMethod(peer: UdpPeer, method: string): Promise<SipRequest> {
  for (;;) {
    const msg = parse(await peer.next());
    if (msg.kind === 'request' && msg.method === method) return msg;
  }
}

describe('TransactionLayer caps on open server transactions', () => {
  it('answers 503 with Retry-After past the per-source cap (open = not finally answered) and past the total, and never tells the TU', async () => {
    const transport = new TransportLayer({ listen: [{ address: '127.0.0.1', port: 0, transports: ['UDP'] }] });
    await transport.start();
    const port = transport.listening()[0].port;
    const refused: string[] = [];
    // T1 1 s: Timer J (64 s) must not end the answered transactions before the total cap is tested.
    const layer = new TransactionLayer(transport, { timers: { ...timers, t1: 1000 }, maxServerTransactionsPerSource: 2, maxServerTransactions: 4, onRefused: (_r, _s, cap) => refused.push(cap) });
    const incoming: IncomingRequest[] = [];
    layer.onRequest((r) => incoming.push(r));
    const peer = await udpPeer();
    try {
      const send = (n: number) => peer.send(request({ method: 'OPTIONS', branch: `z9hG4bK-cap-${n}`, callId: `cap-${n}@127.0.0.1`, rport: true }), port);
      await send(1);
      await send(2);
      await send(3);
      await until(() => peer.received.length === 1);
      expect(incoming).toHaveLength(2);
      expect(parse(peer.received[0])).toMatchObject({ status: 503, reason: 'Too Many Transactions', callId: 'cap-3@127.0.0.1' });
      expect(peer.received[0].toString()).toContain('Retry-After: 5\r\n');
      // Answered transactions are no longer open for the source, though they live on (Timer J) for the total.
      incoming[0].transaction.respond(createResponse(incoming[0].request, 200, { toTag: 'a' }));
      incoming[1].transaction.respond(createResponse(incoming[1].request, 200, { toTag: 'b' }));
      await send(4);
      await send(5);
      await until(() => incoming.length === 4);
      await send(6);
      await until(() => peer.received.length === 4);
      expect(parse(peer.received[3])).toMatchObject({ status: 503, callId: 'cap-6@127.0.0.1' });
      expect(refused).toEqual(['per-source', 'total']);
      expect(incoming).toHaveLength(4);
    } finally {
      layer.close();
      await peer.close();
      await transport.stop();
    }
  });
});
