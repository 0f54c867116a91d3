/**
 * The built-in driver of the media interface (MEDIA_ENGINE=builtin, the default): the Node relay of
 * this folder (MediaRelay, RelaySession with its plain and WebRTC legs) behind MediaEngine, as it
 * was before the interface. Offers and answers are both the relay's SDP rewrite. Imports nothing of
 * the domain.
 */
import { EventEmitter } from 'node:events';
import { MediaRelay, type MediaRelayOptions } from './media-relay';
import type { EngineTotals, MediaEngine, MediaSession, MediaSessionEvents } from './media-engine';
import type { RelaySession, SessionStats, Side } from './relay-session';

export class BuiltinEngine implements MediaEngine {
  readonly kind = 'builtin' as const;
  readonly relay: MediaRelay;

  constructor(options: MediaRelayOptions | MediaRelay) {
    this.relay = options instanceof MediaRelay ? options : new MediaRelay(options);
  }

  async open(id: string): Promise<MediaSession> {
    return new BuiltinSession(await this.relay.openSession(id));
  }

  totals(): EngineTotals {
    return { sessions: this.relay.sessionCount, portPairsFree: this.relay.pool.available };
  }

  close(): Promise<void> {
    return this.relay.close();
  }
}

export class BuiltinSession extends EventEmitter<MediaSessionEvents> implements MediaSession {
  readonly engine = 'builtin' as const;

  constructor(readonly relay: RelaySession) {
    super();
    relay.on('inactive', (_s, idleMs) => this.emit('inactive', idleMs));
    relay.on('closed', (_s, stats) => this.emit('closed', stats));
  }

  get id(): string {
    return this.relay.id;
  }

  async offer(from: Side, sdp: string): Promise<string> {
    return this.relay.relaySdp(from, sdp).sdp;
  }

  async answer(from: Side, sdp: string, branch?: string | null): Promise<string> {
    return this.relay.relaySdp(from, sdp, branch).sdp;
  }

  acceptWebRtc(from: Side, sdp: string): Promise<string> {
    return this.relay.acceptWebRtc(from, sdp);
  }

  offerToBrowser(branch: string): Promise<string> {
    return this.relay.offerToBrowser(branch);
  }

  dropBranch(branch: string): void {
    this.relay.dropBranch(branch);
  }

  expectSources(side: Side, cidrs: readonly string[]): void {
    this.relay.expectSources(side, cidrs);
  }

  restartSilence(): void {
    this.relay.restartSilence();
  }

  lastStats(): SessionStats {
    return this.relay.stats();
  }

  async stats(): Promise<SessionStats> {
    return this.relay.stats();
  }

  close(): Promise<void> {
    return this.relay.close();
  }
}
