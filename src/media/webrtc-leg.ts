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
 * Offering to a browser (a browser callee) uses two peer connections, because of a race in
 * libdatachannel (up to at least 0.24, the one node-datachannel 0.33 bundles; upstream PR #1612
 * "Fix DTLS startup ordering" is open): `setRemoteDescription` hands the ICE credentials to the ICE
 * agent before it commits the remote description with its fingerprint, and starts DTLS as soon as
 * ICE connects. A browser starts its connectivity checks before its SIP answer reaches us, so the
 * offering agent already has a peer-reflexive pair when the answer is applied; on loopback or a
 * LAN ICE and the whole DTLS handshake then finish in under a millisecond, and if this thread is
 * descheduled in between (a loaded host), the browser's certificate is checked against no
 * fingerprint, refused ("unknown CA"), the connection closes, and `setRemoteDescription` throws
 * "Got a remote candidate without ICE transport": the answered call failed with 480/502.
 * So the offer comes from a first connection (`offer`) that is closed as soon as its SDP is read,
 * its port held by a silent placeholder socket; the answer is applied (`acceptAnswer`) to a second
 * connection that *answers* it, with the same certificate (webrtc-certificate.ts), ICE credentials
 * and port. An answering connection commits the remote description before its ICE agent starts
 * (as for a browser caller), so DTLS always sees the fingerprint; it takes the controlling ICE
 * role of the original offerer (`asTwinOffer`).
 *
 * Latching: the browser's address is never taken from packets. ICE connectivity checks (with the
 * ufrag/pwd of the signalled SDP) decide the path, and DTLS checks the signalled fingerprint, so
 * media from anyone else is not decrypted, let alone relayed.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { setTimeout as sleep } from 'node:timers/promises';
import { Audio, PeerConnection, initLogger, type Track } from 'node-datachannel';
import { dtlsIdentity, type DtlsIdentity } from './webrtc-certificate';
import type { MediaClock } from './media-clock';
import { MediaCounters } from './media-counters';
import { MediaError, MediaErrorCode } from './media.errors';
import { RtpStreamStats } from './rtp-stream-stats';
import type { Direction, PayloadType } from './sdp-rewrite';
import { asTwinOffer, browserSdp, libDirection, receives, reverse, type WebRtcEndpoint } from './webrtc-sdp';

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
  private pc: PeerConnection;
  private track: Track;
  private readonly ssrc = randomInt(1, 0xffffffff);
  private closed = false;
  /** An offering leg between its offer and the browser's answer (see the module comment). */
  private pending?: { readonly port: number; readonly credentials: IceCredentials; readonly identity: DtlsIdentity; hold: Socket | null };
  /** An offering leg's SDP: its first connection's offer, which the browser keeps answering to. */
  private offerSdp?: string;

  private constructor(
    readonly role: 'answerer' | 'offerer',
    private readonly options: WebRtcOptions,
    private readonly total: MediaCounters,
    clock: MediaClock,
    private readonly mid: string,
    direction: Direction,
    private readonly payloads: readonly PayloadType[],
    identity?: DtlsIdentity,
  ) {
    if (!loggerSet) {
      // The library logs to stdout by default; only its errors matter to an operator.
      loggerSet = true;
      initLogger('Error', () => undefined);
    }
    this.rtpStats = new RtpStreamStats(clock);
    this.rtpStats.setClockRates(payloads);
    this.direction = direction;
    this.receivesRtp = receives(direction);
    this.onMessage = this.onMessage.bind(this);
    ({ pc: this.pc, track: this.track } = this.connection({ portMin: options.portMin, portMax: options.portMax, identity }));
  }

  /**
   * A peer connection with this leg's audio track (our codecs and SSRC; added before any
   * description, so the SDP carries them), on `ports`, presenting `identity` when given.
   */
  private connection(o: { portMin: number; portMax: number; identity?: DtlsIdentity; answerByHand?: boolean }): { pc: PeerConnection; track: Track } {
    const pc = new PeerConnection('gw', {
      iceServers: [],
      ...(this.options.bindAddress && this.options.bindAddress !== '0.0.0.0' ? { bindAddress: this.options.bindAddress } : {}),
      portRangeBegin: o.portMin,
      portRangeEnd: o.portMax,
      disableAutoNegotiation: o.answerByHand ?? false,
      ...(o.identity ? { certificatePemFile: o.identity.certificatePem, keyPemFile: o.identity.keyPem } : {}),
    });
    const audio = new Audio(this.mid, libDirection(this.direction));
    for (const p of this.payloads) {
      if (p.fmtp !== undefined) audio.addAudioCodec(p.payload, `${p.codec}/${p.clockRate}`, p.fmtp);
      else audio.addAudioCodec(p.payload, `${p.codec}/${p.clockRate}`);
    }
    audio.addSSRC(this.ssrc, 'gateway', 'gateway', 'audio');
    const track = pc.addTrack(audio);
    track.onMessage(this.onMessage);
    return { pc, track };
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

  /**
   * Makes an offer to a browser (a browser callee): the codecs the caller offered that cross. The
   * connection that gathered it is closed at once and its port held until `acceptAnswer`.
   */
  static async offer(payloads: readonly PayloadType[], direction: Direction, options: WebRtcOptions, total: MediaCounters, clock: MediaClock): Promise<WebRtcLeg> {
    const identity = dtlsIdentity();
    const leg = new WebRtcLeg('offerer', options, total, clock, '0', direction, payloads, identity);
    try {
      const credentials = newIceCredentials();
      leg.pc.setLocalDescription('offer', credentials);
      await leg.gathered();
      const sdp = leg.pc.localDescription()?.sdp;
      const port = sdp ? candidatePort(sdp) : undefined;
      if (!sdp || port === undefined) throw new MediaError(MediaErrorCode.UnsupportedSdp, 'WebRTC: no ICE candidate gathered for the offer');
      leg.offerSdp = sdp;
      leg.pending = { port, credentials, identity, hold: null };
      leg.closeConnection();
      leg.pending.hold = await holdPort(port, options.bindAddress);
      if (leg.closed) leg.releaseHold();
    } catch (err) {
      leg.close();
      throw asMediaError(err);
    }
    return leg;
  }

  /**
   * The browser's answer to our offer: a new connection, with the offer's certificate, ICE
   * credentials and port, answers it (see the module comment for why not the offering one).
   */
  acceptAnswer(answerSdp: string, answer: WebRtcEndpoint): void {
    if (this.remote) {
      this.update(answer);
      return;
    }
    const pending = this.pending;
    if (!pending || this.closed) throw new MediaError(MediaErrorCode.SessionClosed, 'WebRTC leg has no offer pending');
    this.pending = undefined;
    this.releaseHold(pending);
    try {
      ({ pc: this.pc, track: this.track } = this.connection({ portMin: pending.port, portMax: pending.port, identity: pending.identity, answerByHand: true }));
      this.pc.setRemoteDescription(asTwinOffer(answerSdp), 'offer');
      this.pc.setLocalDescription('answer', pending.credentials);
    } catch (err) {
      this.closeConnection();
      throw asMediaError(err);
    }
    this.remote = answer;
    this.receivesRtp = receives(answer.direction);
  }

  /**
   * A later SDP from the browser (hold, resume): same ICE and DTLS, new direction. What our SDP
   * says back comes from the other side's answer (`restrict`).
   */
  update(sdp: WebRtcEndpoint): void {
    this.receivesRtp = receives(sdp.direction);
  }

  /** The other side's codecs and direction (as that side wrote it), as the SDP the browser gets will say. */
  restrict(payloads: readonly number[], direction: Direction): void {
    this.keep = [...payloads];
    this.direction = direction;
  }

  /** Our SDP for the browser, with the public address, the codecs kept and the direction. */
  sdp(): string {
    const local = this.offerSdp ?? this.pc.localDescription()?.sdp;
    if (!local) throw new MediaError(MediaErrorCode.SessionClosed, 'WebRTC leg has no local description');
    return browserSdp(local, { publicAddress: this.options.publicAddress, keep: this.keep, direction: this.direction });
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
    if (this.closed || this.pending || !this.receivesRtp || !this.track.isOpen()) return false;
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
    if (this.closed) return 'closed';
    return this.pending ? 'new' : this.pc.state();
  }

  /** Stops the peer connection (ICE, DTLS and its port). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.peer = null;
    this.releaseHold();
    this.closeConnection();
  }

  private closeConnection(): void {
    try {
      this.track.close();
      this.pc.close();
    } catch {
      // Closing twice from the library's side (the browser left first) is not an error for us.
    }
  }

  private releaseHold(pending = this.pending): void {
    const hold = pending?.hold;
    if (!hold) return;
    pending.hold = null;
    hold.close();
  }

  private gathered(): Promise<void> {
    return gatheringComplete(this.pc, this.options.gatherTimeoutMs ?? 3000);
  }

}

export interface IceCredentials {
  iceUfrag: string;
  icePwd: string;
}

/** RFC 8445 §5.3: ufrag at least 24 bits, pwd at least 128 bits of randomness, ice-char only. */
export function newIceCredentials(): IceCredentials {
  const iceChars = (bytes: number) => randomBytes(bytes).toString('base64').replace(/=+$/, '');
  return { iceUfrag: iceChars(6), icePwd: iceChars(18) };
}

/** The port of the first candidate of an SDP (libdatachannel gathers one UDP port per connection). */
export function candidatePort(sdp: string): number | undefined {
  const m = /^a=candidate:\S+ \d+ udp \d+ \S+ (\d+) /im.exec(sdp);
  return m ? Number(m[1]) : undefined;
}

/**
 * Binds `port` with a socket that drops what it gets, until the answering connection takes the
 * port: the browser's early checks then go unanswered (as over a slow path) rather than drawing
 * ICMP errors, and no other leg's ICE agent picks the port meanwhile. The offering connection's
 * socket closes on a library thread, so the bind is retried for a short while; null if it never
 * succeeds (the answer then still binds the port if it is free).
 */
export async function holdPort(port: number, bindAddress = '0.0.0.0', attempts = 40): Promise<Socket | null> {
  for (let i = 0; i < attempts; i++) {
    const socket = createSocket(bindAddress.includes(':') ? 'udp6' : 'udp4');
    socket.on('message', () => undefined);
    const bound = await new Promise<boolean>((resolve) => {
      socket.once('error', () => resolve(false));
      socket.bind(port, bindAddress, () => resolve(true));
    });
    if (bound) {
      socket.on('error', () => undefined);
      socket.unref();
      return socket;
    }
    socket.close();
    // Not the global setTimeout: a test's fake clock must not stop a bind that waits for a native thread.
    await sleep(5);
  }
  return null;
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
