/**
 * The RTP relay of the gateway (as rtpengine is for Kamailio): opens a relay
 * session per bridged call on port pairs from the configured range, keeps the
 * totals, and runs the one inactivity check for all sessions. Imports nothing
 * of the domain, nor NestJS; the media module of the app wraps it.
 */
import { MediaClock } from './media-clock';
import { MediaCounters, type MediaCounterValues } from './media-counters';
import { PortPool } from './port-pool';
import { RelayLeg } from './relay-leg';
import { RelaySession, type WebRtcLegFactory } from './relay-session';
import { WebRtcLeg } from './webrtc-leg';

export interface MediaRelayOptions {
  /** Address written into rewritten SDP (SIP_PUBLIC_ADDRESS). */
  readonly publicAddress: string;
  /** Local address the relay sockets bind; default 0.0.0.0. */
  readonly bindAddress?: string;
  /** RTP_PORT_MIN / RTP_PORT_MAX. */
  readonly portMin: number;
  readonly portMax: number;
  /** No packet from either side for this long raises `inactive`; default 60 s, 0 disables. */
  readonly inactivityTimeoutMs?: number;
  /** Kernel socket buffers per socket, for many sessions under load. */
  readonly socketBufferBytes?: number;
  /** Let media go to and come from 127.0.0.0/8 (MEDIA_ALLOW_LOOPBACK): tests and benchmarks on one host only. Default false. */
  readonly allowLoopback?: boolean;
  /** How long a side's SDP host may speak from another port before it latches (latch.ts, rule 3); default 1000 ms. */
  readonly learningMs?: number;
  /**
   * WebRTC legs for browsers (webrtc-leg.ts): ICE binds ports of the same RTP range. Default on;
   * false refuses WebRTC SDP with 488.
   */
  readonly webrtc?: boolean;
  /** Longest wait for ICE gathering of a WebRTC leg; default 3000 ms. */
  readonly webrtcGatherTimeoutMs?: number;
}

export interface RelayTotals extends MediaCounterValues {
  readonly sessions: number;
  readonly portPairsFree: number;
  readonly portPairsTotal: number;
  /** Sum of RFC 3550 cumulative loss over the live sessions' legs. */
  readonly packetsLost: number;
  readonly packetsExpected: number;
  /** Mean jitter (ms) over the live legs that have RTP with a known clock rate. */
  readonly meanJitterMs: number;
}

export class MediaRelay {
  readonly pool: PortPool;
  private readonly totals = new MediaCounters();
  private readonly clock = new MediaClock();
  private readonly sessions = new Set<RelaySession>();
  private readonly timer: NodeJS.Timeout | null;
  private readonly publicAddress: string;
  private readonly policy: { readonly allowLoopback: boolean; readonly learningMs: number };
  private readonly webrtc?: WebRtcLegFactory;

  constructor(options: MediaRelayOptions) {
    this.publicAddress = options.publicAddress;
    if (options.webrtc !== false) {
      const webrtcOptions = {
        publicAddress: options.publicAddress,
        ...(options.bindAddress ? { bindAddress: options.bindAddress } : {}),
        portMin: options.portMin,
        portMax: options.portMax,
        ...(options.webrtcGatherTimeoutMs ? { gatherTimeoutMs: options.webrtcGatherTimeoutMs } : {}),
      };
      this.webrtc = {
        answer: (sdp, offer) => WebRtcLeg.answer(sdp, offer, webrtcOptions, this.totals, this.clock),
        offer: (payloads, direction) => WebRtcLeg.offer(payloads, direction, webrtcOptions, this.totals, this.clock),
      };
    }
    this.policy = { allowLoopback: options.allowLoopback ?? false, learningMs: options.learningMs ?? 1000 };
    this.pool = new PortPool({
      portMin: options.portMin,
      portMax: options.portMax,
      bindAddress: options.bindAddress ?? '0.0.0.0',
      ...(options.socketBufferBytes ? { socketBufferBytes: options.socketBufferBytes } : {}),
    });
    const timeoutMs = options.inactivityTimeoutMs ?? 60_000;
    if (timeoutMs > 0) {
      // One timer for all sessions; a quarter of the timeout bounds how late the event comes.
      const everyMs = Math.max(10, Math.min(1000, Math.floor(timeoutMs / 4)));
      this.timer = setInterval(() => {
        for (const session of this.sessions) session.checkActivity(everyMs, timeoutMs);
      }, everyMs);
      this.timer.unref();
    } else {
      this.timer = null;
    }
  }

  /** Binds a port pair per side. MediaError(PortsExhausted) when the range is used up: answer 503. */
  async openSession(id: string): Promise<RelaySession> {
    const pairA = await this.pool.acquire();
    let pairB;
    try {
      pairB = await this.pool.acquire();
    } catch (error) {
      await this.pool.release(pairA);
      throw error;
    }
    const session = new RelaySession(
      id,
      this.publicAddress,
      new RelayLeg(pairA, this.totals, this.clock, this.policy),
      new RelayLeg(pairB, this.totals, this.clock, this.policy),
      (closing) => this.release(closing),
      this.policy,
      this.webrtc,
    );
    this.sessions.add(session);
    this.clock.acquire();
    return session;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  stats(): RelayTotals {
    let lost = 0;
    let expected = 0;
    let jitter = 0;
    let jitterLegs = 0;
    for (const session of this.sessions) {
      for (const leg of session.activeLegs()) {
        lost += leg.rtpStats.lost;
        expected += leg.rtpStats.expected;
        if (leg.rtpStats.jitterMs > 0) {
          jitter += leg.rtpStats.jitterMs;
          jitterLegs++;
        }
      }
    }
    return {
      ...this.totals.snapshot(),
      sessions: this.sessions.size,
      portPairsFree: this.pool.available,
      portPairsTotal: this.pool.size,
      packetsLost: lost,
      packetsExpected: expected,
      meanJitterMs: jitterLegs === 0 ? 0 : jitter / jitterLegs,
    };
  }

  /** Closes every session and stops the inactivity check. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await Promise.all([...this.sessions].map((s) => s.close()));
  }

  private async release(session: RelaySession): Promise<void> {
    this.sessions.delete(session);
    this.clock.release();
    const [a, b] = session.legs();
    await Promise.all([this.pool.release(a.pair), this.pool.release(b.pair)]);
  }
}
