/**
 * Garbage on the SIP port of a real gateway process: datagrams of random bytes, truncated and
 * oversized messages, and half-parsable headers. None may end or wedge the process.
 */
import { createSocket } from 'node:dgram';
import fc from 'fast-check';
import { GatewayProcess, startGatewayProcess } from './gateway-process';

describe('hostile bytes on the SIP port', () => {
  let gw: GatewayProcess;
  beforeAll(async () => {
    gw = await startGatewayProcess({ rtpMin: 47000, rtpMax: 47100 });
  }, 60_000);
  afterAll(() => gw?.stop(), 20_000);

  it('answers OPTIONS before anything hostile is sent (the probe itself works)', async () => {
    await gw.expectAlive();
  });

  it('survives random datagrams and mangled requests, and still answers OPTIONS', async () => {
    const socket = createSocket('udp4');
    await new Promise<void>((ok) => socket.bind(0, '127.0.0.1', () => ok()));
    const valid = (extra: string) =>
      `INVITE sip:+12125550100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKx\r\n${extra}\r\nContent-Length: 0\r\n\r\n`;
    const samples = [
      ...fc.sample(fc.uint8Array({ minLength: 0, maxLength: 1400 }), 200).map((a) => Buffer.from(a)),
      ...fc.sample(fc.string({ maxLength: 300 }), 200).map((s) => Buffer.from(valid(s))),
      Buffer.alloc(65000, 0x41),
      Buffer.from('SIP/2.0 200 OK\r\n\r\n'),
      Buffer.from('\r\n\r\n'),
    ];
    for (const [i, data] of samples.entries()) {
      socket.send(data, gw.sipPort, '127.0.0.1');
      if (i % 50 === 0) await new Promise((r) => setTimeout(r, 20));
    }
    socket.close();
    await new Promise((r) => setTimeout(r, 500));
    await gw.expectAlive();
  });
});
