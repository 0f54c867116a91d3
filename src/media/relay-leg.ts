/**
 * One side of a relayed call (side A = user, side B = trunk): its port pair on
 * the gateway, where its media goes, symmetric latching, and its counters.
 * Imports nothing of the domain.
 *
 * Hot path (`onRtp`/`onRtcp`, run for every datagram): the listeners are bound
 * once in the constructor, the destination is kept in plain fields of a Latch
 * made once, dgram's lookup answers IP literals at once (see port-pool), counters
 * and RTP statistics are numbers written in place, the arrival time is read from
 * a MediaClock slot (the clock functions allocate), and `send` is called without
 * a callback, so this code creates no closure, object or Buffer per packet; the
 * received Buffer is sent on as is (payloads, DTMF included, are never
 * rewritten). What remains is dgram's own work: the Buffer and rinfo of each
 * received datagram and the send request of each sent one. relay-leg.spec.ts
 * checks it: no heap growth and no GC over 200,000 packets.
 *
 * Who may latch the side, and move it later, is latch.ts's rule; `expectSources` gives it the
 * addresses signalling knows for the side. Sending can never throw out of the socket handler:
 * destinations are checked where they are learnt (sdp-rewrite.ts for SDP, the latch for packet
 * sources: no port 0, no forbidden address), and `send` itself is guarded, a failure counted.
 */
import type { RemoteInfo } from 'node:dgram';
import { Latch, RtcpLatch } from './latch';
import { SourceFilter } from './media-address';
import type { MediaClock } from './media-clock';
import { MediaCounters } from './media-counters';
import type { PortPair } from './port-pool';
import { RtpStreamStats } from './rtp-stream-stats';
import type { MediaEndpoint } from './sdp-rewrite';
import type { RtpSink } from './webrtc-leg';

export class RelayLeg {
  readonly counters = new MediaCounters();
  readonly rtpStats: RtpStreamStats;
  /** The leg that packets received here are sent out of. Set once by the session. */
  peer: RelayLeg | null = null;
  /** Set when the other side is a browser (webrtc-leg.ts): RTP goes there instead of to `peer`; RTCP stays here. */
  toWebRtc: RtpSink | null = null;
  /** Bumped on every accepted packet; the session's inactivity check compares it. */
  activity = 0;

  /** Where this side's RTP and RTCP go, and the sources they are accepted from. */
  readonly rtp = new Latch();
  readonly rtcp = new RtcpLatch();
  /** Addresses signalling expects this side's media from (latch.ts, rule 2). */
  readonly sources = new SourceFilter();
  private readonly now: Float64Array;
  /** The side asked for RTP (sendrecv/recvonly, not held). RTCP flows on hold too (RFC 3264 §8.4). */
  receivesRtp = false;
  /** An SDP has been applied; before it, nothing is known of this side and nothing latches. */
  private known = false;

  constructor(
    readonly pair: PortPair,
    private readonly total: MediaCounters,
    clock: MediaClock,
    private readonly policy: { readonly allowLoopback: boolean; readonly learningMs: number } = { allowLoopback: false, learningMs: 1000 },
  ) {
    this.now = clock.ms;
    this.rtpStats = new RtpStreamStats(clock);
    this.onRtp = this.onRtp.bind(this);
    this.onRtcp = this.onRtcp.bind(this);
    pair.rtp.on('message', this.onRtp);
    pair.rtcp.on('message', this.onRtcp);
  }

  /**
   * Takes what the side's SDP declares (first offer/answer or a re-offer): the
   * new address is the destination and latching starts again, as the only way
   * to move a latched side is an explicit new SDP through signalling.
   */
  applyEndpoint(endpoint: MediaEndpoint): void {
    this.known = true;
    this.rtp.reset(endpoint.address, endpoint.rtpPort, this.sources);
    this.rtcp.reset(endpoint.rtcpAddress, endpoint.rtcpPort, this.sources);
    this.receivesRtp = endpoint.receives;
    this.rtpStats.setClockRates(endpoint.payloads);
  }

  /** The addresses (CIDRs) signalling expects this side's media from; replaces the previous set. */
  expectSources(cidrs: readonly string[]): void {
    this.sources.set(cidrs);
    this.rtp.sourcesChanged(this.sources);
    this.rtcp.sourcesChanged(this.sources);
  }

  private onRtp(msg: Buffer, rinfo: RemoteInfo): void {
    // Before any SDP from this side nobody is entitled to latch it.
    const policy = this.policy;
    if (!this.known || !this.rtp.admit(msg, rinfo, this.sources, policy.allowLoopback, policy.learningMs, this.now[0])) return this.drop();
    this.counters.countRtp(msg.length);
    this.total.countRtp(msg.length);
    this.activity++;
    this.rtpStats.update(msg);
    const web = this.toWebRtc;
    if (web !== null) return web.sendRtp(msg) ? undefined : this.notSent();
    const to = this.peer!;
    if (to.rtp.port === 0 || !to.receivesRtp) return this.notSent();
    this.send(to.pair.rtp, msg, to.rtp.port, to.rtp.address);
  }

  private onRtcp(msg: Buffer, rinfo: RemoteInfo): void {
    // RTCP follows the RTP latch's host (latch.ts, RtcpLatch).
    if (!this.known || !this.rtcp.admit(rinfo, this.rtp)) return this.drop();
    this.counters.countRtcp(msg.length);
    this.total.countRtcp(msg.length);
    this.activity++;
    const to = this.peer!;
    // Towards a browser, the WebRTC stack makes its own RTCP; the trunk's reports name SSRCs it never saw.
    if (to.rtcp.port === 0 || this.toWebRtc !== null) return this.notSent();
    this.send(to.pair.rtcp, msg, to.rtcp.port, to.rtcp.address);
  }

  /** Sends a packet from a WebRTC peer out to this side's latched destination; false when the side takes none now. */
  sendRtp(msg: Buffer): boolean {
    if (this.rtp.port === 0 || !this.receivesRtp) return false;
    this.send(this.pair.rtp, msg, this.rtp.port, this.rtp.address);
    return true;
  }

  /** dgram throws synchronously for a bad port or a closed socket: never out of a socket handler. */
  private send(socket: PortPair['rtp'], msg: Buffer, port: number, address: string): void {
    try {
      socket.send(msg, port, address);
    } catch {
      // Counted, not logged: this runs per packet. A closed socket during teardown is the expected case.
      this.counters.sendErrors++;
      this.total.sendErrors++;
    }
  }

  // Small methods rather than inline increments; V8 inlines them on the hot path.
  private drop(): void {
    this.counters.dropped++;
    this.total.dropped++;
  }

  private notSent(): void {
    this.counters.unsent++;
    this.total.unsent++;
  }

  /** Stops listening; the session then gives the pair back to the pool. */
  detach(): void {
    this.pair.rtp.off('message', this.onRtp);
    this.pair.rtcp.off('message', this.onRtcp);
  }
}
