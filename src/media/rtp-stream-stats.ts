/**
 * Loss and interarrival jitter of one RTP stream, by the algorithms of
 * RFC 3550 §A.1 (sequence validation), §A.3 (expected/lost) and §A.8 (jitter).
 * Imports nothing of the domain. Reads only bytes 0–11 of the RTP header, as
 * the relay must never look further into a packet (payloads pass untouched).
 * No method allocates: it is called once per packet on the relay's hot path,
 * which is why the arrival time comes from a MediaClock slot, not an argument.
 */
import type { MediaClock } from './media-clock';

const RTP_SEQ_MOD = 0x10000;
const MAX_DROPOUT = 3000;
const MAX_MISORDER = 100;
const MIN_SEQUENTIAL = 2;

export class RtpStreamStats {
  /** The clock's slot, read directly: a double passed between functions may be boxed. */
  private readonly now: Float64Array;
  /** Clock rate in Hz per payload type (0 = unknown, no jitter computed). */
  private readonly clockRates = new Uint32Array(128);
  private ssrc = -1;
  private maxSeq = 0;
  private cycles = 0;
  private baseSeq = 0;
  private badSeq = RTP_SEQ_MOD + 1;
  private probation = MIN_SEQUENTIAL;
  private received = 0;
  private transit = 0;
  private hasTransit = false;
  /** Jitter in timestamp units, scaled as in §A.8 (a float, not the integer <<4 form). */
  private jitterUnits = 0;
  private jitterRate = 0;

  constructor(clock: MediaClock) {
    this.now = clock.ms;
  }

  /**
   * Declares the clock rate of each payload type. Telephone-event types are
   * left at 0: their timestamp is the event start, repeated, so it says nothing
   * of arrival jitter; they still count for sequence loss since RFC 4733 packets
   * share the audio stream's sequence space.
   */
  setClockRates(rates: readonly { payload: number; clockRate: number; codec: string }[]): void {
    this.clockRates.fill(0);
    for (const r of rates) {
      if (r.payload >= 0 && r.payload < 128 && r.codec.toLowerCase() !== 'telephone-event') {
        this.clockRates[r.payload] = r.clockRate;
      }
    }
  }

  /** Feeds one packet, arrived at the clock's current time. Non-RTP packets are ignored. */
  update(packet: Buffer): void {
    if (packet.length < 12 || packet[0] >> 6 !== 2) return;
    const pt = packet[1] & 0x7f;
    // 72–76 with the marker bit are RTCP SR/RR/SDES/BYE/APP under rtcp-mux (RFC 5761 §4).
    if (pt >= 72 && pt <= 76) return;
    const seq = (packet[2] << 8) | packet[3];
    const ssrc = packet.readUInt32BE(8);
    if (ssrc !== this.ssrc) {
      // A new source (e.g. after a re-INVITE) starts a new count, as a receiver would.
      this.ssrc = ssrc;
      this.initSeq(seq);
      this.maxSeq = seq - 1;
      this.probation = MIN_SEQUENTIAL;
      this.received = 0;
      this.hasTransit = false;
      this.jitterUnits = 0;
    }
    if (!this.updateSeq(seq)) return;
    const rate = this.clockRates[pt];
    if (rate === 0) return;
    if (rate !== this.jitterRate) {
      // A codec change changes the timestamp unit; start the transit chain again.
      this.jitterRate = rate;
      this.hasTransit = false;
    }
    const arrival = (this.now[0] * rate) / 1000;
    const transit = arrival - packet.readUInt32BE(4);
    if (this.hasTransit) {
      let d = transit - this.transit;
      if (d < 0) d = -d;
      this.jitterUnits += (d - this.jitterUnits) / 16;
    }
    this.transit = transit;
    this.hasTransit = true;
  }

  /** Packets the sequence numbers say were sent but never arrived (§A.3); may be negative with duplicates. */
  get lost(): number {
    return this.expected - this.received;
  }

  get expected(): number {
    if (this.ssrc === -1 || this.probation > 0) return 0;
    return this.cycles + this.maxSeq - this.baseSeq + 1;
  }

  get packetsReceived(): number {
    return this.received;
  }

  /** Interarrival jitter in milliseconds. */
  get jitterMs(): number {
    return this.jitterRate === 0 ? 0 : (this.jitterUnits * 1000) / this.jitterRate;
  }

  private initSeq(seq: number): void {
    this.baseSeq = seq;
    this.maxSeq = seq;
    this.badSeq = RTP_SEQ_MOD + 1;
    this.cycles = 0;
    this.received = 0;
  }

  /** §A.1 update_seq: false while the source is on probation or the packet is out of any sane order. */
  private updateSeq(seq: number): boolean {
    const udelta = (seq - this.maxSeq + RTP_SEQ_MOD) % RTP_SEQ_MOD;
    if (this.probation > 0) {
      if (seq === (this.maxSeq + 1) % RTP_SEQ_MOD) {
        this.probation--;
        this.maxSeq = seq;
        if (this.probation === 0) {
          this.initSeq(seq);
          this.received++;
          return true;
        }
      } else {
        this.probation = MIN_SEQUENTIAL - 1;
        this.maxSeq = seq;
      }
      return false;
    }
    if (udelta < MAX_DROPOUT) {
      if (seq < this.maxSeq) this.cycles += RTP_SEQ_MOD;
      this.maxSeq = seq;
    } else if (udelta <= RTP_SEQ_MOD - MAX_MISORDER) {
      if (seq === this.badSeq) {
        // Two sequential packets after a large jump: the sender restarted; resync.
        this.initSeq(seq);
      } else {
        this.badSeq = (seq + 1) % RTP_SEQ_MOD;
        return false;
      }
    }
    // else: duplicate or reordered packet, counted as received like §A.1 does.
    this.received++;
    return true;
  }
}
