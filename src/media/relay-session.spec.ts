import { createSocket } from 'node:dgram';
import { eventually, rtpPacket, sdpFor, UdpPeer } from '../../test/media/udp-peer';
import { MediaError, MediaErrorCode } from './media.errors';
import { MediaRelay } from './media-relay';
import type { RelaySession } from './relay-session';

// Real UDP on loopback. Each describe block uses its own port range so that
// parallel Jest workers and other suites do not collide.
const relayAt = (portMin: number, portMax: number, inactivityTimeoutMs = 0) =>
  new MediaRelay({ publicAddress: '127.0.0.1', bindAddress: '127.0.0.1', portMin, portMax, inactivityTimeoutMs, allowLoopback: true, learningMs: 0 });

describe('RelaySession over real UDP sockets', () => {
  let relay: MediaRelay;
  let session: RelaySession;
  const peers: UdpPeer[] = [];
  const peer = async () => {
    const p = await UdpPeer.open();
    peers.push(p);
    return p;
  };

  beforeEach(async () => {
    relay = relayAt(26000, 26099);
    session = await relay.openSession('call-1');
  });
  afterEach(async () => {
    await relay.close();
    await Promise.all(peers.splice(0).map((p) => p.close()));
  });

  /**
   * A user behind NAT: its SDP names `declared`, but its packets leave from
   * `nat` (another port), as a NAT's mapping would. The trunk is reached as declared.
   */
  async function callWithNatUser() {
    const declared = await peer();
    const nat = await peer();
    const trunk = await peer();
    const trunkRtcp = await peer();
    const toTrunk = session.relaySdp('a', sdpFor(declared.port));
    const toUser = session.relaySdp('b', sdpFor(trunk.port, [`a=rtcp:${trunkRtcp.port}`]));
    return { declared, nat, trunk, trunkRtcp, toTrunk, toUser, a: session.ports('a'), b: session.ports('b') };
  }

  it('relays 172-byte PCMU both ways and latches to the NATed source port, not the SDP one', async () => {
    const { declared, nat, trunk, a, b, toTrunk } = await callWithNatUser();
    expect(toTrunk.sdp).toContain(`m=audio ${b.rtpPort} RTP/AVP 0 101`);

    // Before the user's first packet, trunk media goes to the SDP address.
    await trunk.send(rtpPacket(1), b.rtpPort);
    const early = await declared.next();
    expect(early.data).toEqual(rtpPacket(1));
    expect(early.from.port).toBe(a.rtpPort);

    for (let seq = 10; seq < 20; seq++) {
      const sent = rtpPacket(seq);
      await nat.send(sent, a.rtpPort);
      const atTrunk = await trunk.next();
      expect(atTrunk.data).toEqual(sent);
      expect(atTrunk.data.length).toBe(172);
      expect(atTrunk.from.port).toBe(b.rtpPort); // trunks accept media only from the gateway's side-B port

      const reply = rtpPacket(seq + 1000, { ssrc: 0x55 });
      await trunk.send(reply, b.rtpPort);
      const atUser = await nat.next(); // latched: the NAT mapping, not the declared port
      expect(atUser.data).toEqual(reply);
      expect(atUser.from.port).toBe(a.rtpPort);
    }
    expect(declared.received).toHaveLength(0);
    const stats = session.stats();
    expect(stats.a).toMatchObject({ latched: true, remotePort: nat.port, rtpPackets: 10, rtpBytes: 1720, dropped: 0, packetsLost: 0 });
    expect(stats.b).toMatchObject({ latched: true, remotePort: trunk.port, rtpPackets: 11, rtpBytes: 11 * 172 });
    expect(relay.stats()).toMatchObject({ rtpPackets: 21, rtpBytes: 21 * 172, sessions: 1 });
  });

  it('drops and counts packets injected from a third socket after latching', async () => {
    const { nat, trunk, a } = await callWithNatUser();
    const attacker = await peer();
    await nat.send(rtpPacket(1), a.rtpPort);
    await trunk.next();

    // Another SSRC: the same one with a continuing sequence would be the NAT rebinding rule (latch.spec.ts).
    await attacker.send(rtpPacket(666, { ssrc: 0x66666666, payload: Buffer.from('injected') }), a.rtpPort);
    await eventually(() => session.stats().a.dropped === 1);
    await nat.send(rtpPacket(2), a.rtpPort);
    expect((await trunk.next()).data).toEqual(rtpPacket(2));
    expect(trunk.received).toHaveLength(0);
    expect(session.stats().a).toMatchObject({ dropped: 1, rtpPackets: 2, remotePort: nat.port });
    expect(relay.stats().dropped).toBe(1);
  });

  it('re-latches only after a re-offer from that side, which may also move it to a new address', async () => {
    const { nat, trunk, a } = await callWithNatUser();
    const moved = await peer();
    await nat.send(rtpPacket(1), a.rtpPort);
    await trunk.next();
    await moved.send(rtpPacket(2, { ssrc: 0x77 }), a.rtpPort);
    await eventually(() => session.stats().a.dropped === 1);

    session.relaySdp('a', sdpFor(moved.port)); // re-offer: same session, same ports
    expect(session.ports('a')).toEqual(a);
    await moved.send(rtpPacket(3, { ssrc: 0x77 }), a.rtpPort);
    expect((await trunk.next()).data).toEqual(rtpPacket(3, { ssrc: 0x77 }));
    await trunk.send(rtpPacket(4), session.ports('b').rtpPort);
    expect((await moved.next()).data).toEqual(rtpPacket(4));
    expect(session.stats().a.remotePort).toBe(moved.port);
  });

  it('relays RTCP between the RTCP ports, to the a=rtcp port the trunk declared', async () => {
    const { nat, trunk, trunkRtcp, a, b } = await callWithNatUser();
    const natRtcp = await peer();
    // RTCP follows the RTP latch's host: the user's RTP comes first.
    await nat.send(rtpPacket(1), a.rtpPort);
    await trunk.next();
    const receiverReport = Buffer.from('81c90007000000010000000000000000000000000000000000000000000000', 'hex');
    await natRtcp.send(receiverReport, a.rtcpPort);
    const atTrunk = await trunkRtcp.next();
    expect(atTrunk.data).toEqual(receiverReport);
    expect(atTrunk.from.port).toBe(b.rtcpPort);

    await trunkRtcp.send(receiverReport, b.rtcpPort);
    expect((await natRtcp.next()).data).toEqual(receiverReport); // latched RTCP source of the user
    expect(session.stats().a).toMatchObject({ rtcpPackets: 1, rtcpBytes: receiverReport.length });
    expect(nat.received).toHaveLength(0);
  });

  it('passes RFC 4733 telephone-event packets through byte for byte', async () => {
    const { nat, trunk, a } = await callWithNatUser();
    // Digit 5, end bit, volume 10, duration 800, marker bit set: as phones send it.
    const dtmf = rtpPacket(77, { pt: 101 | 0x80, timestamp: 123456, payload: Buffer.from([5, 0x8a, 0x03, 0x20]) });
    for (let i = 0; i < 3; i++) await nat.send(dtmf, a.rtpPort); // end packets are sent three times
    for (let i = 0; i < 3; i++) expect((await trunk.next()).data.equals(dtmf)).toBe(true);
  });

  it('counts loss and jitter from RTP sequence numbers and timestamps', async () => {
    const { nat, trunk, a } = await callWithNatUser();
    for (const seq of [1, 2, 3, 5, 6, 9, 10]) {
      await nat.send(rtpPacket(seq), a.rtpPort);
      await trunk.next();
    }
    const stats = session.stats().a;
    // Probation takes the first packet (RFC 3550 §A.1); 2..10 expected, 4, 7 and 8 missing.
    expect(stats).toMatchObject({ packetsExpected: 9, packetsLost: 3 });
    expect(stats.jitterMs).toBeGreaterThan(0);
  });

  it('sends no RTP to a side that holds or asked not to receive, and counts what it kept back', async () => {
    const { nat, trunk, a } = await callWithNatUser();
    session.relaySdp('b', sdpFor(trunk.port, ['a=sendonly']));
    await nat.send(rtpPacket(1), a.rtpPort);
    await eventually(() => session.stats().a.unsent === 1);
    session.relaySdp('b', sdpFor(trunk.port, [], '0.0.0.0'));
    await nat.send(rtpPacket(2), a.rtpPort);
    await eventually(() => session.stats().a.unsent === 2);
    session.relaySdp('b', sdpFor(trunk.port)); // resume
    await nat.send(rtpPacket(3), a.rtpPort);
    expect((await trunk.next()).data).toEqual(rtpPacket(3));
    expect(trunk.received).toHaveLength(0);
  });

  it('drops packets to a side that has sent no SDP yet, so nobody latches it first', async () => {
    const stranger = await peer();
    await stranger.send(rtpPacket(1), session.ports('b').rtpPort);
    await eventually(() => session.stats().b.dropped === 1);
    expect(session.stats().b.latched).toBe(false);
  });

  it('returns both port pairs when the session ends, and the ports bind again', async () => {
    const before = relay.pool.available;
    const ports = [session.ports('a'), session.ports('b')];
    const closed = new Promise((resolve) => session.once('closed', resolve));
    await session.close();
    await closed;
    expect(relay.pool.available).toBe(before + 2);
    expect(relay.pool.available).toBe(relay.pool.size);
    expect(relay.sessionCount).toBe(0);
    for (const { rtpPort, rtcpPort } of ports) {
      for (const port of [rtpPort, rtcpPort]) {
        const socket = await UdpPeer.open(port);
        expect(socket.port).toBe(port);
        await socket.close();
      }
    }
    expect(() => session.relaySdp('a', sdpFor(5000))).toThrow(MediaError);
  });
});

describe('MediaRelay inactivity', () => {
  it('raises inactive when neither side sends for the timeout', async () => {
    const relay = relayAt(26100, 26119, 100);
    const quiet = await relay.openSession('quiet');
    const idle = await new Promise<number>((resolve) => quiet.once('inactive', (_s, ms) => resolve(ms)));
    expect(idle).toBeGreaterThanOrEqual(100);
    await relay.close();
  });

  it('counts silence only between packets, reports it once, and re-arms when media comes back', async () => {
    const relay = relayAt(26120, 26139, 0); // no timer: the test drives the check by hand
    const session = await relay.openSession('manual');
    const phone = await UdpPeer.open();
    const trunk = await UdpPeer.open();
    session.relaySdp('a', sdpFor(phone.port));
    session.relaySdp('b', sdpFor(trunk.port));
    const events: number[] = [];
    session.on('inactive', (_s, ms) => events.push(ms));
    const packetThrough = async (seq: number) => {
      await phone.send(rtpPacket(seq), session.ports('a').rtpPort);
      await trunk.next();
    };

    session.checkActivity(0, 100); // baseline
    await packetThrough(1);
    session.checkActivity(60, 100);
    await packetThrough(2);
    session.checkActivity(60, 100); // media kept flowing: 60 ms gaps never add up
    expect(events).toEqual([]);
    session.checkActivity(60, 100);
    session.checkActivity(60, 100);
    session.checkActivity(60, 100);
    expect(events).toEqual([120]);
    await packetThrough(3);
    session.checkActivity(60, 100);
    session.checkActivity(60, 100);
    session.checkActivity(60, 100);
    expect(events).toEqual([120, 120]);
    await relay.close();
    await Promise.all([phone.close(), trunk.close()]);
  });
});

describe('RelaySession.restartSilence', () => {
  it('re-arms the report: silence already reported while ringing is reported again after the answer', async () => {
    const relay = relayAt(26140, 26159, 0);
    const session = await relay.openSession('ringing');
    const events: number[] = [];
    session.on('inactive', (_s, ms) => events.push(ms));
    session.checkActivity(0, 100);
    session.checkActivity(60, 100);
    session.checkActivity(60, 100); // silent while ringing: reported once
    session.checkActivity(60, 100);
    expect(events).toEqual([120]);
    session.restartSilence(); // answered
    session.checkActivity(60, 100);
    expect(events).toEqual([120]);
    session.checkActivity(60, 100);
    expect(events).toEqual([120, 120]);
    await relay.close();
  });
});

describe('PortPool', () => {
  it('reports exhaustion as a typed error and gives back the half-taken pair', async () => {
    const relay = relayAt(26200, 26205); // three pairs: 26200, 26202, 26204
    expect(relay.pool.size).toBe(3);
    const first = await relay.openSession('one');
    const error = await relay.openSession('two').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MediaError);
    expect((error as MediaError).code).toBe(MediaErrorCode.PortsExhausted);
    expect(relay.pool.available).toBe(1);
    await first.close();
    expect(relay.pool.available).toBe(3);
    await relay.close();
  });

  it('skips a pair whose port another program holds', async () => {
    const squatter = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      squatter.once('error', reject);
      squatter.bind(26301, '127.0.0.1', () => resolve());
    });
    const relay = relayAt(26300, 26305);
    const session = await relay.openSession('skip');
    const used = [session.ports('a').rtpPort, session.ports('b').rtpPort].sort();
    expect(used).toEqual([26302, 26304]);
    await relay.close();
    expect(relay.pool.available).toBe(3);
    squatter.close();
  });

  it('rejects a range without an even/odd pair', () => {
    expect(() => relayAt(26401, 26401)).toThrow(RangeError);
  });
});
