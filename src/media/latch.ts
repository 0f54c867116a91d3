/**
 * Latching of one side's RTP flow: where the relay sends it, and the one source it accepts it
 * from. Imports nothing of the domain. RTCP follows the RTP latch's host (relay-leg.ts).
 *
 * Until the side's first accepted packet the destination is what its SDP declared. Who may then
 * latch the side (become both the source accepted and the destination, so a user behind NAT is
 * reached through its mapping):
 *  1. The exact address and port of the side's SDP: at once. This also takes over from a latch
 *     learnt by rule 2 or 3 (the declared endpoint outranks a guess).
 *  2. A user behind NAT: the SDP names a private address (RFC 1918, RFC 6598) or none, and the
 *     packet comes from an address the signalling expects for the side (`SourceFilter`: the
 *     source of the user's REGISTER or INVITE, a trunk's inbound addresses and host): at once,
 *     from any port, since the NAT picks it.
 *  3. Otherwise an expected address, or the SDP's address from another port (an asymmetric peer,
 *     a SIP ALG that rewrote only the address, or a stranger on that host): only once
 *     `learningMs` has passed since the first such packet without the declared endpoint showing
 *     up (rtpengine's "heuristic" learning: exact match first, address only later). A peer that
 *     sends from where it said within that time can therefore not be raced.
 * Nobody else ever: not a stranger, not a forbidden address (loopback, multicast...; see
 * media-address.ts), not source port 0. Without any expected source and no SDP address (an ICE
 * placeholder; only possible without the calls module's wiring) the first allowed source latches.
 *
 * Before the latch, the relay sends to a private SDP address (RFC 1918, RFC 6598) only when the
 * signalling expects media from it too (a trunk on the operator's network). A user behind NAT
 * cannot be reached there anyway, and otherwise any user could aim a call's media, byte for
 * byte as the other side sent it, at any host and port of the operator's private network.
 *
 * Once latched the side is locked to that source. A new source is accepted only by the NAT
 * rebinding rule (as rtpengine's strict-source with Asterisk's strictrtp learning): the packet
 * comes from an allowed address (an expected one or the SDP's), carries the latched stream's SSRC, and its
 * sequence number continues the stream (1 to 3000 ahead, RFC 3550's MAX_DROPOUT). An off-path
 * attacker sees neither the SSRC (32 random bits) nor the sequence. A new SDP from the side
 * (re-INVITE) resets everything.
 *
 * `admit` runs per packet: it compares and assigns fields, allocating nothing.
 */
import type { RemoteInfo } from 'node:dgram';
import { isForbiddenSource, isPrivate, type SourceFilter } from './media-address';

const MAX_DROPOUT = 3000;

export class Latch {
  address = '';
  /** 0 while there is nowhere to send (no SDP yet, hold, or an ICE placeholder). */
  port = 0;
  latched = false;
  /** Latched to the SDP's own address and port (rule 1). */
  exact = false;
  /** The SDP's endpoint; '' and 0 when it named none. */
  private declaredAddress = '';
  private declaredPort = 0;
  /** The SDP named a private address or none: expected sources latch at once (rule 2). */
  private behindNat = false;
  /** Clock ms when a rule-3 packet first came; -1 before. */
  private learningSince = -1;
  /** SSRC and sequence number of the last RTP packet accepted, -1 before (for the rebinding rule). */
  private ssrc = -1;
  private seq = -1;

  reset(address: string | null, port: number, sources: SourceFilter): void {
    this.address = address ?? '';
    this.port = address === null ? 0 : port;
    this.declaredAddress = this.address;
    this.declaredPort = this.port;
    this.behindNat = this.declaredAddress === '' || isPrivate(this.declaredAddress);
    this.gate(sources);
    this.latched = false;
    this.exact = false;
    this.learningSince = -1;
    this.ssrc = -1;
    this.seq = -1;
  }

  /**
   * True when the RTP packet may pass (see the module comment for the rules); it may latch or
   * re-latch the flow. `now` is the relay clock's ms.
   */
  admit(msg: Buffer, rinfo: RemoteInfo, sources: SourceFilter, allowLoopback: boolean, learningMs: number, now: number): boolean {
    const address = rinfo.address;
    const port = rinfo.port;
    if (this.latched && port === this.port && address === this.address) {
      this.track(msg);
      return true;
    }
    if (port === 0) return false;
    const exact = port === this.declaredPort && address === this.declaredAddress;
    if (this.latched) {
      if ((exact && !this.exact) || this.rebinding(msg, address, sources, allowLoopback)) {
        this.take(address, port, exact);
        this.track(msg);
        return true;
      }
      return false;
    }
    if (!exact) {
      if (!this.allowed(address, sources, allowLoopback)) return false;
      if (!this.behindNat || address === this.declaredAddress) {
        // Rule 3: the declared endpoint may yet speak; a stranger on an allowed host must not win by being first.
        if (this.learningSince < 0) this.learningSince = now;
        if (now - this.learningSince < learningMs) return false;
      }
    } else if (isForbiddenSource(address, allowLoopback)) {
      return false;
    }
    this.take(address, port, exact);
    this.track(msg);
    return true;
  }

  /** Re-applies the private-address rule after the expected sources changed. */
  sourcesChanged(sources: SourceFilter): void {
    if (!this.latched) this.gate(sources);
  }

  private gate(sources: SourceFilter): void {
    this.port = privateUnexpected(this.declaredAddress, sources) ? 0 : this.declaredPort;
  }

  private allowed(address: string, sources: SourceFilter, allowLoopback: boolean): boolean {
    if (isForbiddenSource(address, allowLoopback)) return false;
    if (address === this.declaredAddress || sources.matches(address)) return true;
    return sources.size === 0 && this.declaredAddress === '';
  }

  /** The NAT rebinding rule: same SSRC, continuing sequence, from an allowed address. */
  private rebinding(msg: Buffer, address: string, sources: SourceFilter, allowLoopback: boolean): boolean {
    if (this.ssrc < 0 || !isRtp(msg) || msg.readUInt32BE(8) !== this.ssrc) return false;
    const ahead = (((msg[2] << 8) | msg[3]) - this.seq) & 0xffff;
    return ahead >= 1 && ahead <= MAX_DROPOUT && this.allowed(address, sources, allowLoopback);
  }

  private take(address: string, port: number, exact: boolean): void {
    this.address = address;
    this.port = port;
    this.latched = true;
    this.exact = exact;
  }

  private track(msg: Buffer): void {
    if (!isRtp(msg)) return;
    this.ssrc = msg.readUInt32BE(8);
    this.seq = (msg[2] << 8) | msg[3];
  }
}

/** A private SDP address that signalling does not vouch for: not sent to before a latch. */
function privateUnexpected(address: string, sources: SourceFilter): boolean {
  return address !== '' && isPrivate(address) && !sources.matches(address);
}

/** An RTP packet (version 2, full header) and not RTCP multiplexed on the RTP port (RFC 5761 §4). */
function isRtp(msg: Buffer): boolean {
  if (msg.length < 12 || msg[0] >> 6 !== 2) return false;
  const pt = msg[1] & 0x7f;
  return pt < 72 || pt > 76;
}

/**
 * The RTCP flow of a side: it follows the RTP latch's host. Before RTP has latched, only the
 * SDP's RTCP endpoint may send it (RTCP is sparse, so a latch open to anyone would stay open for
 * long); afterwards any port of the RTP source's host, the last one seen becoming the destination
 * (a NAT maps the RTCP port on its own, and may move it).
 */
export class RtcpLatch {
  address = '';
  port = 0;
  latched = false;
  private declaredAddress = '';
  private declaredPort = 0;

  reset(address: string | null, port: number, sources: SourceFilter): void {
    this.address = address ?? '';
    this.port = address === null ? 0 : port;
    this.declaredAddress = this.address;
    this.declaredPort = this.port;
    this.latched = false;
    this.sourcesChanged(sources);
  }

  /** The private-address rule of Latch, for the RTCP destination. */
  sourcesChanged(sources: SourceFilter): void {
    if (!this.latched) this.port = privateUnexpected(this.declaredAddress, sources) ? 0 : this.declaredPort;
  }

  admit(rinfo: RemoteInfo, rtp: Latch): boolean {
    const address = rinfo.address;
    const port = rinfo.port;
    if (this.latched && port === this.port && address === this.address && (!rtp.latched || address === rtp.address)) return true;
    if (port === 0) return false;
    if (rtp.latched ? address !== rtp.address : port !== this.declaredPort || address !== this.declaredAddress) return false;
    this.address = address;
    this.port = port;
    this.latched = true;
    return true;
  }
}
