/**
 * Forged top Vias against a real gateway process: a `received=` or `maddr=` the sender wrote
 * itself, a Via saying TCP on a UDP request, a Via host pointing elsewhere. Each time a trap (a UDP
 * socket and a TCP listener on other loopback addresses, and a TCP listener at the sender's own
 * address) stands where the forged Via points, and must receive nothing, retransmissions included,
 * while the real sender gets its answer. Requests: OPTIONS (answered once) and an INVITE from a
 * user agent (100 Trying, then a 407 retransmitted until an ACK that never comes).
 */
import { type Socket as UdpSocket, createSocket } from 'node:dgram';
import { type Server, type Socket, connect, createServer } from 'node:net';
import { GatewayProcess, startGatewayProcess } from './gateway-process';

const TRAP = '127.0.0.77';
const T1_MS = 100;
/** Long enough for the first 100 Trying/407 and five 407 retransmissions (T1 100 ms: at 100, 300, 700, 1500, 3100 ms). */
const WATCH_MS = 3500;

interface Traps {
  port: number;
  sender: UdpSocket;
  fromSender: string[];
  trapped: string[];
  close(): Promise<void>;
}

function bindUdp(address: string, port: number): Promise<UdpSocket> {
  return new Promise((ok, fail) => {
    const s = createSocket('udp4');
    s.once('error', fail);
    s.bind(port, address, () => {
      s.off('error', fail);
      ok(s);
    });
  });
}

function listenTcp(address: string, port: number, onConnect: (s: Socket) => void): Promise<Server> {
  return new Promise((ok, fail) => {
    const s = createServer(onConnect);
    s.once('error', fail);
    s.listen(port, address, () => {
      s.off('error', fail);
      ok(s);
    });
  });
}

/** The sender on 127.0.0.1:P, and traps on the same port P at 127.0.0.77 (UDP and TCP) and at 127.0.0.1 (TCP). */
async function traps(): Promise<Traps> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const sender = await bindUdp('127.0.0.1', 0);
    const port = sender.address().port;
    const trapped: string[] = [];
    const opened: { close(cb: () => void): void }[] = [];
    const accepted: Socket[] = [];
    try {
      const udpTrap = await bindUdp(TRAP, port);
      opened.push(udpTrap);
      udpTrap.on('message', (d, r) => trapped.push(`UDP ${TRAP}:${port} from ${r.address}:${r.port}: ${d.toString().split('\r\n')[0]}`));
      const onConnect = (where: string) => (s: Socket) => {
        accepted.push(s);
        trapped.push(`TCP connection to ${where}:${port} from ${s.remoteAddress}:${s.remotePort}`);
        s.on('data', (d) => trapped.push(`TCP ${where}:${port}: ${d.toString().split('\r\n')[0]}`));
        s.on('error', () => undefined);
      };
      opened.push(await listenTcp(TRAP, port, onConnect(TRAP)));
      opened.push(await listenTcp('127.0.0.1', port, onConnect('127.0.0.1')));
    } catch {
      for (const o of opened) o.close(() => undefined);
      sender.close();
      continue;
    }
    const fromSender: string[] = [];
    sender.on('message', (d) => fromSender.push(d.toString()));
    return {
      port,
      sender,
      fromSender,
      trapped,
      close: async () => {
        for (const s of accepted) s.destroy();
        await Promise.all([...opened, sender].map((o) => new Promise<void>((ok) => o.close(() => ok()))));
      },
    };
  }
  throw new Error('no port free on both 127.0.0.1 and 127.0.0.77');
}

/** The request with the given top Via (sent-by and params after the transport). */
function request(method: 'OPTIONS' | 'INVITE', via: string, sipPort: number, port: number, n: number): string {
  const callId = `via-trick-${method}-${n}-${Math.random().toString(36).slice(2)}`;
  const sdp = method === 'INVITE' ? ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 47390 RTP/AVP 0', ''].join('\r\n') : '';
  return [
    `${method} sip:+12125550100@127.0.0.1:${sipPort} SIP/2.0`,
    `Via: ${via};branch=z9hG4bK-${callId}`,
    'Max-Forwards: 70',
    `From: <sip:trickster@127.0.0.1:${sipPort}>;tag=t${n}`,
    `To: <sip:+12125550100@127.0.0.1:${sipPort}>`,
    `Call-ID: ${callId}`,
    `CSeq: 1 ${method}`,
    `Contact: <sip:trickster@127.0.0.1:${port}>`,
    ...(sdp ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(sdp)}`,
    '',
    sdp,
  ].join('\r\n');
}

const status = (m: string) => Number(/^SIP\/2\.0 (\d{3})/.exec(m)?.[1]);

describe('forged Via headers against the gateway process', () => {
  let gw: GatewayProcess;
  beforeAll(async () => {
    gw = await startGatewayProcess({ rtpMin: 47200, rtpMax: 47299, env: { SIP_T1_MS: String(T1_MS), SIP_TCP_MAX_CONNECTIONS_PER_IP: '3', SIP_TCP_IDLE_SECONDS: '2' } });
  }, 60_000);
  afterAll(() => gw?.stop(), 20_000);

  // P is the port shared by the sender (127.0.0.1) and the traps; {P} in the Via stands for it.
  const tricks: [string, string][] = [
    ['a forged received= (no rport)', `SIP/2.0/UDP 127.0.0.1:{P};received=${TRAP}`],
    ['a forged received= with rport', `SIP/2.0/UDP 127.0.0.1:{P};rport;received=${TRAP}`],
    ['maddr=', `SIP/2.0/UDP 127.0.0.1:{P};maddr=${TRAP}`],
    ['transport TCP on a UDP request', 'SIP/2.0/TCP 127.0.0.1:{P}'],
    ['transport TCP and maddr on a UDP request', `SIP/2.0/TCP 127.0.0.1:{P};maddr=${TRAP}`],
    ['a Via host pointing at the trap', `SIP/2.0/UDP ${TRAP}:{P}`],
  ];

  let n = 0;
  describe.each(['OPTIONS', 'INVITE'] as const)('%s', (method) => {
    it.each(tricks)('with %s: the sender gets the answer, the trap nothing (retransmissions included)', async (_name, viaTemplate) => {
      const t = await traps();
      try {
        const via = viaTemplate.replace('{P}', String(t.port));
        t.sender.send(request(method, via, gw.sipPort, t.port, ++n), gw.sipPort, '127.0.0.1');
        await new Promise((r) => setTimeout(r, method === 'INVITE' ? WATCH_MS : 1000));
        expect(t.trapped).toEqual([]);
        const statuses = t.fromSender.map(status);
        if (method === 'OPTIONS') {
          expect(statuses).toEqual([200]);
        } else {
          // 100 Trying, the challenge, and its retransmissions (no ACK is sent): all to the sender.
          expect(statuses[0]).toBe(100);
          expect(statuses.filter((s) => s === 407).length).toBeGreaterThanOrEqual(3);
        }
        // The Via comes back as sent, with received stamped from the real source.
        expect(t.fromSender[0]).toContain(`Via: ${via.replace(/;received=[^;]*/, '')}`);
        expect(t.fromSender[0]).toMatch(/;received=127\.0\.0\.1\b/);
      } finally {
        await t.close();
      }
    });
  });

  describe('over TCP', () => {
    const connectTo = (port: number) =>
      new Promise<Socket>((ok, fail) => {
        const s = connect({ host: '127.0.0.1', port, localAddress: '127.0.0.44' }, () => ok(s));
        s.once('error', fail);
      });
    const closed = (s: Socket) => new Promise<number>((ok) => (s.destroyed ? ok(Date.now()) : s.once('close', () => ok(Date.now()))));

    it('answers on the connection the request came on, caps connections per address, and closes idle ones', async () => {
      const sockets = [await connectTo(gw.sipPort), await connectTo(gw.sipPort), await connectTo(gw.sipPort)];
      const fourth = await connectTo(gw.sipPort);
      fourth.on('error', () => undefined);
      // The fourth from the same address is closed at once (3 s allowed on a loaded machine).
      const within = <T,>(p: Promise<T>, ms: number) => Promise.race([p, new Promise<undefined>((r) => setTimeout(() => r(undefined), ms))]);
      expect(await within(closed(fourth), 3000)).toBeDefined();
      const local = sockets[0].address() as { port: number };
      let text = '';
      sockets[0].on('data', (d) => (text += d.toString()));
      // The Via names a UDP trap elsewhere: the answer still comes back on this connection.
      const t = await traps();
      try {
        sockets[0].write(request('OPTIONS', `SIP/2.0/UDP ${TRAP}:${t.port};rport`, gw.sipPort, local.port, ++n));
        for (let i = 0; i < 100 && !/^SIP\/2\.0 200 /.test(text); i++) await new Promise((r) => setTimeout(r, 20));
        expect(text).toMatch(/^SIP\/2\.0 200 OK\r\n/);
        expect(text).toMatch(/;received=127\.0\.0\.44/);
        expect(t.trapped).toEqual([]);
      } finally {
        await t.close();
      }
      // Silent for SIP_TCP_IDLE_SECONDS (2 s): closed by the gateway. Waits up to 8 s on a loaded machine.
      const started = Date.now();
      const ends = await within(Promise.all(sockets.map(closed)), 8000);
      expect(ends).toBeDefined();
      expect(Math.max(...ends!) - started).toBeGreaterThanOrEqual(1500);
      // Their share is free again.
      const again = await connectTo(gw.sipPort);
      await new Promise((r) => setTimeout(r, 300));
      expect(again.destroyed).toBe(false);
      again.destroy();
    }, 30_000);
  });

  describe('afterwards', () => {
    it('is still answering OPTIONS', async () => {
      await gw.expectAlive();
    });
  });
});
