import type { RemoteInfo } from 'node:dgram';
import { rtpPacket } from '../../test/media/udp-peer';
import { Latch, RtcpLatch } from './latch';
import { SourceFilter } from './media-address';

const from = (address: string, port: number): RemoteInfo => ({ address, port, family: 'IPv4', size: 172 });
const LEARN = 1000;

/** A latch whose SDP named 198.51.100.10:4000, with the given expected sources (signalling). */
function latchFor(sources: string[] = [], declared: [string | null, number] = ['198.51.100.10', 4000]) {
  const latch = new Latch();
  const filter = new SourceFilter();
  filter.set(sources);
  latch.reset(declared[0], declared[1], filter);
  let now = 0;
  const admit = (address: string, port: number, packet = rtpPacket(1), allowLoopback = false) => latch.admit(packet, from(address, port), filter, allowLoopback, LEARN, now);
  return { latch, admit, advance: (ms: number) => (now += ms) };
}

describe('Latch: who may latch a side', () => {
  it('latches at once to the exact SDP endpoint, and then drops everyone else', () => {
    const { latch, admit } = latchFor();
    expect(admit('198.51.100.10', 4000)).toBe(true);
    expect(latch).toMatchObject({ latched: true, exact: true, address: '198.51.100.10', port: 4000 });
    expect(admit('203.0.113.66', 4000, rtpPacket(2, { ssrc: 9 }))).toBe(false);
    expect(admit('198.51.100.10', 4002, rtpPacket(2, { ssrc: 9 }))).toBe(false);
  });

  it('never latches to a stranger outside the expected sources and the SDP address, however long it sprays', () => {
    const { latch, admit, advance } = latchFor(['192.0.2.0/24']);
    for (let i = 0; i < 100; i++) {
      expect(admit('203.0.113.66', 40000 + i)).toBe(false);
      advance(100);
    }
    expect(latch.latched).toBe(false);
    expect(latch.port).toBe(4000); // still sending where the SDP said
  });

  it('latches a user behind NAT at once from an expected (signalling) address on any port', () => {
    const { latch, admit } = latchFor(['192.0.2.7'], ['10.0.0.5', 4000]);
    expect(admit('192.0.2.7', 61000)).toBe(true);
    expect(latch).toMatchObject({ latched: true, exact: false, address: '192.0.2.7', port: 61000 });
  });

  it('makes an expected (signalling) address wait the learning time when the SDP names a public address', () => {
    const { latch, admit, advance } = latchFor(['192.0.2.7']); // a trunk's SIP host; its SDP names its media server
    expect(admit('192.0.2.7', 5000)).toBe(false);
    expect(admit('198.51.100.10', 4000)).toBe(true); // the media server speaks in time
    expect(latch.exact).toBe(true);
    advance(LEARN);
    expect(admit('192.0.2.7', 5000, rtpPacket(2, { ssrc: 5 }))).toBe(false);
  });

  it('lets the SDP host speak from another port only after the learning time, and the declared port takes over after', () => {
    const { latch, admit, advance } = latchFor();
    expect(admit('198.51.100.10', 5555)).toBe(false); // a stranger on the same host must not win by being first
    advance(LEARN - 1);
    expect(admit('198.51.100.10', 5555)).toBe(false);
    advance(1);
    expect(admit('198.51.100.10', 5555)).toBe(true); // an asymmetric peer, after all
    expect(latch).toMatchObject({ latched: true, exact: false, port: 5555 });
    expect(admit('198.51.100.10', 4000, rtpPacket(7, { ssrc: 1 }))).toBe(true); // the declared endpoint outranks the guess
    expect(latch).toMatchObject({ exact: true, port: 4000 });
    expect(admit('198.51.100.10', 5555, rtpPacket(8, { ssrc: 2 }))).toBe(false);
  });

  it('moves a latched side only for the same SSRC with a continuing sequence from an allowed address (NAT rebinding)', () => {
    const { latch, admit } = latchFor(['192.0.2.7'], ['10.0.0.5', 4000]);
    expect(admit('192.0.2.7', 61000, rtpPacket(100, { ssrc: 0xabcdef01 }))).toBe(true);
    expect(admit('192.0.2.7', 62000, rtpPacket(101, { ssrc: 0x1 }))).toBe(false); // another stream
    expect(admit('192.0.2.7', 62000, rtpPacket(100, { ssrc: 0xabcdef01 }))).toBe(false); // a replay
    expect(admit('192.0.2.7', 62000, rtpPacket(5000, { ssrc: 0xabcdef01 }))).toBe(false); // too far ahead
    expect(admit('203.0.113.66', 62000, rtpPacket(102, { ssrc: 0xabcdef01 }))).toBe(false); // right stream, wrong host
    expect(admit('192.0.2.7', 62000, rtpPacket(102, { ssrc: 0xabcdef01 }))).toBe(true);
    expect(latch).toMatchObject({ address: '192.0.2.7', port: 62000 });
    expect(admit('192.0.2.7', 61000, rtpPacket(103, { ssrc: 0x1 }))).toBe(false); // the old mapping is gone
  });

  it('never latches to port 0, loopback (unless allowed), multicast or broadcast sources', () => {
    const { latch, admit } = latchFor(['0.0.0.0/0'], [null, 0]);
    expect(admit('192.0.2.7', 0)).toBe(false);
    expect(admit('127.0.0.1', 5000)).toBe(false);
    expect(admit('224.0.0.1', 5000)).toBe(false);
    expect(admit('255.255.255.255', 5000)).toBe(false);
    expect(latch.latched).toBe(false);
    expect(admit('127.0.0.1', 5000, rtpPacket(1), true)).toBe(true);
  });

  it('learns from anyone allowed only when neither signalling nor SDP named an address', () => {
    expect(latchFor([], [null, 0]).admit('203.0.113.9', 7000)).toBe(true);
    expect(latchFor(['192.0.2.7'], [null, 0]).admit('203.0.113.9', 7000)).toBe(false);
  });

  it('sends to a private SDP address before the latch only when signalling expects media from it', () => {
    expect(latchFor(['192.0.2.7'], ['10.0.0.5', 4000]).latch.port).toBe(0); // a user behind NAT: wait for its packets
    expect(latchFor(['10.0.0.0/24'], ['10.0.0.5', 4000]).latch.port).toBe(4000); // a trunk on the operator's network
    expect(latchFor([], ['198.51.100.10', 4000]).latch.port).toBe(4000);
    const { latch, admit } = latchFor(['192.0.2.7'], ['10.0.0.5', 4000]);
    expect(admit('192.0.2.7', 61000)).toBe(true);
    expect(latch).toMatchObject({ address: '192.0.2.7', port: 61000 });
  });

  it('resets on a new SDP', () => {
    const { latch, admit } = latchFor();
    admit('198.51.100.10', 4000);
    latch.reset('198.51.100.20', 4100, new SourceFilter());
    expect(latch).toMatchObject({ latched: false, address: '198.51.100.20', port: 4100 });
    expect(admit('198.51.100.10', 4000)).toBe(false);
  });
});

describe('RtcpLatch: RTCP follows the RTP latch', () => {
  it('takes only the SDP RTCP endpoint before RTP latched, then any port of the RTP host and nothing else', () => {
    const none = new SourceFilter();
    const rtp = new Latch();
    rtp.reset('198.51.100.10', 4000, none);
    const rtcp = new RtcpLatch();
    rtcp.reset('198.51.100.10', 4001, none);
    expect(rtcp.admit(from('198.51.100.10', 4003), rtp)).toBe(false);
    expect(rtcp.admit(from('198.51.100.10', 4001), rtp)).toBe(true);
    const filter = new SourceFilter();
    filter.set(['192.0.2.7']);
    expect(rtp.admit(rtpPacket(1), from('192.0.2.7', 61000), filter, false, LEARN, 0)).toBe(false); // learning
    expect(rtp.admit(rtpPacket(2), from('192.0.2.7', 61000), filter, false, LEARN, LEARN)).toBe(true);
    expect(rtcp.admit(from('198.51.100.10', 4001), rtp)).toBe(false); // no longer the RTP host
    expect(rtcp.admit(from('203.0.113.66', 61001), rtp)).toBe(false);
    expect(rtcp.admit(from('192.0.2.7', 61001), rtp)).toBe(true);
    expect(rtcp).toMatchObject({ address: '192.0.2.7', port: 61001 });
  });
});
