/**
 * The one media interface the call flow talks to (MEDIA_ENGINE): a MediaEngine opens a MediaSession
 * per call, and the session takes each SDP offer and answer a side sends and returns the SDP for the
 * other side, reports inactivity, counts packets, and is deleted at the call's end. Two drivers:
 * builtin-engine.ts (the Node relay of this folder, the default) and rtpengine-engine.ts (rtpengine,
 * over its ng protocol). Imports nothing of the domain, nor NestJS.
 *
 * Side 'a' is the caller, side 'b' the callee. Every SDP call is async: rtpengine answers over the network.
 */
import type { EventEmitter } from 'node:events';
import type { SessionStats, Side } from './relay-session';

export type MediaEngineKind = 'builtin' | 'rtpengine';

export interface MediaSessionEvents {
  /** Neither side sent media for the engine's inactivity timeout (once per silence). */
  inactive: [idleMs: number];
  /** The session is deleted; its last counters. */
  closed: [stats: SessionStats];
}

export interface OpenOptions {
  /** A browser takes part (a WebRTC caller, or browser devices among the callees): ICE and DTLS-SRTP are needed. */
  readonly webrtc?: boolean;
}

export interface MediaSession extends Pick<EventEmitter<MediaSessionEvents>, 'on' | 'once' | 'off'> {
  readonly id: string;
  /** The engine this session's media runs through. */
  readonly engine: MediaEngineKind;
  /** An SDP offer (initial or re-offer) from `from`; returns the offer for the other side. */
  offer(from: Side, sdp: string): Promise<string>;
  /** An SDP answer (18x or 2xx) from `from` to the other side's offer; `branch` as RelaySession.relaySdp. */
  answer(from: Side, sdp: string, branch?: string | null): Promise<string>;
  /** A browser caller's WebRTC offer: answered by a WebRTC leg; returns a plain offer for the other side. */
  acceptWebRtc(from: Side, sdp: string): Promise<string>;
  /** A WebRTC offer for one browser branch of a fork. */
  offerToBrowser(branch: string): Promise<string>;
  dropBranch(branch: string): void;
  /** Where a side's media may come from (signalling's addresses), for the engines that filter sources. */
  expectSources(side: Side, cidrs: readonly string[]): void;
  /** Start counting silence afresh (at the answer). */
  restartSilence(): void;
  /** The counters as last known, without asking the engine (for views). */
  lastStats(): SessionStats;
  /** The counters now (rtpengine: a `query`). */
  stats(): Promise<SessionStats>;
  /** Deletes the session and frees its ports (rtpengine: `delete`). Idempotent; never rejects. */
  close(): Promise<void>;
}

export interface EngineTotals {
  readonly sessions: number;
  /** Port pairs free in the gateway's own range (the built-in relay's, also used by WebRTC legs). */
  readonly portPairsFree: number;
}

export interface MediaEngine {
  readonly kind: MediaEngineKind;
  /** A session for one call. MediaError(PortsExhausted | EngineUnavailable) when none can be had: answer 503. */
  open(id: string, options?: OpenOptions): Promise<MediaSession>;
  totals(): EngineTotals;
  close(): Promise<void>;
}

/** SessionStats with every counter at zero (a session before its first count). */
export function emptyStats(id: string): SessionStats {
  const leg = { rtpPackets: 0, rtpBytes: 0, rtcpPackets: 0, rtcpBytes: 0, sendErrors: 0, unsent: 0, dropped: 0, rtpPort: 0, rtcpPort: 0, remoteAddress: '', remotePort: 0, latched: false, packetsLost: 0, packetsExpected: 0, jitterMs: 0 };
  return { id, kinds: { a: 'rtp', b: 'rtp' }, a: leg, b: leg };
}
