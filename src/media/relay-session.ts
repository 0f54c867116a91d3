/**
 * A relay session: the media of one bridged call, side A (the user) and side B
 * (the trunk), each on its own port pair. Imports nothing of the domain.
 *
 * The call flow hands it each SDP a side sends (`relaySdp`) and forwards the
 * rewritten SDP to the other side; re-offers use the same session and ports.
 * It emits `inactive` when neither side sent media for the relay's inactivity
 * timeout, and `closed` once its ports are back in the pool.
 * The call flow also says where each side's media may come from (`expectSources`, latch.ts).
 */
import { EventEmitter } from 'node:events';
import { MediaError, MediaErrorCode } from './media.errors';
import type { MediaCounterValues } from './media-counters';
import type { RelayLeg } from './relay-leg';
import { rewriteSdp, type AddressPolicy, type MediaEndpoint, type RewrittenSdp } from './sdp-rewrite';

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

  constructor(
    readonly id: string,
    private readonly publicAddress: string,
    private readonly a: RelayLeg,
    private readonly b: RelayLeg,
    private readonly releaseLegs: (session: RelaySession) => Promise<void>,
    private readonly policy: AddressPolicy = { allowLoopback: false },
  ) {
    super();
    a.peer = b;
    b.peer = a;
  }

  get closed(): boolean {
    return this.closing !== null;
  }

  /** The relay's ports on one side: what that side sees in the SDP it receives. */
  ports(side: Side): { rtpPort: number; rtcpPort: number } {
    const leg = this.leg(side);
    return { rtpPort: leg.pair.rtpPort, rtcpPort: leg.pair.rtcpPort };
  }

  /**
   * Takes an SDP (offer, answer or re-offer) sent by `from` and returns it
   * rewritten for the other side: the relay's public address and the ports it
   * listens on towards that other side. The sender's declared address becomes
   * where its media goes, and its latching starts again.
   */
  relaySdp(from: Side, sdp: string): RewrittenSdp {
    if (this.closed) throw new MediaError(MediaErrorCode.SessionClosed, `relay session ${this.id} is closed`);
    const towards = this.leg(from === 'a' ? 'b' : 'a');
    const rewritten = rewriteSdp(sdp, {
      address: this.publicAddress,
      rtpPort: towards.pair.rtpPort,
      rtcpPort: towards.pair.rtcpPort,
    }, this.policy);
    this.applyEndpoint(from, rewritten.remote);
    return rewritten;
  }

  /**
   * The addresses (IPv4 CIDRs or addresses) signalling expects a side's media from: a trunk's
   * inbound addresses and host, the SIP source of a user's INVITE or REGISTER. Only they, and the
   * side's own SDP address, may latch the side (latch.ts). Replaces the side's previous set.
   */
  expectSources(side: Side, cidrs: readonly string[]): void {
    this.leg(side).expectSources(cidrs);
  }

  /** Sets a side's destination without SDP text (e.g. SDP parsed elsewhere). */
  applyEndpoint(side: Side, endpoint: MediaEndpoint): void {
    this.leg(side).applyEndpoint(endpoint);
  }

  stats(): SessionStats {
    return { id: this.id, a: legStats(this.a), b: legStats(this.b) };
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
      this.a.detach();
      this.b.detach();
      this.closing = this.releaseLegs(this).then(() => {
        this.emit('closed', this, stats);
      });
    }
    return this.closing;
  }

  /** @internal the legs, for the relay that owns them. */
  legs(): readonly [RelayLeg, RelayLeg] {
    return [this.a, this.b];
  }

  private leg(side: Side): RelayLeg {
    return side === 'a' ? this.a : this.b;
  }
}

function legStats(leg: RelayLeg): LegStats {
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
