/**
 * One ring of a call: the legs of a RingTarget started in parallel under one ring timer, and the
 * rule that settles the attempt. The first 2xx the call can bridge wins and the other legs are
 * cancelled; a 2xx after that gets BYE; when every leg failed, the caller hears the best failure
 * (call-policy's bestFailure); the timer or `cancel()` cancels the legs still ringing.
 *
 * It owns only the legs and the timer; the call (call.ts) bridges the answer, relays provisional
 * responses, and records the attempt when `settled` reports the outcome.
 */
import type { Logger } from '@nestjs/common';
import type { SipResponse } from '../sip';
import { type FailureOrigin, bestFailure, reject } from './call-policy';
import { type LegSip, hasSdp } from './leg';
import { UacLeg, type UacLegSpec } from './uac-leg';

/** One leg of a ring: where to send the INVITE; its SDP is the call's offer, or a browser's own. */
export interface RingLeg extends Omit<UacLegSpec, 'body'> {
  /** the callee is a browser: offer WebRTC media (ICE, DTLS-SRTP) */
  readonly webrtc?: boolean;
}

/** One ring: a trunk (one leg) or a user's devices (a leg each, forked). */
export interface RingTarget {
  readonly legs: readonly RingLeg[];
  readonly trunkId?: string;
  readonly trunkName?: string;
  readonly userId?: string;
  /** The trunk channel hold this ring took (TrunkChannels' leg id): freed by a survivor if this node dies. */
  readonly channel?: string;
  /** Called once when the attempt is over (frees the trunk channel). */
  readonly release?: () => Promise<void>;
  /** Addresses (CIDRs) the callee's media may come from besides the legs' hosts: a trunk's inbound addresses. */
  readonly mediaSources?: readonly string[];
}

export type RingOutcome =
  | { kind: 'answered' }
  | { kind: 'failed'; status: number; reason: string; origin: FailureOrigin }
  | { kind: 'noAnswer' }
  | { kind: 'cancelled' };

/** What a ring needs from its call. */
export interface RingingCall {
  readonly sip: LegSip;
  readonly log: Logger;
  readonly callId: string;
  /** The caller's SDP rewritten for the callee side. */
  readonly offer?: Buffer;
  /** A leg's own offer (a browser's WebRTC SDP) instead of `offer`. */
  offerFor?(spec: RingLeg): Buffer | undefined;
  /** A leg's key now belongs to the call (in-dialog requests, stray answers). */
  register(leg: UacLeg, spec?: RingLeg): void;
  unregister(leg: UacLeg): void;
  provisional(response: SipResponse, leg?: UacLeg): void | Promise<void>;
  /** The answer's SDP through the media engine (async: rtpengine); 'bad-sdp' when it cannot be relayed. */
  answerSdp?(leg: UacLeg, response: SipResponse): Promise<Buffer | undefined | 'bad-sdp'>;
  /** Bridges the answering leg with its relayed SDP: 'gone' when the caller left meanwhile. */
  answered(leg: UacLeg, response: SipResponse, sdp: Buffer | undefined): 'ok' | 'gone';
  /** The attempt is over (called once, before the ring's promise resolves). */
  settled(outcome: RingOutcome): void;
}

export type Failure = { status: number; reason: string; origin: FailureOrigin };

export class RingAttempt {
  private readonly live = new Set<UacLeg>();
  private readonly failures: Failure[] = [];
  private done = false;
  /** The leg whose answer was bridged. */
  private bridged?: UacLeg;
  /** Answers are bridged one at a time (their SDP goes through the media engine first). */
  private answering: Promise<void> = Promise.resolve();
  private timer?: NodeJS.Timeout;
  private resolve?: (outcome: RingOutcome) => void;

  constructor(
    private readonly call: RingingCall,
    private readonly target: RingTarget,
    /** Legs that failed before they could start (no WebRTC offer could be made for a browser). */
    private readonly failedEarly: readonly Failure[] = [],
  ) {
    this.failures.push(...failedEarly);
  }

  /** Starts every leg; resolves when one answered or the attempt is over. */
  start(ringTimeoutMs: number): Promise<RingOutcome> {
    const outcome = new Promise<RingOutcome>((resolve) => (this.resolve = resolve));
    this.timer = setTimeout(() => this.stop({ kind: 'noAnswer' }), ringTimeoutMs);
    this.timer.unref();
    if (this.target.legs.length === 0) {
      this.settle(this.failedEarly.length > 0 ? { kind: 'failed', ...bestFailure(this.failures)! } : { kind: 'failed', ...reject(480), origin: 'network' });
      return outcome;
    }
    for (const spec of this.target.legs) this.startLeg(spec);
    if (this.live.size === 0) this.settle({ kind: 'failed', ...bestFailure(this.failures)! });
    return outcome;
  }

  /** The caller or the gateway gave up: CANCEL the legs still ringing. */
  cancel(): void {
    this.stop({ kind: 'cancelled' });
  }

  private stop(outcome: RingOutcome): void {
    for (const leg of this.live) leg.cancel();
    this.settle(outcome);
  }

  private startLeg(spec: RingLeg): void {
    const leg = new UacLeg(this.call.sip, { ...spec, body: this.call.offerFor?.(spec) ?? this.call.offer }, {
      provisional: this.guarded('provisional', (from: UacLeg, response: SipResponse) => {
        if (!this.done) return this.call.provisional(response, from);
      }),
      answered: this.guarded('answered', (answered: UacLeg, response: SipResponse) => {
        const next = this.answering.then(() => this.answered(answered, response));
        this.answering = next.catch(() => undefined);
        return next;
      }),
      failed: this.guarded('failed', (failed: UacLeg, response: SipResponse, origin: FailureOrigin) => this.fail(failed, response.status, response.reason, origin)),
    });
    this.live.add(leg);
    this.call.register(leg, spec);
    try {
      leg.start();
    } catch (err) {
      this.live.delete(leg);
      this.failures.push({ ...reject(503, (err as Error).message), origin: 'transport-error' });
    }
  }

  private async answered(leg: UacLeg, response: SipResponse): Promise<void> {
    this.live.delete(leg);
    // A retransmission of the 2xx already bridged (our ACK was lost): the leg has ACKed it again.
    if (leg === this.bridged) return;
    if (this.done) {
      // A late answer (another fork won, or the attempt is over): hang it up.
      this.byeLate(leg);
      return;
    }
    const sdp = this.call.answerSdp ? await this.call.answerSdp(leg, response) : hasSdpBody(response);
    // The ring may have ended while the media engine answered (ring timeout, CANCEL): a late answer then.
    if (this.done && sdp !== 'bad-sdp') {
      this.byeLate(leg);
      return;
    }
    const joined = sdp === 'bad-sdp' ? 'bad-sdp' : this.call.answered(leg, response, sdp);
    if (joined === 'bad-sdp') {
      // The callee's answer cannot be relayed: as if that leg had failed (trunks fail over).
      const bad = reject(502, 'unusable SDP answer');
      this.fail(leg, bad.status, bad.reason, 'network');
      return;
    }
    if (joined === 'ok') this.bridged = leg;
    for (const other of this.live) other.cancel();
    this.settle({ kind: joined === 'ok' ? 'answered' : 'cancelled' });
  }

  private fail(leg: UacLeg, status: number, reason: string, origin: FailureOrigin): void {
    this.live.delete(leg);
    this.call.unregister(leg);
    this.failures.push({ status, reason, origin });
    if (this.live.size === 0 && !this.done) this.settle({ kind: 'failed', ...bestFailure(this.failures)! });
  }

  private settle(outcome: RingOutcome): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.call.settled(outcome);
    this.resolve!(outcome);
  }

  private byeLate(leg: UacLeg): void {
    leg.bye().catch((err: unknown) => {
      this.call.log.warn({ err: err instanceof Error ? err.message : String(err), callId: this.call.callId }, 'BYE to a late answer not sent');
    });
  }

  /** A leg's events run inside the SIP stack's receive path: nothing thrown (or rejected) here may escape. */
  private guarded<A extends unknown[]>(what: string, fn: (...args: A) => void | Promise<void>): (...args: A) => void {
    const failed = (err: unknown) => this.call.log.error({ err, callId: this.call.callId, event: what }, 'call leg event failed');
    return (...args: A) => {
      try {
        const result = fn(...args);
        if (result) result.catch(failed);
      } catch (err) {
        failed(err);
      }
    };
  }
}

/** A 2xx's SDP body as it came (a ring without a media engine). */
function hasSdpBody(response: SipResponse): Buffer | undefined {
  return hasSdp(response) ? response.body : undefined;
}
