/**
 * A stand-in for a browser's WebRTC stack in tests and benchmarks: node-datachannel (the library
 * the gateway uses, here on the other end) offering or answering the way Chrome does: one audio
 * m-line, UDP/TLS/RTP/SAVPF, ICE with host candidates, DTLS, rtcp-mux, BUNDLE, Opus first, then
 * PCMU, PCMA and telephone-event. It sends RTP (G.711 frames of a 440 Hz tone, 20 ms each) and
 * keeps what it receives. Loopback only: it binds 127.0.0.1 in the port range it is given.
 *
 * As an offerer it works around the same libdatachannel race as the gateway's offering legs
 * (src/media/webrtc-leg.ts, module comment): the offer comes from a connection closed at once, and
 * the answer is applied to a twin connection (same certificate, ICE credentials and port) that
 * answers it, so DTLS never checks the far end's certificate before its fingerprint is committed.
 * Chrome has no such race; this stand-in must not fail where a browser would not.
 */
import type { Socket } from 'node:dgram';
import { Audio, PeerConnection, type Track, initLogger } from 'node-datachannel';
import { newDtlsIdentity, type DtlsIdentity } from '../../src/media/webrtc-certificate';
import { asTwinOffer } from '../../src/media/webrtc-sdp';
import { candidatePort, gatheringComplete, holdPort, newIceCredentials, type IceCredentials } from '../../src/media/webrtc-leg';

export interface BrowserPeerOptions {
  portMin: number;
  portMax: number;
  /** Codecs offered, Chrome's order by default; `opusOnly` for a browser the PSTN cannot take. */
  codecs?: 'chrome' | 'opusOnly';
  direction?: 'SendRecv' | 'SendOnly' | 'RecvOnly';
}

let quiet = false;

/** µ-law of one sample (G.711), for a real tone rather than silence. */
export function muLaw(sample: number): number {
  const BIAS = 0x84;
  let s = Math.max(-32635, Math.min(32635, Math.round(sample)));
  const sign = s < 0 ? 0x80 : 0;
  if (s < 0) s = -s;
  s += BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (s >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

/** 160 PCMU bytes (20 ms at 8 kHz) of a 440 Hz tone, frame `n`. */
export function toneFrame(n: number): Buffer {
  const out = Buffer.alloc(160);
  for (let i = 0; i < 160; i++) out[i] = muLaw(8000 * Math.sin((2 * Math.PI * 440 * (n * 160 + i)) / 8000));
  return out;
}

export function rtp(seq: number, ssrc: number, payload: Buffer, pt = 0): Buffer {
  const header = Buffer.alloc(12);
  header[0] = 0x80;
  header[1] = pt;
  header.writeUInt16BE(seq & 0xffff, 2);
  header.writeUInt32BE((seq * 160) >>> 0, 4);
  header.writeUInt32BE(ssrc >>> 0, 8);
  return Buffer.concat([header, payload]);
}

export class BrowserPeer {
  private connection: { pc: PeerConnection; track: Track };
  /** An offer made, its answer not yet applied: the twin connection's identity and port. */
  private pending?: { port: number; credentials: IceCredentials; hold: Socket | null };
  private offerSdp?: string;
  /** Its own certificate (the gateway's legs in the same process have theirs), kept for the twin connection. */
  private readonly identity: DtlsIdentity = newDtlsIdentity();
  /** RTP received (RTCP left out). */
  readonly received: Buffer[] = [];
  receivedCount = 0;
  /** Keep at most this many packets (the benchmark only counts). */
  keep = 10_000;
  readonly ssrc = 0x10000000 + Math.floor(Math.random() * 0x0fffffff);

  constructor(private readonly o: BrowserPeerOptions) {
    if (!quiet) {
      quiet = true;
      initLogger('Error', () => undefined);
    }
    this.connection = this.open(o.portMin, o.portMax);
  }

  get pc(): PeerConnection {
    return this.connection.pc;
  }

  get track(): Track {
    return this.connection.track;
  }

  /** Our SDP as the far end last got it: the offer (an offering peer), else the current local description. */
  get localSdp(): string {
    return this.offerSdp ?? this.pc.localDescription()!.sdp;
  }

  private open(portMin: number, portMax: number, twin = false): { pc: PeerConnection; track: Track } {
    const identity = this.identity;
    const pc = new PeerConnection('browser', {
      iceServers: [],
      bindAddress: '127.0.0.1',
      portRangeBegin: portMin,
      portRangeEnd: portMax,
      certificatePemFile: identity.certificatePem,
      keyPemFile: identity.keyPem,
      disableAutoNegotiation: twin,
    });
    const audio = new Audio('0', this.o.direction ?? 'SendRecv');
    audio.addOpusCodec(111);
    if (this.o.codecs !== 'opusOnly') {
      audio.addAudioCodec(0, 'PCMU/8000');
      audio.addAudioCodec(8, 'PCMA/8000');
    }
    audio.addAudioCodec(110, 'telephone-event/48000');
    audio.addAudioCodec(126, 'telephone-event/8000');
    audio.addSSRC(this.ssrc, 'browser', 'stream', 'audio');
    const track = pc.addTrack(audio);
    track.onMessage((msg) => {
      if (msg.length < 12 || (msg[1] >= 192 && msg[1] <= 223)) return;
      this.receivedCount++;
      if (this.received.length < this.keep) this.received.push(msg);
    });
    return { pc, track };
  }

  /** Our offer, once ICE gathering is complete (as JsSIP and SIP.js wait for it). */
  async offer(): Promise<string> {
    const credentials = newIceCredentials();
    this.pc.setLocalDescription('offer', credentials);
    await this.gathered();
    const sdp = this.pc.localDescription()!.sdp;
    const port = candidatePort(sdp)!;
    this.offerSdp = sdp;
    this.pending = { port, credentials, hold: null };
    this.closeConnection();
    this.pending.hold = await holdPort(port, '127.0.0.1');
    return sdp;
  }

  /** Answers the gateway's offer (a browser callee). */
  async answer(offer: string): Promise<string> {
    this.pc.setRemoteDescription(offer, 'offer');
    await this.gathered();
    return this.pc.localDescription()!.sdp;
  }

  /** The gateway's answer to our offer, applied to the twin connection. */
  accept(answer: string): void {
    const pending = this.pending;
    if (!pending) {
      this.pc.setRemoteDescription(answer, 'answer');
      return;
    }
    this.pending = undefined;
    pending.hold?.close();
    this.connection = this.open(pending.port, pending.port, true);
    this.pc.setRemoteDescription(asTwinOffer(answer), 'offer');
    this.pc.setLocalDescription('answer', pending.credentials);
  }

  /** Resolves when DTLS-SRTP is up and the track can carry media. */
  opened(timeoutMs = 10_000): Promise<void> {
    if (this.track.isOpen()) return Promise.resolve();
    return new Promise((ok, fail) => {
      const timer = setTimeout(() => fail(new Error(`track not open after ${timeoutMs} ms (ICE ${this.pc.iceState()}, ${this.pc.state()})`)), timeoutMs);
      this.track.onOpen(() => {
        clearTimeout(timer);
        ok();
      });
    });
  }

  send(packet: Buffer): void {
    this.track.sendMessageBinary(packet);
  }

  close(): void {
    this.pending?.hold?.close();
    this.pending = undefined;
    this.closeConnection();
  }

  private closeConnection(): void {
    try {
      this.track.close();
      this.pc.close();
    } catch {
      // already closed
    }
  }

  private gathered(): Promise<void> {
    return gatheringComplete(this.pc, 10_000);
  }

}
