import type { RemoteInfo, Socket } from 'node:dgram';
import { GCProfiler, getHeapStatistics } from 'node:v8';
import { rtpPacket } from '../../test/media/udp-peer';
import { MediaClock } from './media-clock';
import { MediaCounters } from './media-counters';
import type { PortPair } from './port-pool';
import { RelayLeg } from './relay-leg';
import { readMediaEndpoint } from './sdp-rewrite';

/** A socket that keeps its listener and counts sends, so the leg's own code is all that runs. */
function fakeSocket() {
  const socket = {
    listener: null as ((msg: Buffer, rinfo: RemoteInfo) => void) | null,
    sent: 0,
    on(_event: string, fn: (msg: Buffer, rinfo: RemoteInfo) => void) {
      socket.listener = fn;
      return socket;
    },
    off() {
      return socket;
    },
    send() {
      socket.sent++;
    },
  };
  return socket;
}

function fakePair(port: number) {
  const rtp = fakeSocket();
  const rtcp = fakeSocket();
  return { rtp, rtcp, pair: { rtpPort: port, rtcpPort: port + 1, rtp: rtp as unknown as Socket, rtcp: rtcp as unknown as Socket } satisfies PortPair };
}

const sdp = (port: number) => `v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n`;

/** Two legs joined as a session joins them, on fake sockets, each side's SDP applied (side A's at 5000, B's at 6000). */
function joinedLegs(basePort: number, policy?: { allowLoopback: boolean; learningMs: number }, host = '127.0.0.1') {
  const total = new MediaCounters();
  const a = fakePair(basePort);
  const b = fakePair(basePort + 2);
  const clock = new MediaClock();
  const legA = new RelayLeg(a.pair, total, clock, policy);
  const legB = new RelayLeg(b.pair, total, clock, policy);
  legA.peer = legB;
  legB.peer = legA;
  const endpoint = (port: number) => readMediaEndpoint(sdp(port).replace(/127\.0\.0\.1/g, host), policy);
  legA.applyEndpoint(endpoint(5000));
  legB.applyEndpoint(endpoint(6000));
  return { total, a, b, clock, legA, legB };
}

describe('RelayLeg hot path', () => {
  it('allocates nothing per packet: no heap growth and no GC over 200,000 relayed packets', () => {
    const { total, a, b, clock, legA } = joinedLegs(30000, { allowLoopback: true, learningMs: 1000 });
    legA.expectSources(['127.0.0.0/24']);
    // The stranger's packets carry another SSRC: the caller's own, continuing, would be a NAT rebinding.
    const packets = Array.from({ length: 64 }, (_, i) => rtpPacket(i, (i & 15) === 15 ? { ssrc: 0x5eed } : {}));
    const from: RemoteInfo = { address: '127.0.0.1', family: 'IPv4', port: 5000, size: 172 };
    const stranger: RemoteInfo = { address: '127.0.0.1', family: 'IPv4', port: 5999, size: 172 };
    const onRtp = a.rtp.listener!;
    const relay = (n: number) => {
      for (let i = 0; i < n; i++) {
        onRtp(packets[i & 63], (i & 15) === 15 ? stranger : from); // 1 in 16 injected and dropped
      }
    };
    relay(300_000); // warm up until the optimising compiler has the loop
    clock.ms[0] = 1234.5; // the ticking timer is not started here: it is not the hot path

    const profiler = new GCProfiler();
    profiler.start();
    const before = getHeapStatistics().used_heap_size;
    relay(200_000);
    const after = getHeapStatistics().used_heap_size;
    const gcs = profiler.stop()?.statistics.length ?? 0;

    expect(gcs).toBe(0);
    expect((after - before) / 200_000).toBeLessThan(1); // bytes per packet
    expect(b.rtp.sent).toBe(total.rtpPackets);
    expect(total.dropped).toBe(500_000 / 16);
  });
});

describe('RelayLeg send path', () => {
  it('never lets a send error out of the socket handler: dgram throws synchronously, the leg counts it', () => {
    const { total, a, b, legA, legB } = joinedLegs(30010, { allowLoopback: true, learningMs: 0 });
    const throwing = Object.assign(new Error('Port should be > 0 and < 65536. Received type number (70000).'), { code: 'ERR_SOCKET_BAD_PORT' });
    (a.rtp as { send: () => void }).send = () => {
      throw throwing;
    };
    const fromB: RemoteInfo = { address: '127.0.0.1', family: 'IPv4', port: 6000, size: 172 };
    expect(() => b.rtp.listener!(rtpPacket(1), fromB)).not.toThrow();
    expect(legA.counters.sendErrors + legB.counters.sendErrors).toBe(1);
    expect(total.sendErrors).toBe(1);
  });

  it('does not latch to a source port 0 or a forbidden address, so it never sends there', () => {
    const { total, a, b, legA } = joinedLegs(30020, undefined, '198.51.100.10'); // production policy: no loopback
    legA.expectSources(['0.0.0.0/0']);
    for (const [address, port] of [['198.51.100.10', 0], ['127.0.0.1', 5000], ['224.0.0.1', 5000], ['255.255.255.255', 5000]] as const) {
      a.rtp.listener!(rtpPacket(1), { address, port, family: 'IPv4', size: 172 });
    }
    expect(legA.rtp.latched).toBe(false);
    expect(total.dropped).toBe(4);
    expect(b.rtp.sent).toBe(0);
  });
});
