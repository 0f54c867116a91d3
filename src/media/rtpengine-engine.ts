/**
 * The rtpengine driver of the media interface (MEDIA_ENGINE=rtpengine): each call's media runs
 * through an rtpengine (Sipwise's media proxy, Debian `rtpengine-daemon`) controlled over its ng
 * protocol (ng-client.ts). Imports nothing of the domain.
 *
 * Mapping: the ng call-id is the session id (the gateway's call id), the caller is tag `a`, the
 * callee tag `b`. An offer from a side is `offer` (from-tag = that side, to-tag = the other once it
 * answered), an answer is `answer` (from-tag = the offerer, to-tag = the answerer); rtpengine keeps
 * the two monologues, so re-offers from either side work the same. Commands of one session are sent
 * one after another (an 18x's answer before the 2xx's). `query` gives the counters; `delete` ends it.
 *
 * Selection and failover: the first offer picks an rtpengine (round robin, NgClient.pick); when it
 * does not answer, the next one gets the offer (nothing exists on the first yet). After that the
 * session stays on its rtpengine, since the call's state lives there: a later timeout is a MediaError.
 *
 * Inactivity: while a call is answered, its session is queried every quarter of the timeout (at
 * least 0.5 s, at most 5 s); packet totals that do not move for the timeout raise `inactive`, and so
 * does rtpengine forgetting the call (its own timeout, or a restart).
 *
 * WebRTC (ICE, DTLS-SRTP, Opus → G.711 towards trunks): calls with a browser are opened on the
 * built-in relay given as `webrtc` (the gateway's own WebRTC legs, webrtc-leg.ts), not on rtpengine;
 * rtpengine's own ICE/DTLS (`ICE=force`, `DTLS=passive`) would also need codec handling (Opus to
 * G.711 needs rtpengine's transcoding) and per-branch monologues for forks. Say so, don't guess.
 */
import { EventEmitter } from 'node:events';
import type { EngineTotals, MediaEngine, MediaSession, MediaSessionEvents, OpenOptions } from './media-engine';
import { emptyStats } from './media-engine';
import { MediaError, MediaErrorCode } from './media.errors';
import { type NgAddress, NgClient, type NgReply, NgTimeoutError, engineKey } from './ng-client';
import type { LegStats, SessionStats, Side } from './relay-session';
import { type AddressPolicy, readMediaEndpoint } from './sdp-rewrite';

export interface RtpengineEngineOptions {
  /** RTPENGINE_NG: the rtpengines, each host:port of its --listen-ng. */
  readonly engines: readonly NgAddress[];
  /** Per command and rtpengine (RTPENGINE_TIMEOUT_MS); default 1500 ms, three sends within it. */
  readonly timeoutMs?: number;
  /** No packet either way for this long while answered raises `inactive`; 0 disables. Default 60 s. */
  readonly inactivityTimeoutMs?: number;
  /** The engine for calls with a browser (the built-in relay); absent: such calls are refused with 488. */
  readonly webrtc?: MediaEngine;
  /** Which media addresses SDP may name (MEDIA_ALLOW_LOOPBACK): checked before rtpengine sees the SDP, as the built-in relay does. */
  readonly policy?: AddressPolicy;
  /** Warnings worth a log line (stray datagrams on the ng socket, failover). */
  readonly warn?: (fields: Record<string, unknown>, message: string) => void;
}

const TAG: Record<Side, string> = { a: 'a', b: 'b' };
const other = (side: Side): Side => (side === 'a' ? 'b' : 'a');

export class RtpengineEngine implements MediaEngine {
  readonly kind = 'rtpengine' as const;
  readonly client: NgClient;
  private readonly sessions = new Set<RtpengineSession>();
  private readonly timer: NodeJS.Timeout | null;

  constructor(readonly options: RtpengineEngineOptions) {
    this.client = new NgClient({
      engines: options.engines,
      timeoutMs: options.timeoutMs,
      onStray: (from, why) => options.warn?.({ from, why }, 'datagram on the rtpengine control socket ignored'),
    });
    const timeoutMs = options.inactivityTimeoutMs ?? 60_000;
    if (timeoutMs > 0) {
      const everyMs = Math.max(500, Math.min(5000, Math.floor(timeoutMs / 4)));
      this.timer = setInterval(() => {
        for (const s of this.sessions) void s.checkActivity(timeoutMs);
      }, everyMs);
      this.timer.unref();
    } else {
      this.timer = null;
    }
  }

  async open(id: string, options: OpenOptions = {}): Promise<MediaSession> {
    if (options.webrtc) {
      if (!this.options.webrtc) throw new MediaError(MediaErrorCode.UnsupportedSdp, 'WebRTC media is not enabled on this gateway');
      return this.options.webrtc.open(id);
    }
    const session = new RtpengineSession(id, this.client, this.options.warn, (s) => this.sessions.delete(s), this.options.policy);
    this.sessions.add(session);
    return session;
  }

  totals(): EngineTotals {
    const builtin = this.options.webrtc?.totals();
    return { sessions: this.sessions.size + (builtin?.sessions ?? 0), portPairsFree: builtin?.portPairsFree ?? 0 };
  }

  /** The ng commands' reply counts and dropped datagrams, for tests and logs. */
  get strayReplies(): number {
    return this.client.stray;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await Promise.all([...this.sessions].map((s) => s.close()));
    await this.options.webrtc?.close();
    this.client.close();
  }
}

export class RtpengineSession extends EventEmitter<MediaSessionEvents> implements MediaSession {
  readonly engine = 'rtpengine' as const;
  /** The rtpengine holding this call, once an offer succeeded there. */
  private where?: NgAddress;
  private answered = false;
  private offered = false;
  private queue: Promise<unknown> = Promise.resolve();
  private closing: Promise<void> | null = null;
  private last: SessionStats;
  // Inactivity (while answered): packet total, when it last moved, and whether this silence was reported.
  private watching = false;
  private lastTotal = -1;
  private movedAt = Date.now();
  private reported = false;
  private querying = false;

  constructor(
    readonly id: string,
    private readonly client: NgClient,
    private readonly warn: RtpengineEngineOptions['warn'],
    private readonly forget: (s: RtpengineSession) => void,
    private readonly policy: AddressPolicy = { allowLoopback: false },
  ) {
    super();
    this.last = emptyStats(id);
  }

  /** The rtpengine this call runs on (host:port), once known. */
  get engineAddress(): string | undefined {
    return this.where && engineKey(this.where);
  }

  offer(from: Side, sdp: string): Promise<string> {
    const to = from === 'a' ? (this.answered ? TAG.b : undefined) : TAG.a;
    this.offered = true;
    return this.sdpCommand('offer', { 'from-tag': TAG[from], 'to-tag': to, sdp });
  }

  answer(from: Side, sdp: string): Promise<string> {
    // A caller's INVITE without SDP (late offer): the callee's 2xx carries the offer; the caller's
    // answer comes in its ACK, which is not relayed, so rtpengine learns the caller by its first packet.
    if (!this.offered) return this.offer(from, sdp);
    return this.sdpCommand('answer', { 'from-tag': TAG[other(from)], 'to-tag': TAG[from], sdp }).then((out) => {
      this.answered = true;
      return out;
    });
  }

  async acceptWebRtc(): Promise<string> {
    throw new MediaError(MediaErrorCode.UnsupportedSdp, 'WebRTC media runs on the built-in relay, and this call was opened on rtpengine');
  }

  async offerToBrowser(): Promise<string> {
    throw new MediaError(MediaErrorCode.UnsupportedSdp, 'WebRTC media runs on the built-in relay, and this call was opened on rtpengine');
  }

  dropBranch(): void {
    // No browser branches on rtpengine (see the module comment).
  }

  expectSources(): void {
    // rtpengine latches each side to the first source that sends (symmetric RTP) and does its own checks.
  }

  restartSilence(): void {
    this.watching = true;
    this.movedAt = Date.now();
    this.reported = false;
  }

  lastStats(): SessionStats {
    return this.last;
  }

  async stats(): Promise<SessionStats> {
    if (!this.where) return this.last;
    const reply = await this.command('query', {});
    if (reply.result === 'ok') this.last = statsOf(this.id, reply);
    return this.last;
  }

  /** Called by the engine's periodic check while the call is answered. */
  async checkActivity(timeoutMs: number): Promise<void> {
    if (!this.watching || this.querying || this.closing || !this.where) return;
    this.querying = true;
    let gone = false;
    try {
      const reply = await this.command('query', {});
      if (reply.result === 'ok') {
        this.last = statsOf(this.id, reply);
        const total = this.last.a.rtpPackets + this.last.b.rtpPackets;
        if (total !== this.lastTotal) {
          this.lastTotal = total;
          this.movedAt = Date.now();
          this.reported = false;
        }
      } else {
        // rtpengine no longer knows the call (its own timeout, a restart): no media can flow.
        gone = true;
      }
    } catch {
      // One unanswered query says nothing about the media; the next check asks again.
    } finally {
      this.querying = false;
    }
    const idleMs = Date.now() - this.movedAt;
    if ((gone || idleMs >= timeoutMs) && !this.reported && !this.closing) {
      this.reported = true;
      this.emit('inactive', idleMs);
    }
  }

  close(): Promise<void> {
    if (!this.closing) {
      this.closing = this.enqueue(async () => {
        if (this.where) {
          try {
            const reply = await this.client.send(this.where, 'query', { 'call-id': this.id });
            if (reply.result === 'ok') this.last = statsOf(this.id, reply);
            await this.client.send(this.where, 'delete', { 'call-id': this.id });
          } catch (err) {
            // rtpengine drops a forgotten call at its own timeout; nothing else holds its ports.
            this.warn?.({ err: (err as Error).message, callId: this.id, engine: this.engineAddress }, 'rtpengine delete not answered');
          }
        }
      }).then(() => {
        this.forget(this);
        this.emit('closed', this.last);
      });
    }
    return this.closing;
  }

  private async sdpCommand(command: 'offer' | 'answer', args: Record<string, string | undefined>): Promise<string> {
    // The same checks as the built-in relay (an audio stream, a connection line, an allowed address): 400/488 with the reason.
    readMediaEndpoint(args.sdp!, this.policy);
    const reply = await this.enqueue(() => this.command(command, { ...args, ICE: 'remove', replace: ['origin', 'session-connection'] }));
    if (reply.result !== 'ok' || typeof reply.sdp !== 'string') {
      const reason = typeof reply['error-reason'] === 'string' ? reply['error-reason'] : String(reply.result ?? 'no SDP in the reply');
      if (reply.result === 'load limit') throw new MediaError(MediaErrorCode.EngineUnavailable, `rtpengine at its load limit`);
      if (/out of ports/i.test(reason)) throw new MediaError(MediaErrorCode.PortsExhausted, `rtpengine: ${reason}`);
      throw new MediaError(MediaErrorCode.UnsupportedSdp, `rtpengine refused the ${command}: ${reason}`);
    }
    return reply.sdp;
  }

  /** One command to this call's rtpengine; the first (an offer) fails over to the next rtpengine. */
  private async command(command: string, args: Record<string, string | string[] | undefined>): Promise<NgReply> {
    if (this.closing && command !== 'delete' && command !== 'query') throw new MediaError(MediaErrorCode.SessionClosed, `media session ${this.id} is closed`);
    const full = { ...args, 'call-id': this.id };
    if (this.where) {
      try {
        return await this.client.send(this.where, command, full);
      } catch (err) {
        throw new MediaError(MediaErrorCode.EngineUnavailable, `rtpengine unavailable: ${(err as Error).message}`);
      }
    }
    const tried = new Set<string>();
    let lastError: Error | undefined;
    for (let engine = this.client.pick(); engine; engine = this.client.pick(tried)) {
      tried.add(engineKey(engine));
      try {
        const reply = await this.client.send(engine, command, full);
        if (reply.result === 'ok') this.where = engine;
        return reply;
      } catch (err) {
        lastError = err as Error;
        if (!(err instanceof NgTimeoutError)) break;
        this.warn?.({ callId: this.id, engine: engineKey(engine), command }, 'rtpengine did not answer: trying the next one');
      }
    }
    throw new MediaError(MediaErrorCode.EngineUnavailable, `rtpengine unavailable: ${lastError?.message ?? 'none configured'}`);
  }

  private enqueue<T>(run: () => Promise<T>): Promise<T> {
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }
}

/** Counters of a `query` reply: per tag, the packets rtpengine received from that side. */
function statsOf(id: string, reply: NgReply): SessionStats {
  const tags = (reply.tags ?? {}) as Record<string, { medias?: { streams?: { 'local port'?: number; endpoint?: { address?: string; port?: number }; flags?: string[]; stats?: { packets?: number; bytes?: number; errors?: number } }[] }[] }>;
  const leg = (tag: string): LegStats => {
    const empty = emptyStats(id).a;
    const streams = tags[tag]?.medias?.flatMap((m) => m.streams ?? []) ?? [];
    const rtp = streams.filter((s) => s.flags?.includes('RTP'));
    const rtcp = streams.filter((s) => s.flags?.includes('RTCP'));
    const sum = (list: typeof streams, key: 'packets' | 'bytes' | 'errors') => list.reduce((n, s) => n + (s.stats?.[key] ?? 0), 0);
    return {
      ...empty,
      rtpPackets: sum(rtp, 'packets'),
      rtpBytes: sum(rtp, 'bytes'),
      rtcpPackets: sum(rtcp, 'packets'),
      rtcpBytes: sum(rtcp, 'bytes'),
      unsent: sum(rtp, 'errors'),
      rtpPort: rtp[0]?.['local port'] ?? 0,
      rtcpPort: rtcp[0]?.['local port'] ?? 0,
      remoteAddress: rtp[0]?.endpoint?.address ?? '',
      remotePort: rtp[0]?.endpoint?.port ?? 0,
      latched: (rtp[0]?.stats?.packets ?? 0) > 0,
    };
  };
  return { id, kinds: { a: 'rtp', b: 'rtp' }, a: leg(TAG.a), b: leg(TAG.b) };
}
