import { createResponse } from './builders';
import { newTag } from './identifiers';
import { AnswerRetransmission } from './transaction/answer-retransmission';
import { DEFAULT_TIMERS, systemClock } from './transaction/timers';
import { TransactionLayer } from './transaction/transaction-layer';
import { TransportLayer } from './transport/transport-layer';
import { SDP } from '../../test/sip/support/messages';
import { killSipp, runSipp } from '../../test/sip/support/sipp';

jest.setTimeout(60000);

describe('a tiny UAS built on the library, driven by SIPp on 127.0.0.1', () => {
  let transport: TransportLayer;
  let layer: TransactionLayer;
  let port: number;
  let arrivals: Map<string, number>;
  let newRequests: Map<string, number>;
  let acks: number;
  let answering: Map<string, AnswerRetransmission>;

  beforeEach(async () => {
    transport = new TransportLayer({ listen: [{ address: '127.0.0.1', port: 0, transports: ['UDP'] }] });
    await transport.start();
    port = transport.listening()[0].port;
    layer = new TransactionLayer(transport, { timers: { t1: 100 } });
    arrivals = new Map();
    newRequests = new Map();
    acks = 0;
    answering = new Map();
    const count = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);
    transport.onMessage(({ message }) => message.kind === 'request' && count(arrivals, message.method));
    layer.onAck(({ message }) => {
      acks++;
      answering.get(message.callId)?.stop();
    });
    layer.onRequest(({ request, transaction }) => {
      count(newRequests, request.method);
      const tag = newTag();
      if (request.method === 'INVITE') {
        transaction.respond(createResponse(request, 180, { toTag: tag }));
        const contact = { name: 'Contact', value: `<sip:service@127.0.0.1:${port}>` };
        const body = Buffer.from(SDP);
        const ok = createResponse(request, 200, { toTag: tag, headers: [contact, { name: 'Content-Type', value: 'application/sdp' }], body });
        transaction.respond(ok);
        // The UAS core, not the transaction, keeps the 2xx alive until the ACK (RFC 3261 §13.3.1.4).
        const retransmission = new AnswerRetransmission(transport, ok, { ...DEFAULT_TIMERS, t1: 100 }, systemClock, () => undefined, transaction.replyTo);
        answering.set(request.callId, retransmission);
        retransmission.start(false);
      } else {
        transaction.respond(createResponse(request, 200, { toTag: tag }));
      }
    });
  });

  afterEach(async () => {
    killSipp();
    for (const r of answering.values()) r.stop();
    layer.close();
    await transport.stop();
  });

  it('completes every OPTIONS despite 20% packet loss, absorbing SIPp retransmissions', async () => {
    const run = await runSipp('options-uac.xml', port, { calls: 30, lost: 20 });
    expect({ code: run.code, tail: run.code === 0 ? '' : run.output.slice(-2000) }).toEqual({ code: 0, tail: '' });
    // Each call reached the TU once; the extra copies SIPp sent were answered by the transactions.
    expect(newRequests.get('OPTIONS')).toBe(30);
    expect(arrivals.get('OPTIONS')).toBeGreaterThan(30);
  });

  it('completes INVITE / 180 / 200 / ACK / BYE calls', async () => {
    const run = await runSipp('invite-uac.xml', port, { calls: 5 });
    expect({ code: run.code, tail: run.code === 0 ? '' : run.output.slice(-2000) }).toEqual({ code: 0, tail: '' });
    expect(newRequests.get('INVITE')).toBe(5);
    expect(newRequests.get('BYE')).toBe(5);
    // ACKs for 2xx are not part of the INVITE transaction: they reach the TU (RFC 3261 §17.2.3).
    expect(acks).toBe(5);
  });

  it('completes calls despite 10% packet loss, with the 2xx retransmitted until the ACK', async () => {
    const run = await runSipp('invite-uac.xml', port, { calls: 10, lost: 10 });
    expect({ code: run.code, tail: run.code === 0 ? '' : run.output.slice(-2000) }).toEqual({ code: 0, tail: '' });
    expect(newRequests.get('INVITE')).toBe(10);
    expect(newRequests.get('BYE')).toBe(10);
  });
});
