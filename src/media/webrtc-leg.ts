/**
 * A WebRTC side of a relay session: the gateway terminates the browser's ICE, DTLS-SRTP
 * (AES_CM_128_HMAC_SHA1_80, libdatachannel's default profile), rtcp-mux and BUNDLE, and hands
 * plain RTP to the other side of the session (a RelayLeg towards a trunk or SIP phone, or another
 * WebRtcLeg for browser to browser). Imports nothing of the domain; it is the only module that
 * imports the WebRTC library, so another engine (rtpengine, werift) replaces this file only.
 *
 * Library: node-datachannel (libdatachannel + libjuice + libsrtp, prebuilt in the npm package).
 * Chosen over werift (pure TypeScript) because SRTP and DTLS run in native code: the issue's
 * research found it about 2.5x cheaper per packet, and bench/webrtc.bench.ts measures it here.
 *
 * Native crash isolation: NONE in-process. libdatachannel runs its own threads inside this Node
 * process; a fault in it (a segfault, an abort) ends the process and every call on it, SIP and
 * plain RTP included. What limits the blast radius is deployment: run the media role in its own
 * process (ROLES, docs/scaling.md) so that a crash there drops media only, and let the supervisor
 * restart it; the rtpengine driver of the scale-out issue would move WebRTC legs out of Node
 * entirely. docs/security.md says the same for operators.
 *
 * Hot path (`onMessage` for each RTP packet from the browser, `sendRtp` for each towards it): RTCP
 * (which the library hands on the same callback under rtcp-mux) is dropped, the packet is counted,
 * and given to the peer; towards the browser the SSRC is rewritten to the one our SDP announced
 * (the trunk's SSRC changes with every re-INVITE and transcoder, the browser's demuxer keys on it).
 *
 * Latching: the browser's address is never taken from packets. ICE connectivity checks (with the
 * ufrag/pwd of the signalled SDP) decide the path, and DTLS checks the signalled fingerprint, so
 * media from anyone else is not decrypted, let alone relayed.
 */
import { randomInt } from 'node:crypto';
import { Audio, PeerConnection, initLogger, type Track } from 'node-datachannel';
import type { MediaClock } from './media-clock';
import { MediaCounters } from './media-counters';
import { MediaError, MediaErrorCode } from './media.errors';
import { RtpStreamStats } from './rtp-stream-stats';
import type { Direction, PayloadType } from './sdp-rewrite';
import { browserSdp, libDirection, receives, reverse, type WebRtcEndpoint } from './webrtc-sdp';

/** Where a side's RTP goes: a RelayLeg or a WebRtcLeg. Returns false when the packet was not sent. */
export interface RtpSink {
  sendRtp(msg: Buffer): boolean;
}

export interface WebRtcOptions {
  /** Address announced in candidates (SIP_PUBLIC_ADDRESS). */
  readonly publicAddress: string;
  /** Local address ICE binds; default every interface. */
  readonly bindAddress?: string;
  /** UDP ports ICE may bind (the RTP range). */
  readonly portMin: number;
  readonly portMax: number;
  /** Longest wait for ICE gathering before the SDP is given anyway; default 3000 ms. */
  readonly gatherTimeoutMs?: number;
}

let loggerSet = false;

export class WebRtcLeg implements RtpSink {
  readonly kind = 'webrtc';
  readonly counters = new MediaCounters();
  readonly rtpStats: RtpStreamStats;
  activity = 0;
  /** The browser asked for RTP (its direction is sendrecv or recvonly). */
  receivesRtp = true;
  peer: RtpSink | null = null;
  /** The browser's SDP as last checked; its ICE/DTLS fields may not change mid-call. */
  remote?: WebRtcEndpoint;
  /** Payload numbers the other side kept, cut from the SDP the browser gets. */
  private keep: number[] = [];
  private direction: Direction = 'sendrecv';
  private readonly pc: PeerConnection;
  private readonly track: Track;
  private readonly ssrc = randomInt(1, 0xffffffff);
  private closed = false;

  private constructor(
    readonly role: 'answerer' | 'offerer',
    private readonly options: WebRtcOptions,
    private readonly total: MediaCounters,
    clock: MediaClock,
    mid: string,
    direction: Direction,
    payloads: readonly PayloadType[],
  ) {
    if (!loggerSet) {
      // The library logs to stdout by default; only its errors matter to an operator.
      loggerSet = true;
      initLogger('Error', () => undefined);
    }
    this.rtpStats = new RtpStreamStats(clock);
    this.rtpStats.setClockRates(payloads);
    this.pc = new PeerConnection('gw', {
      iceServers: [],
      ...(options.bindAddress && options.bindAddress !== '0.0.0.0' ? { bindAddress: options.bindAddress } : {}),
      portRangeBegin: options.portMin,
      portRangeEnd: options.portMax,
      disableAutoNegotiation: false,
    });
    const audio = new Audio(mid, libDirection(direction));
    for (const p of payloads) {
      if (p.fmtp !== undefined) audio.addAudioCodec(p.payload, `${p.codec}/${p.clockRate}`, p.fmtp);
      else audio.addAudioCodec(p.payload, `${p.codec}/${p.clockRate}`);
    }
    audio.addSSRC(this.ssrc, 'gateway', 'gateway', 'audio');
    // The track is added before the remote description: the answer then carries our codecs and SSRC.
    this.track = this.pc.addTrack(audio);
    this.direction = direction;
    this.receivesRtp = receives(direction);
    this.onMessage = this.onMessage.bind(this);
    this.track.onMessage(this.onMessage);
  }

  /** Answers a browser's offer (a browser caller): resolves once gathering is complete. */
  static async answer(offerSdp: string, offer: WebRtcEndpoint, options: WebRtcOptions, total: MediaCounters, clock: MediaClock): Promise<WebRtcLeg> {
    const direction = reverse(offer.direction);
    const leg = new WebRtcLeg('answerer', options, total, clock, offer.mid, direction, offer.payloads);
    leg.remote = offer;
    try {
      leg.pc.setRemoteDescription(offerSdp, 'offer');
      await leg.gathered();
    } catch (err) {
      leg.close();
      throw asMediaError(err);
    }
    return leg;
  }

  /** Makes an offer to a browser (a browser callee): the codecs the caller offered that cross. */
  static async offer(payloads: readonly PayloadType[], direction: Direction, options: WebRtcOptions, total: MediaCounters, clock: MediaClock): Promise<WebRtcLeg> {
    const leg = new WebRtcLeg('offerer', options, total, clock, '0', direction, payloads);
    try {
      leg.pc.setLocalDescription('offer');
      await leg.gathered();
    } catch (err) {
      leg.close();
      throw asMediaError(err);
    }
    return leg;
  }

  /** The browser's answer to our offer. */
  acceptAnswer(answerSdp: string, answer: WebRtcEndpoint): void {
    if (this.remote) {
      this.update(answer);
      return;
    }
    try {
      this.pc.setRemoteDescription(answerSdp, 'answer');
    } catch (err) {
      throw asMediaError(err);
    }
    this.remote = answer;
    this.direction = reverse(answer.direction);
    this.receivesRtp = receives(answer.direction);
  }

  /** A later SDP from the browser (hold, resume): same ICE and DTLS, new direction. */
  update(sdp: WebRtcEndpoint): void {
    this.receivesRtp = receives(sdp.direction);
    this.direction = reverse(sdp.direction);
  }

  /** The other side's codecs and direction, as the SDP the browser gets will say. */
  restrict(payloads: readonly number[], direction: Direction): void {
    this.keep = [...payloads];
    this.direction = direction;
  }

  /** Our SDP for the browser, with the public address, the codecs kept and the direction. */
  sdp(): string {
    const local = this.pc.localDescription();
    if (!local) throw new MediaError(MediaErrorCode.SessionClosed, 'WebRTC leg has no local description');
    return browserSdp(local.sdp, { publicAddress: this.options.publicAddress, keep: this.keep, direction: this.direction });
  }

  private onMessage(msg: Buffer): void {
    // Under rtcp-mux the library hands RTCP here too (RFC 5761: second byte 192-223); it is not relayed.
    if (msg.length < 12 || msg[0] >> 6 !== 2) return this.drop();
    const second = msg[1];
    if (second >= 192 && second <= 223) {
      this.counters.countRtcp(msg.length);
      this.total.countRtcp(msg.length);
      return;
    }
    this.counters.countRtp(msg.length);
    this.total.countRtp(msg.length);
    this.activity++;
    this.rtpStats.update(msg);
    const to = this.peer;
    if (to === null || !to.sendRtp(msg)) this.notSent();
  }

  /** Sends a packet from the other side to the browser, SSRC rewritten; false when not sent. */
  sendRtp(msg: Buffer): boolean {
    if (this.closed || !this.receivesRtp || !this.track.isOpen()) return false;
    msg.writeUInt32BE(this.ssrc, 8);
    try {
      this.track.sendMessageBinary(msg);
    } catch {
      this.counters.sendErrors++;
      this.total.sendErrors++;
    }
    return true;
  }

  private drop(): void {
    this.counters.dropped++;
    this.total.dropped++;
  }

  private notSent(): void {
    this.counters.unsent++;
    this.total.unsent++;
  }

  /** The ICE state, for stats and tests. */
  get state(): string {
    return this.closed ? 'closed' : this.pc.state();
  }

  /** Stops the peer connection (ICE, DTLS and its port). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.peer = null;
    try {
      this.track.close();
      this.pc.close();
    } catch {
      // Closing twice from the library's side (the browser left first) is not an error for us.
    }
  }

  private gathered(): Promise<void> {
    return gatheringComplete(this.pc, this.options.gatherTimeoutMs ?? 3000);
  }

}

function asMediaError(err: unknown): MediaError {
  if (err instanceof MediaError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new MediaError(MediaErrorCode.UnsupportedSdp, `WebRTC: ${message.replace(/[\r\n]/g, ' ').slice(0, 120)}`);
}

/**
 * Resolves when the peer connection's ICE gathering is complete (the SDP then carries every
 * candidate: SIP has no trickle here), or after `timeoutMs` with what was gathered so far.
 */
export function gatheringComplete(pc: PeerConnection, timeoutMs: number): Promise<void> {
  if (pc.gatheringState() === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    timer.unref();
    pc.onGatheringStateChange((state) => {
      if (state === 'complete') {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}
