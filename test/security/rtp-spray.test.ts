/**
 * Media hijacking by spraying the relay's port range, against a real gateway process: a SIPp user
 * calls out through a SIPp trunk while two attackers send RTP to every relay port of the range,
 * during ringing and during the call: one from a stranger's address (127.0.0.99), one from the
 * trunk's own SIP host (127.0.0.48) on another port (the trunk's SIP host is an address the
 * gateway expects the callee's media from; latch.ts makes it wait while the trunk's declared media
 * endpoint may still speak, and the declared endpoint speaks at once here, as trunks do).
 * The callee must hear the caller and only the caller, the caller only the callee, and neither
 * attacker anything.
 *
 * Ports: the gateway's relay range is 47600–47699, the test's own sockets 47750–47799.
 */
import { createSocket, type Socket } from 'node:dgram';
import { rtpPacket, UdpPeer } from '../media/udp-peer';
import { answered, type CallsGateway, disableTrunks, expectSuccess, newAccount, newDestination, newRoute, newTrunk, newUser, sippClient, sippServer, sleep } from '../calls/support';
import { GatewayProcess, startGatewayProcess } from './gateway-process';

const RTP_MIN = 47600;
const RTP_MAX = 47699;
const TRUNK_HOST = '127.0.0.48';
const STRANGER = '127.0.0.99';
const PORTS = { phoneRtp: 47750, calleeRtp: 47752, trunkSip: 47760, phoneSip: 47761, stranger: 47770, trunkHostAttacker: 47772 };
const CALLER = 0xa5;
const CALLEE = 0x5a;
const ATTACKER = 0xee;

async function bound(ip: string, port: number): Promise<{ socket: Socket; got: Buffer[] }> {
  const socket = createSocket('udp4');
  const got: Buffer[] = [];
  socket.on('message', (m) => got.push(m));
  await new Promise<void>((ok, fail) => {
    socket.once('error', fail);
    socket.bind(port, ip, () => ok());
  });
  return { socket, got };
}

const marker = (packet: Buffer) => (packet.length > 12 ? packet[12] : -1);

describe('RTP sprayed at every relay port cannot take over a call (real gateway process)', () => {
  let gw: GatewayProcess;
  let cg: CallsGateway;
  const trunkIds: string[] = [];

  beforeAll(async () => {
    gw = await startGatewayProcess({ rtpMin: RTP_MIN, rtpMax: RTP_MAX });
    cg = gw.asCallsGateway();
  }, 60_000);
  afterAll(async () => {
    if (cg) await disableTrunks(cg, trunkIds);
    await gw?.stop();
  }, 30_000);

  it('the callee hears the caller and only the caller, the caller only the callee, while two attackers spray the range', async () => {
    const accountId = await newAccount(cg, '10.000000');
    const user = await newUser(cg, accountId);
    const dest = newDestination();
    const trunkId = await newTrunk(cg, { port: PORTS.trunkSip, host: TRUNK_HOST });
    trunkIds.push(trunkId);
    await newRoute(cg, dest, trunkId);

    const phone = await UdpPeer.open(PORTS.phoneRtp);
    const callee = await UdpPeer.open(PORTS.calleeRtp);
    const stranger = await bound(STRANGER, PORTS.stranger);
    const onTrunkHost = await bound(TRUNK_HOST, PORTS.trunkHostAttacker);

    // Spray every port of the range, RTP and RTCP, from both attackers, until told to stop.
    let spraying = true;
    let sprayed = 0;
    const spray = (async () => {
      for (let round = 0; spraying && round < 2000; round++) {
        for (let port = RTP_MIN; port <= RTP_MAX; port++) {
          const packet = rtpPacket(round, { ssrc: 0xbad00000 + port, payload: Buffer.alloc(160, ATTACKER) });
          stranger.socket.send(packet, port, '127.0.0.1');
          onTrunkHost.socket.send(packet, port, '127.0.0.1');
          sprayed += 2;
        }
        await sleep(5);
      }
    })();

    try {
      // The trunk rings for 1.5 s (the spray runs all along), then answers; the user hangs up after 4 s.
      const trunk = await sippServer({ scenario: 'uas-answer.xml', ip: TRUNK_HOST, port: PORTS.trunkSip, vars: { rtp: callee.port }, pauseMs: 1500 });
      const call = sippClient(cg, { scenario: 'uac-answered.xml', dialled: dest, from: user.username, user, rtp: phone.port, localPort: PORTS.phoneSip, pauseMs: 4000 });
      const [toPhone, toTrunk] = await Promise.all([answered(call), answered(trunk)]);

      for (let i = 0; i < 60; i++) {
        await phone.send(rtpPacket(1000 + i, { ssrc: 0x11111111, payload: Buffer.alloc(160, CALLER) }), toPhone.port);
        await callee.send(rtpPacket(5000 + i, { ssrc: 0x22222222, payload: Buffer.alloc(160, CALLEE) }), toTrunk.port);
        await sleep(20);
      }
      await sleep(300);
      spraying = false;
      await spray;

      const atCallee = callee.received.map((r) => marker(r.data));
      const atPhone = phone.received.map((r) => marker(r.data));
      expect(sprayed).toBeGreaterThan(10_000);
      expect(atCallee.filter((m) => m === CALLER).length).toBeGreaterThanOrEqual(50);
      expect(atPhone.filter((m) => m === CALLEE).length).toBeGreaterThanOrEqual(50);
      expect(atCallee.filter((m) => m !== CALLER)).toEqual([]);
      expect(atPhone.filter((m) => m !== CALLEE)).toEqual([]);
      expect(stranger.got.map(marker)).toEqual([]);
      expect(onTrunkHost.got.map(marker)).toEqual([]);

      await expectSuccess(call, 'user phone');
      await expectSuccess(trunk, 'trunk');
    } finally {
      spraying = false;
      await spray;
      await Promise.all([phone.close(), callee.close(), new Promise((ok) => stranger.socket.close(() => ok(undefined))), new Promise((ok) => onTrunkHost.socket.close(() => ok(undefined)))]);
    }
    await gw.expectAlive();
  }, 60_000);
});
