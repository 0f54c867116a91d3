/**
 * One call: the caller leg, the callee leg(s) it rings, the media relay session that joins them,
 * and the small state machine routing → ringing → answered → ended. It owns what happens on the
 * wire once the call flow (calls.service.ts) has decided whom to ring: forking, relaying 18x and
 * SDP, CANCEL and BYE on both sides, re-INVITE pass-through, the maximum duration and media
 * inactivity, and one CDR per attempt. It decides nothing about routing or money.
 */
import type { Logger } from '@nestjs/common';
import type { CallSummary } from '../billing/cdrs.service';
import type { Reservation } from '../billing/credit-control.service';
import { type MediaSession, isWebRtcSdp } from '../media';
import { newId } from '../platform/ids';
import { type IncomingRequest, type SipHeader, type SipRequest, type SipResponse, createResponse } from '../sip';
import type { CallLabels, CallMetrics } from './call-metrics';
import { type SipAnswer, dispositionOf, mediaRefusal, reject } from './call-policy';
import { type LegSip, hasSdp } from './leg';
import { type Failure, RingAttempt, type RingLeg, type RingOutcome, type RingTarget } from './ring-attempt';
import { isLocalRefresh, refreshAnswer, sessionTimerAnswer } from './session-timer';
import type { UacLeg } from './uac-leg';
import type { UasLeg } from './uas-leg';

/** Which way a call goes (media's Direction is SDP's a=sendrecv and kin). */
export type CallDirection = 'outbound' | 'inbound' | 'internal';
export type HangupBy = 'caller' | 'callee' | 'gateway';

/** What the call flow learns while routing; copied into every CDR of the call. */
export interface CallFacts {
  direction: CallDirection;
  accountId?: string | null;
  userId?: string | null;
  /** The trunk the call came in on (inbound). */
  trunkId?: string | null;
  trunkName?: string;
  caller?: string | null;
  dialed?: string | null;
  callee?: string | null;
  translatedTo?: string | null;
  reservation?: Reservation | null;
  /** The user's SIP username: the caller's (outbound, internal), else the callee's (for the call log). */
  username?: string;
}

export type { RingLeg, RingOutcome, RingTarget };

export interface Attempt {
  target: RingTarget;
  startedAt: Date;
  ringingAt?: Date;
  answeredAt?: Date;
  endedAt?: Date;
  status?: number;
  reason?: string;
  disposition?: CallSummary['disposition'];
  hangupBy?: HangupBy;
  labels: CallLabels;
}

/** What a call needs from the service that runs it. */
export interface CallHost {
  readonly sip: LegSip;
  readonly log: Logger;
  readonly metrics: CallMetrics;
  register(key: string, call: Call, leg?: UacLeg): void;
  /** The leg is over; its key stays a while for stray retransmissions. */
  unregister(key: string): void;
  record(summary: CallSummary, call: Call): Promise<void>;
  /** The call was answered (its CDR start record is written: call-heartbeat.ts). */
  answered?(call: Call): void;
  ended(call: Call): void;
}

export type CallState = 'routing' | 'ringing' | 'answered' | 'ended';

export interface RejectOptions {
  headers?: SipHeader[];
  disposition?: CallSummary['disposition'];
}

export class Call {
  readonly id = newId();
  readonly startedAt = new Date();
  state: CallState = 'routing';
  callee?: UacLeg;
  private media?: MediaSession;
  /** The caller's SDP rewritten for the callee side. */
  private offer?: Buffer;
  /** Browser branches of the current ring: their own WebRTC offer, and the relay's branch id. */
  private browserOffers = new Map<RingLeg, { id: string; sdp: Buffer }>();
  private browserLegs = new Map<UacLeg, string>();
  private earlySdpSent = false;
  private ringingNow?: () => void;
  private readonly attempts: Attempt[] = [];
  /** Every attempt of the call, in order, for the call log (call-log.ts); `attempts` is emptied as CDRs are written. */
  readonly history: Attempt[] = [];
  /** The final refusal the caller got, when it got one. */
  refusal?: SipAnswer;
  private current?: Attempt;
  private timers: NodeJS.Timeout[] = [];
  private reinvitePending = false;
  private reinviteRetransmission?: { stop(): void };
  private pddObserved = false;
  private finished = false;
  private readonly endHooks: (() => Promise<void>)[] = [];
  hangupReason?: string;
  cancelledByCaller = false;
  /** Addresses (CIDRs) the caller's media may come from besides its INVITE's source: the inbound trunk's. */
  callerMediaSources: readonly string[] = [];

  constructor(
    private readonly host: CallHost,
    readonly caller: UasLeg,
    readonly facts: CallFacts,
  ) {}

  get callId(): string {
    return this.caller.invite.callId;
  }

  get answeredAt(): Date | undefined {
    return this.current?.answeredAt;
  }

  /** The trunk of the current attempt (outbound), else the one the call came in on. */
  get trunkId(): string | undefined {
    return this.current?.target.trunkId ?? this.facts.trunkId ?? undefined;
  }

  get trunkName(): string | undefined {
    return this.current?.target.trunkName ?? this.facts.trunkName;
  }

  /** RTP packets each side sent to the relay, and how many of them were forwarded to the other side. */
  mediaStats(): { fromCaller: { received: number; forwarded: number }; fromCallee: { received: number; forwarded: number } } | undefined {
    if (!this.media) return undefined;
    const s = this.media.lastStats();
    return {
      fromCaller: { received: s.a.rtpPackets, forwarded: s.a.rtpPackets - s.a.unsent },
      fromCallee: { received: s.b.rtpPackets, forwarded: s.b.rtpPackets - s.b.unsent },
    };
  }

  /** Asks the media engine for the counters mediaStats() reports; a failure leaves the last ones. */
  async refreshMediaStats(): Promise<void> {
    await this.media?.stats().catch(() => undefined);
  }

  get hasMedia(): boolean {
    return this.media !== undefined;
  }

  /** Runs once when the call is over (frees what the flow took for the whole call). */
  onEnd(hook: () => Promise<void>): void {
    this.endHooks.push(hook);
  }

  /**
   * Joins the relay: the caller's SDP (side a) is rewritten once for every plain callee (side b).
   * A browser caller's WebRTC offer is answered by a WebRTC leg (after ICE gathering, hence async),
   * and the callees get a plain G.711 offer; a plain caller's path stays synchronous.
   */
  async attachMedia(session: MediaSession): Promise<void> {
    // Kept before the SDP is read, so that a MediaError for a bad offer still closes the session.
    this.media = session;
    session.expectSources('a', [this.caller.source.address, ...this.callerMediaSources]);
    session.on('inactive', () => {
      if (this.state === 'answered') this.hangup('gateway', 'media timeout');
    });
    if (!hasSdp(this.caller.invite)) return;
    const sdp = this.caller.invite.body.toString('utf8');
    if (isWebRtcSdp(sdp)) this.offer = Buffer.from(await session.acceptWebRtc('a', sdp));
    else this.offer = Buffer.from(await session.offer('a', sdp));
  }

  /**
   * Rings the target's legs in parallel (a RingAttempt): the first 2xx is bridged to the caller, the
   * others are cancelled. Resolves when the attempt is answered or over.
   */
  ring(target: RingTarget, ringTimeoutMs: number): Promise<RingOutcome> {
    if (this.state === 'ended' || this.cancelledByCaller) return Promise.resolve({ kind: 'cancelled' });
    if (this.media && target.legs.some((l) => l.webrtc)) return this.ringWithBrowsers(target, ringTimeoutMs);
    return this.ringPrepared(target, ringTimeoutMs, []);
  }

  /**
   * Makes each browser branch's own WebRTC offer (the gateway offers ICE/DTLS-SRTP with the caller's
   * G.711), then rings. A branch whose offer cannot be made fails alone, with the reason (e.g. 488
   * when the caller offered no G.711), and the others still ring.
   */
  private async ringWithBrowsers(target: RingTarget, ringTimeoutMs: number): Promise<RingOutcome> {
    const media = this.media!;
    const legs: RingLeg[] = [];
    const failed: Failure[] = [];
    this.dropBrowserBranches();
    await Promise.all(
      target.legs.map(async (leg, i) => {
        if (!leg.webrtc) return;
        const id = `${this.attempts.length}.${i}`;
        try {
          this.browserOffers.set(leg, { id, sdp: Buffer.from(await media.offerToBrowser(id)) });
        } catch (err) {
          const refusal = mediaRefusal(err);
          this.host.log.warn({ err: (err as Error).message, callId: this.callId }, 'no WebRTC offer for a browser branch');
          failed.push({ ...refusal, origin: 'network' });
        }
      }),
    );
    for (const leg of target.legs) if (!leg.webrtc || this.browserOffers.has(leg)) legs.push(leg);
    if (this.state === 'ended' || this.cancelledByCaller) {
      this.dropBrowserBranches();
      return { kind: 'cancelled' };
    }
    return this.ringPrepared({ ...target, legs }, ringTimeoutMs, failed);
  }

  private dropBrowserBranches(except?: UacLeg): void {
    for (const [leg, id] of this.browserLegs) if (leg !== except) this.media?.dropBranch(id);
    if (!except) for (const { id } of this.browserOffers.values()) this.media?.dropBranch(id);
    this.browserOffers = new Map();
    this.browserLegs = new Map([...this.browserLegs].filter(([leg]) => leg === except));
  }

  /** The relay's branch of a callee leg: its id for a browser branch, null for the plain ones. */
  private branchOf(leg: UacLeg | undefined): string | null | undefined {
    if (!leg) return undefined;
    return this.browserLegs.get(leg) ?? null;
  }

  private ringPrepared(target: RingTarget, ringTimeoutMs: number, failedEarly: Failure[]): Promise<RingOutcome> {
    this.flushPendingAttempt();
    this.state = 'ringing';
    const attempt: Attempt = {
      target,
      startedAt: this.attempts.length === 0 ? this.startedAt : new Date(),
      labels: { direction: this.facts.direction, trunk: target.trunkName ?? this.facts.trunkName ?? '' },
    };
    this.attempts.push(attempt);
    this.history.push(attempt);
    this.current = attempt;
    // Only this attempt's callees (and their SDP addresses) may latch the callee side (src/media/latch.ts).
    this.media?.expectSources('b', [...target.legs.map((l) => l.target.host), ...(target.mediaSources ?? [])]);
    this.host.metrics.attempted(attempt.labels);
    this.host.metrics.callStarted(attempt.labels);

    const ring = new RingAttempt(
      {
        sip: this.host.sip,
        log: this.host.log,
        callId: this.callId,
        offer: this.offer,
        offerFor: (spec) => this.browserOffers.get(spec)?.sdp,
        register: (leg, spec) => {
          const browser = spec && this.browserOffers.get(spec);
          if (browser) this.browserLegs.set(leg, browser.id);
          this.host.register(leg.key, this, leg);
        },
        unregister: (leg) => {
          const id = this.browserLegs.get(leg);
          if (id !== undefined) this.media?.dropBranch(id);
          this.host.unregister(leg.key);
        },
        provisional: (response, leg) => this.relayProvisional(attempt, response, leg),
        answerSdp: (leg, response) => this.answerSdp(leg, response),
        answered: (leg, response, sdp) => this.connect(attempt, leg, response, sdp),
        settled: (outcome) => this.attemptOver(attempt, outcome),
      },
      target,
      failedEarly,
    );
    this.ringingNow = () => ring.cancel();
    return ring.start(ringTimeoutMs);
  }

  /** Records how an attempt that was not answered ended, and frees what it held. */
  private attemptOver(attempt: Attempt, outcome: RingOutcome): void {
    this.ringingNow = undefined;
    if (outcome.kind === 'answered') return;
    attempt.endedAt = new Date();
    if (outcome.kind === 'failed') {
      attempt.status = outcome.status;
      attempt.reason = outcome.reason;
      // Our own timeout or a send failure says the trunk is broken, not that nobody answered.
      attempt.disposition = outcome.origin === 'network' ? dispositionOf(outcome.status) : 'failed';
    } else if (outcome.kind === 'noAnswer') {
      attempt.status = 408;
      attempt.reason = 'no answer';
      attempt.disposition = 'noAnswer';
    } else {
      attempt.status = 487;
      attempt.reason = this.hangupReason ?? 'cancelled by caller';
      attempt.disposition = 'cancelled';
      attempt.hangupBy = this.cancelledByCaller ? 'caller' : 'gateway';
    }
    this.endAttemptMetrics(attempt);
    this.release(attempt);
    this.state = 'routing';
  }

  /** A final refusal to the caller before or between attempts (built with call-policy's `reject`); the call is over. */
  reject(answer: SipAnswer, options?: RejectOptions): void;
  reject(status: number, reason: string, options?: RejectOptions): void;
  reject(first: SipAnswer | number, second?: string | RejectOptions, third?: RejectOptions): void {
    const { status, reason } = typeof first === 'number' ? { status: first, reason: second as string } : first;
    const options = (typeof first === 'number' ? third : (second as RejectOptions | undefined)) ?? {};
    if (this.state === 'ended') return;
    if (this.cancelledByCaller) {
      this.finish();
      return;
    }
    this.caller.reject(status, reason, options.headers);
    this.refusal = { status, reason };
    const last = this.current;
    if (!last || last.endedAt === undefined || last.answeredAt) {
      // No attempt reached a callee: the refusal itself is the attempt the CDR records.
      this.pushRejection(status, reason, options.disposition ?? 'rejected');
    } else if (options.disposition === 'busy' || options.disposition === 'noAnswer') {
      last.disposition = options.disposition;
    }
    this.finish();
  }

  /** The caller sent CANCEL before the answer: 487 to it, CANCEL downstream. */
  callerCancelled(): void {
    if (this.state === 'answered' || this.state === 'ended') return;
    this.cancelledByCaller = true;
    const terminated = reject(487);
    this.caller.reject(terminated.status, terminated.reason);
    if (this.ringingNow) this.ringingNow();
    // When routing (no ring yet), the flow sees cancelledByCaller at its next step and finishes.
  }

  /** Ends the call from outside (operator, shutdown): BYE to both sides, or 480/503 while ringing. */
  terminate(reason: string, statusWhileRinging = 480): void {
    if (this.state === 'answered') {
      this.hangup('gateway', reason);
      return;
    }
    this.hangupReason = reason;
    if (this.state === 'ringing' && this.ringingNow) this.ringingNow();
    this.reject(statusWhileRinging, reason);
  }

  /** BYE to both sides and the CDR; idempotent. */
  hangup(by: HangupBy, reason: string): void {
    if (this.state !== 'answered') return;
    this.state = 'ended';
    this.hangupReason = reason;
    const attempt = this.current!;
    attempt.hangupBy = by;
    attempt.reason = reason;
    attempt.endedAt = new Date();
    if (by !== 'caller') this.byeTo('caller', this.caller);
    if (by !== 'callee' && this.callee) this.byeTo('callee', this.callee);
    this.endAttemptMetrics(attempt);
    this.release(attempt);
    this.finish();
  }

  /** BYE to one side; a failure (no dialog, transport down) is logged: the peer's own timers end its session. */
  private byeTo(side: 'caller' | 'callee', leg: UasLeg | UacLeg): void {
    leg.bye().catch((err: unknown) => {
      this.host.log.warn({ err: err instanceof Error ? err.message : String(err), callId: this.callId, side }, 'BYE not sent');
    });
  }

  /**
   * Frees what the attempt held (its trunk channel). A failure (Redis down or answering an error)
   * is logged, never left as an unhandled rejection, which would end the process and every call
   * on it; the channel's hold then lapses on its own (TrunkChannels).
   */
  private release(attempt: Attempt): void {
    const release = attempt.target.release;
    if (!release) return;
    Promise.resolve()
      .then(release)
      .catch((err: unknown) => {
        this.host.log.error({ err: err instanceof Error ? err.message : String(err), callId: this.callId, trunkId: attempt.target.trunkId }, 'trunk channel not released');
      });
  }

  /** The maximum duration granted by credit control, from the answer. */
  limitDuration(seconds: number): void {
    const timer = setTimeout(() => this.hangup('gateway', 'credit exhausted'), seconds * 1000);
    timer.unref();
    this.timers.push(timer);
  }

  /** An ACK in one of this call's dialogs. */
  acknowledged(legKey: string): void {
    if (legKey === this.caller.key) this.caller.acknowledged();
    this.reinviteRetransmission?.stop();
  }

  /** A request inside one of the call's dialogs (BYE, re-INVITE, UPDATE, INFO...). */
  async inDialog(legKey: string, incoming: IncomingRequest): Promise<SipResponse> {
    const { request } = incoming;
    const fromCaller = legKey === this.caller.key;
    const other = fromCaller ? this.callee : this.caller;
    if (request.method === 'BYE') {
      if (fromCaller) this.caller.ended();
      else this.callee!.state = 'terminated';
      if (this.state === 'answered') this.hangup(fromCaller ? 'caller' : 'callee', 'normal clearing');
      return createResponse(request, 200);
    }
    if (request.method === 'OPTIONS') return createResponse(request, 200);
    if (this.state !== 'answered' || !other) return respondWith(request, reject(481));
    // A session refresh (RFC 4028) is this dialog's own business: answered here, not passed across.
    if (isLocalRefresh(request)) return this.refreshed(request, fromCaller);
    if (request.method === 'INVITE' || request.method === 'UPDATE') return this.passOffer(request, fromCaller, other);
    if (request.method === 'INFO') {
      const r = await other.request('INFO', request.body.length > 0 ? request.body : undefined, copyContentType(request));
      return createResponse(request, r.status, { reason: r.reason });
    }
    return respondWith(request, reject(501, 'in dialog'));
  }

  private async passOffer(request: SipRequest, fromCaller: boolean, other: UacLeg | UasLeg): Promise<SipResponse> {
    if (this.reinvitePending) return respondWith(request, reject(491));
    this.reinvitePending = true;
    try {
      let body: Buffer | undefined;
      if (hasSdp(request) && this.media) {
        try {
          body = Buffer.from(await this.media.offer(fromCaller ? 'a' : 'b', request.body.toString('utf8')));
        } catch (err) {
          return respondWith(request, reject(488, (err as Error).message.slice(0, 80)));
        }
      }
      const r = await other.request(request.method, body);
      if (r.status >= 300 || r.status < 200) return createResponse(request, r.status, { reason: r.reason });
      let answer: Buffer | undefined;
      if (hasSdp(r) && this.media) answer = Buffer.from(await this.media.answer(fromCaller ? 'b' : 'a', r.body.toString('utf8')));
      const transport = fromCaller ? this.caller.source.transport : this.callee!.peer.transport;
      const headers: SipHeader[] = [{ name: 'Contact', value: this.host.sip.contact(transport) }];
      headers.push(...(request.method === 'INVITE' ? sessionTimerAnswer(request) : refreshAnswer(request)));
      if (answer) headers.push({ name: 'Content-Type', value: 'application/sdp' });
      const response = createResponse(request, 200, { headers, body: answer });
      if (request.method === 'INVITE') {
        this.reinviteRetransmission?.stop();
        this.reinviteRetransmission = this.host.sip.retransmitAnswer(response, transport !== 'UDP', () => undefined);
      }
      return response;
    } catch (err) {
      this.host.log.warn({ err: (err as Error).message, callId: this.callId }, 're-INVITE not passed on');
      return respondWith(request, reject(500));
    } finally {
      this.reinvitePending = false;
    }
  }

  /** 200 to a session refresh (session-timer.ts), with our Contact for the side it came from. */
  private refreshed(request: SipRequest, fromCaller: boolean): SipResponse {
    const transport = fromCaller ? this.caller.source.transport : this.callee!.peer.transport;
    return createResponse(request, 200, { headers: [{ name: 'Contact', value: this.host.sip.contact(transport) }, ...refreshAnswer(request)] });
  }

  private async relayProvisional(attempt: Attempt, response: SipResponse, leg?: UacLeg): Promise<void> {
    if (this.caller.state !== 'proceeding') return;
    if (response.status === 180 || response.status === 183) {
      attempt.ringingAt ??= new Date();
      this.observePdd(attempt);
    }
    let sdp: Buffer | undefined;
    if (hasSdp(response) && this.media) {
      try {
        sdp = Buffer.from(await this.media.answer('b', response.body.toString('utf8'), this.branchOf(leg)));
      } catch (err) {
        this.host.log.warn({ err: (err as Error).message, callId: this.callId }, 'early media SDP unusable: ringing without it');
      }
      // The media engine answers over the network (rtpengine): the caller may have had a final answer meanwhile.
      if (this.caller.state !== 'proceeding') return;
    }
    if (sdp) {
      this.earlySdpSent = true;
      this.caller.progress(response.status === 180 ? 180 : 183, sdp);
    } else {
      this.caller.progress(response.status, undefined, response.reason);
    }
  }

  private observePdd(attempt: Attempt): void {
    if (this.pddObserved) return;
    this.pddObserved = true;
    this.host.metrics.postDialDelay(attempt.labels, (Date.now() - this.startedAt.getTime()) / 1000);
  }

  /** The callee's 2xx SDP rewritten for the caller (undefined without SDP); 'bad-sdp' when it cannot be relayed (the leg is hung up). */
  private async answerSdp(leg: UacLeg, response: SipResponse): Promise<Buffer | undefined | 'bad-sdp'> {
    const answer: Buffer | undefined = hasSdp(response) ? response.body : undefined;
    if (!answer || !this.media) return answer;
    try {
      return Buffer.from(await this.media.answer('b', answer.toString('utf8'), this.branchOf(leg)));
    } catch (err) {
      this.host.log.warn({ err: (err as Error).message, callId: this.callId }, 'callee SDP answer unusable: hanging the leg up');
      void leg.bye();
      return 'bad-sdp';
    }
  }

  /** Bridges the answering leg to the caller with its SDP from answerSdp: 'gone' when the caller left meanwhile. */
  private connect(attempt: Attempt, leg: UacLeg, response: SipResponse, answer: Buffer | undefined): 'ok' | 'gone' {
    if (!answer && this.earlySdpSent) this.host.log.warn({ callId: this.callId }, 'callee answered without SDP after early media');
    const ok = this.caller.answer(answer, () => this.hangup('gateway', 'no ACK from caller'));
    if (!ok) {
      void leg.bye();
      return 'gone';
    }
    this.callee = leg;
    // The browser branches that did not win free their peer connections now, not at the call's end.
    this.dropBrowserBranches(leg);
    this.state = 'answered';
    this.media?.restartSilence();
    attempt.answeredAt = new Date();
    attempt.ringingAt ??= attempt.answeredAt;
    attempt.status = 200;
    attempt.disposition = 'answered';
    this.observePdd(attempt);
    this.host.answered?.(this);
    return 'ok';
  }

  private endAttemptMetrics(attempt: Attempt): void {
    const seconds = attempt.answeredAt && attempt.endedAt ? (attempt.endedAt.getTime() - attempt.answeredAt.getTime()) / 1000 : undefined;
    this.host.metrics.attemptEnded(attempt.labels, attempt.disposition ?? 'failed', seconds);
    this.host.metrics.callEnded(attempt.labels);
  }

  private pushRejection(status: number, reason: string, disposition: CallSummary['disposition']): void {
    const now = new Date();
    const attempt: Attempt = {
      target: { legs: [] },
      startedAt: this.attempts.length === 0 ? this.startedAt : now,
      endedAt: now,
      status,
      reason,
      disposition,
      hangupBy: 'gateway',
      labels: { direction: this.facts.direction, trunk: this.facts.trunkName ?? '' },
    };
    this.attempts.push(attempt);
    this.history.push(attempt);
  }

  /** Records every attempt not yet recorded but the last: failed-over attempts cost nothing and hold no reservation. */
  private flushPendingAttempt(): void {
    for (const a of this.attempts.splice(0)) void this.host.record(this.summary(a, false), this);
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.state = 'ended';
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
    this.reinviteRetransmission?.stop();
    const all = this.attempts.splice(0);
    if (all.length === 0 && this.cancelledByCaller) {
      this.pushRejection(487, 'cancelled by caller', 'cancelled');
      all.push(...this.attempts.splice(0));
      all[0].hangupBy = 'caller';
    }
    all.forEach((a, i) => void this.host.record(this.summary(a, i === all.length - 1), this));
    const media = this.media;
    this.media = undefined;
    void media?.close();
    for (const hook of this.endHooks) {
      void hook().catch((err: unknown) => this.host.log.error({ err: err instanceof Error ? err.message : String(err), callId: this.callId }, 'end-of-call release failed'));
    }
    this.host.ended(this);
  }

  /** The answered attempt as it stands, ended at its answer: the CDR start record. */
  answeredSummary(): CallSummary | undefined {
    const a = this.current;
    return a?.answeredAt ? { ...this.summary(a, true), endedAt: a.answeredAt, durationSeconds: 0, hangupBy: null } : undefined;
  }

  /** The trunk channel hold of the current attempt (TrunkChannels' leg id), if it took one. */
  get trunkChannel(): string | undefined {
    return this.current?.target.channel;
  }

  private summary(a: Attempt, last: boolean): CallSummary {
    const f = this.facts;
    let durationSeconds: number | undefined;
    if (a.answeredAt) {
      durationSeconds = Math.max(0, Math.ceil(((a.endedAt ?? new Date()).getTime() - a.answeredAt.getTime()) / 1000));
      // The gateway hangs up at the granted second; the milliseconds its BYE takes are not the caller's to pay.
      if (last && f.reservation) durationSeconds = Math.min(durationSeconds, f.reservation.maxSeconds);
    }
    return {
      callId: this.callId,
      direction: f.direction,
      accountId: f.accountId ?? f.reservation?.accountId ?? null,
      userId: a.target.userId ?? f.userId ?? null,
      trunkId: a.target.trunkId ?? f.trunkId ?? null,
      caller: f.caller ?? null,
      dialed: f.dialed ?? null,
      callee: f.callee ?? null,
      translatedTo: f.translatedTo ?? null,
      startedAt: a.startedAt,
      ringingAt: a.ringingAt ?? null,
      answeredAt: a.answeredAt ?? null,
      endedAt: a.endedAt ?? new Date(),
      durationSeconds,
      disposition: a.disposition ?? 'failed',
      sipCode: a.status ?? null,
      sipReason: a.reason ?? null,
      hangupBy: a.hangupBy ?? (a.answeredAt ? 'gateway' : null),
      reservation: last ? (f.reservation ?? null) : null,
    };
  }
}

/** A response to a request in a dialog carrying a refusal built by `reject`. */
function respondWith(request: SipRequest, a: SipAnswer): SipResponse {
  return createResponse(request, a.status, { reason: a.reason });
}

function copyContentType(request: SipRequest): SipHeader[] {
  const ct = request.headers.find((h) => h.name.toLowerCase() === 'content-type');
  return ct ? [{ name: 'Content-Type', value: ct.value }] : [];
}
