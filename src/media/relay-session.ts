/**
 * A relay session: the media of one bridged call, side A (the user) and side B
 * (the trunk), each on its own port pair. Imports nothing of the domain.
 *
 * The call flow hands it each SDP a side sends (`relaySdp`) and forwards the
 * rewritten SDP to the other side; re-offers use the same session and ports.
 * It emits `inactive` when neither side sent media for the relay's inactivity
 * timeout, and `closed` once its ports are back in the pool.
 * The call flow also says where each side's media may come from (`expectSources`, latch.ts).
 *
 * A side is a plain RTP leg (RelayLeg) or a WebRTC leg (webrtc-leg.ts, a browser): the session
 * keeps both plain port pairs for its life, and a WebRTC leg takes a side's place when the caller's
 * SDP is WebRTC (`acceptWebRtc`) or a browser branch of a fork answers (`offerToBrowser`, then
 * `relaySdp(..., branch)`). The SDP each side gets is converted by webrtc-sdp.ts: browsers get
 * ICE/DTLS-SRTP with G.711, plain sides get RTP/AVP with G.711 (Opus stays on the browser side).
 */
import { EventEmitter } from 'node:events';
import { MediaError, MediaErrorCode } from './media.errors';
import type { MediaCounterValues } from './media-counters';
import { RelayLeg } from './relay-leg';
import { rewriteSdp, type AddressPolicy, type Direction, type MediaEndpoint, type PayloadType, type RewrittenSdp } from './sdp-rewrite';
import { WebRtcLeg, type RtpSink } from './webrtc-leg';
import { g711ForBrowser, g711Of, isWebRtcSdp, plainSdp, readWebRtcSdp, reverse, sameTransport, type WebRtcEndpoint } from './webrtc-sdp';

/** Makes WebRTC legs (the relay's options, counters and clock); absent when WebRTC is off. */
export interface WebRtcLegFactory {
  answer(offerSdp: string, offer: WebRtcEndpoint): Promise<WebRtcLeg>;
  offer(payloads: readonly PayloadType[], direction: Direction): Promise<WebRtcLeg>;
}

/** Where a plain leg that carries no side's media sends: nowhere (counted as not sent). */
const NOWHERE: RtpSink = { sendRtp: () => false };

/** A side's leg: plain RTP, or a browser's WebRTC. */
export type SideLeg = RelayLeg | WebRtcLeg;

export type Side = 'a' | 'b';

export interface LegStats extends MediaCounterValues {
  readonly rtpPort: number;
  readonly rtcpPort: number;
  /** Where this side's media is sent now; empty before SDP or on hold. */
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly latched: boolean;
  /** RFC 3550 §A.3 cumulative loss of the RTP this side sent. */
  readonly packetsLost: number;
  readonly packetsExpected: number;
  /** RFC 3550 §A.8 interarrival jitter, in ms. */
  readonly jitterMs: number;
}

export interface SessionStats {
  readonly id: string;
  /** Which kind of leg each side is. */
  readonly kinds: { readonly a: 'rtp' | 'webrtc'; readonly b: 'rtp' | 'webrtc' };
  readonly a: LegStats;
  readonly b: LegStats;
}

export interface RelaySessionEvents {
  inactive: [session: RelaySession, idleMs: number];
  closed: [session: RelaySession, stats: SessionStats];
}

export class RelaySession extends EventEmitter<RelaySessionEvents> {
  private closing: Promise<void> | null = null;
  private lastActivity = -1;
  private idleMs = 0;
  private reportedIdle = false;
  private a: SideLeg;
  private b: SideLeg;
  /** WebRTC legs offered to browser branches of a fork, by branch id, until one answers. */
  private readonly branches = new Map<string, WebRtcLeg>();
  /** The payloads the caller offered, for offers to browser branches. */
  private callerPayloads: readonly PayloadType[] = [];
  private callerDirection: Direction = 'sendrecv';
  private readonly sdpId = String(Date.now());
  private sdpVersion = 0;

  constructor(
    readonly id: string,
    private readonly publicAddress: string,
    private readonly plainA: RelayLeg,
    private readonly plainB: RelayLeg,
    private readonly releaseLegs: (session: RelaySession) => Promise<void>,
    private readonly policy: AddressPolicy = { allowLoopback: false },
    private readonly webrtc?: WebRtcLegFactory,
  ) {
    super();
    this.a = plainA;
    this.b = plainB;
    plainA.peer = plainB;
    plainB.peer = plainA;
  }

  /** Whether an SDP is a browser's (WebRTC), to be answered with `acceptWebRtc`. */
  static isWebRtc(sdp: string): boolean {
    return isWebRtcSdp(sdp);
  }

  /** Which kind of leg a side is now. */
  kind(side: Side): 'rtp' | 'webrtc' {
    return this.leg(side) instanceof WebRtcLeg ? 'webrtc' : 'rtp';
  }

  /**
   * A browser's offer on side `from` (a browser caller): the side becomes a WebRTC leg that answers
   * it once ICE gathering is complete; returns the plain RTP/AVP offer for the other side (G.711 and
   * telephone-event only). MediaError(UnsupportedSdp) with the reason for a bad or G.711-less offer.
   */
  async acceptWebRtc(from: Side, sdp: string): Promise<string> {
    if (this.closed) throw new MediaError(MediaErrorCode.SessionClosed, `relay session ${this.id} is closed`);
    if (!this.webrtc) throw new MediaError(MediaErrorCode.UnsupportedSdp, 'WebRTC media is not enabled on this gateway');
    const offer = readWebRtcSdp(sdp, this.policy);
    const leg = await this.webrtc.answer(sdp, offer);
    if (this.closed) {
      leg.close();
      throw new MediaError(MediaErrorCode.SessionClosed, `relay session ${this.id} is closed`);
    }
    this.setLeg(from, leg);
    if (from === 'a') {
      this.callerPayloads = offer.payloads;
      this.callerDirection = offer.direction;
    }
    return this.plainFor(from === 'a' ? 'b' : 'a', offer.payloads, offer.direction);
  }

  /**
   * A browser branch of the ring (a user's device registered over WebSocket): a WebRTC leg of its
   * own that offers the caller's G.711 codecs; its answer comes back through `relaySdp('b', sdp, branch)`.
   * Each browser branch has its own leg, so a fork to a browser and a softphone rings both.
   */
  async offerToBrowser(branch: string): Promise<string> {
    if (this.closed) throw new MediaError(MediaErrorCode.SessionClosed, `relay session ${this.id} is closed`);
    if (!this.webrtc) throw new MediaError(MediaErrorCode.UnsupportedSdp, 'WebRTC media is not enabled on this gateway');
    const payloads = g711ForBrowser(this.callerPayloads);
    const leg = await this.webrtc.offer(payloads, this.callerDirection);
    if (this.closed) {
      leg.close();
      throw new MediaError(MediaErrorCode.SessionClosed, `relay session ${this.id} is closed`);
    }
    this.branches.get(branch)?.close();
    this.branches.set(branch, leg);
    return leg.sdp();
  }

  /** A browser branch that did not win (cancelled, failed): its peer connection is closed. */
  dropBranch(branch: string): void {
    const leg = this.branches.get(branch);
    if (!leg) return;
    this.branches.delete(branch);
    if (leg !== this.b) leg.close();
  }

  get closed(): boolean {
    return this.closing !== null;
  }

  /** The relay's plain ports on one side: what a plain side sees in the SDP it receives. */
  ports(side: Side): { rtpPort: number; rtcpPort: number } {
    const leg = side === 'a' ? this.plainA : this.plainB;
    return { rtpPort: leg.pair.rtpPort, rtcpPort: leg.pair.rtcpPort };
  }

  /**
   * Takes an SDP (offer, answer or re-offer) sent by `from` and returns it
   * rewritten for the other side: the relay's public address and the ports it
   * listens on towards that other side. The sender's declared address becomes
   * where its media goes, and its latching starts again.
   */
  relaySdp(from: Side, sdp: string, branch?: string | null): RewrittenSdp {
    if (this.closed) throw new MediaError(MediaErrorCode.SessionClosed, `relay session ${this.id} is closed`);
    const to: Side = from === 'a' ? 'b' : 'a';
    // `branch` (callee SDP in a ring): a browser branch's id, or null for the plain leg all other branches share.
    if (from === 'b' && branch !== undefined) this.chooseCallee(branch);
    const sender = this.leg(from);
    if (sender instanceof WebRtcLeg) return this.fromBrowser(sender, to, sdp);
    const plainTowards = to === 'a' ? this.plainA : this.plainB;
    const rewritten = rewriteSdp(sdp, {
      address: this.publicAddress,
      rtpPort: plainTowards.pair.rtpPort,
      rtcpPort: plainTowards.pair.rtcpPort,
    }, this.policy);
    this.applyEndpoint(from, rewritten.remote);
    if (from === 'a') {
      this.callerPayloads = rewritten.remote.payloads;
      this.callerDirection = rewritten.remote.direction;
    }
    const receiver = this.leg(to);
    if (receiver instanceof WebRtcLeg) {
      // A plain side answers (or re-offers to) a browser: the browser gets our WebRTC SDP, cut to what the plain side kept.
      receiver.restrict(g711Of(rewritten.remote.payloads).map((p) => p.payload), reverse(rewritten.remote.direction));
      return { sdp: receiver.sdp(), remote: rewritten.remote };
    }
    return rewritten;
  }

  /** An SDP from a browser side (its answer, or a re-offer): checked, and converted for the other side. */
  private fromBrowser(sender: WebRtcLeg, to: Side, sdp: string): RewrittenSdp {
    const declared = readWebRtcSdp(sdp, this.policy);
    if (sender.remote && !sameTransport(sender.remote, declared)) {
      throw new MediaError(MediaErrorCode.UnsupportedSdp, 'a new ICE or DTLS session (ICE restart) is not supported mid-call');
    }
    // A browser's answer to our offer speaks in the offer's terms: the caller's codecs and payload
    // numbers (a browser that renumbers is mapped back by codec name and rate).
    const answering = sender.role === 'offerer' && sender.remote === undefined;
    const payloads = answering ? inTermsOf(declared.payloads, this.callerPayloads) : declared.payloads;
    if (answering && !payloads.some((p) => p.codec.toUpperCase() !== 'TELEPHONE-EVENT')) {
      throw new MediaError(MediaErrorCode.UnsupportedSdp, 'the browser answered no codec the caller offered');
    }
    sender.acceptAnswer(sdp, declared);
    const remote = browserEndpoint({ ...declared, payloads });
    const receiver = this.leg(to);
    if (receiver instanceof WebRtcLeg) {
      // Browser to browser: each browser keeps its own DTLS session with the gateway.
      receiver.restrict(payloads.map((p) => p.payload), reverse(declared.direction));
      return { sdp: receiver.sdp(), remote };
    }
    return { sdp: this.plainFor(to, payloads, declared.direction), remote };
  }

  /** The plain RTP/AVP SDP a plain side gets for a browser's codecs and direction, on that side's relay ports. */
  private plainFor(side: Side, payloads: readonly PayloadType[], direction: Direction): string {
    const leg = side === 'a' ? this.plainA : this.plainB;
    return plainSdp({
      address: this.publicAddress,
      rtpPort: leg.pair.rtpPort,
      payloads,
      direction,
      sessionId: this.sdpId,
      version: this.sdpVersion++,
    });
  }

  /**
   * Side b is the branch that sent this SDP: a browser branch's WebRTC leg, or the plain leg shared
   * by every plain branch. The other browser branches stay until they are dropped or the call ends.
   */
  private chooseCallee(branch: string | null): void {
    const leg = branch === null ? undefined : this.branches.get(branch);
    const next: SideLeg = leg ?? this.plainB;
    if (next !== this.b) this.setLeg('b', next);
  }

  private setLeg(side: Side, leg: SideLeg): void {
    const before = this.leg(side);
    if (before instanceof WebRtcLeg) before.peer = null;
    if (side === 'a') this.a = leg;
    else this.b = leg;
    this.link();
  }

  /**
   * Points each side's packets at the other side's current leg. A plain leg whose side is now a
   * browser's relays nothing (its port was never the one in use, or no longer is).
   */
  private link(): void {
    const { a, b } = this;
    this.plainA.toWebRtc = a === this.plainA ? (b instanceof WebRtcLeg ? b : null) : NOWHERE;
    this.plainB.toWebRtc = b === this.plainB ? (a instanceof WebRtcLeg ? a : null) : NOWHERE;
    if (a instanceof WebRtcLeg) a.peer = b;
    if (b instanceof WebRtcLeg) b.peer = a;
  }

  /**
   * The addresses (IPv4 CIDRs or addresses) signalling expects a side's media from: a trunk's
   * inbound addresses and host, the SIP source of a user's INVITE or REGISTER. Only they, and the
   * side's own SDP address, may latch the side (latch.ts). Replaces the side's previous set.
   */
  expectSources(side: Side, cidrs: readonly string[]): void {
    // A WebRTC side is validated by ICE and DTLS instead (webrtc-leg.ts).
    (side === 'a' ? this.plainA : this.plainB).expectSources(cidrs);
  }

  /** Sets a plain side's destination without SDP text (e.g. SDP parsed elsewhere). */
  applyEndpoint(side: Side, endpoint: MediaEndpoint): void {
    (side === 'a' ? this.plainA : this.plainB).applyEndpoint(endpoint);
  }

  stats(): SessionStats {
    return { id: this.id, kinds: { a: this.kind('a'), b: this.kind('b') }, a: legStats(this.a), b: legStats(this.b) };
  }

  /**
   * Called by the relay's periodic check. Counts time without a packet from
   * either side; activity is a counter the hot path bumps, so the hot path needs
   * no clock or timer of its own.
   */
  checkActivity(elapsedMs: number, timeoutMs: number): void {
    const activity = this.a.activity + this.b.activity;
    if (activity !== this.lastActivity) {
      this.lastActivity = activity;
      this.idleMs = 0;
      this.reportedIdle = false;
      return;
    }
    this.idleMs += elapsedMs;
    if (this.idleMs >= timeoutMs && !this.reportedIdle) {
      // Once per silence: the call flow hangs up; media coming back re-arms it.
      this.reportedIdle = true;
      this.emit('inactive', this, this.idleMs);
    }
  }

  /**
   * Starts counting silence afresh (the call flow calls it at the answer): silence while ringing,
   * already reported and ignored then, must not use up the one report for the answered call.
   */
  restartSilence(): void {
    this.lastActivity = this.a.activity + this.b.activity;
    this.idleMs = 0;
    this.reportedIdle = false;
  }

  /** Stops relaying and returns both port pairs to the pool. Idempotent. */
  close(): Promise<void> {
    if (!this.closing) {
      const stats = this.stats();
      this.plainA.detach();
      this.plainB.detach();
      for (const leg of [this.a, this.b, ...this.branches.values()]) if (leg instanceof WebRtcLeg) leg.close();
      this.branches.clear();
      this.closing = this.releaseLegs(this).then(() => {
        this.emit('closed', this, stats);
      });
    }
    return this.closing;
  }

  /** @internal the plain legs (port pairs), for the relay that owns them. */
  legs(): readonly [RelayLeg, RelayLeg] {
    return [this.plainA, this.plainB];
  }

  /** @internal the legs carrying each side's media now, for statistics. */
  activeLegs(): readonly [SideLeg, SideLeg] {
    return [this.a, this.b];
  }

  private leg(side: Side): SideLeg {
    return side === 'a' ? this.a : this.b;
  }
}

/** The codecs of `answer` that `offer` has (same name and clock rate), with the offer's payload numbers. */
function inTermsOf(answer: readonly PayloadType[], offer: readonly PayloadType[]): PayloadType[] {
  const kept: PayloadType[] = [];
  for (const a of answer) {
    const match = offer.find((o) => o.codec.toUpperCase() === a.codec.toUpperCase() && o.clockRate === a.clockRate);
    if (match && !kept.includes(match)) kept.push(match);
  }
  return kept;
}

/** What a browser's SDP declares, in the terms of a plain side's (no address: ICE finds it). */
function browserEndpoint(w: WebRtcEndpoint): MediaEndpoint {
  const receives = w.direction === 'sendrecv' || w.direction === 'recvonly';
  return {
    address: null,
    held: false,
    rtpPort: 0,
    rtcpAddress: null,
    rtcpPort: 0,
    rtcpMux: true,
    direction: w.direction,
    receives,
    protocol: 'UDP/TLS/RTP/SAVPF',
    payloads: w.payloads,
    telephoneEvents: w.payloads.filter((p) => p.codec.toLowerCase() === 'telephone-event').map((p) => p.payload),
    hadIce: true,
  };
}

function legStats(leg: SideLeg): LegStats {
  if (leg instanceof WebRtcLeg) {
    return {
      ...leg.counters.snapshot(),
      rtpPort: 0,
      rtcpPort: 0,
      remoteAddress: '',
      remotePort: 0,
      latched: leg.state === 'connected',
      packetsLost: leg.rtpStats.lost,
      packetsExpected: leg.rtpStats.expected,
      jitterMs: leg.rtpStats.jitterMs,
    };
  }
  return {
    ...leg.counters.snapshot(),
    rtpPort: leg.pair.rtpPort,
    rtcpPort: leg.pair.rtcpPort,
    remoteAddress: leg.rtp.address,
    remotePort: leg.rtp.port,
    latched: leg.rtp.latched,
    packetsLost: leg.rtpStats.lost,
    packetsExpected: leg.rtpStats.expected,
    jitterMs: leg.rtpStats.jitterMs,
  };
}
