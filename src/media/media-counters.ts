/**
 * Packet counters of the relay, per leg and in total. Imports nothing of the
 * domain. Plain number fields on objects made once, so that counting on the
 * hot path writes in place and allocates nothing.
 */
export class MediaCounters {
  /** RTP packets accepted from the latched (or, before latching, first) source. */
  rtpPackets = 0;
  rtpBytes = 0;
  rtcpPackets = 0;
  rtcpBytes = 0;
  /** Packets from a source other than the latched one: dropped so nobody injects media. */
  dropped = 0;
  /** Accepted packets not sent on, because the other side has no address yet, holds, or did not ask to receive. */
  unsent = 0;
  /** Sends that dgram refused at once (a closed socket, a destination that slipped past the checks). */
  sendErrors = 0;

  countRtp(bytes: number): void {
    this.rtpPackets++;
    this.rtpBytes += bytes;
  }

  countRtcp(bytes: number): void {
    this.rtcpPackets++;
    this.rtcpBytes += bytes;
  }

  snapshot(): MediaCounterValues {
    return {
      rtpPackets: this.rtpPackets,
      rtpBytes: this.rtpBytes,
      rtcpPackets: this.rtcpPackets,
      rtcpBytes: this.rtcpBytes,
      dropped: this.dropped,
      unsent: this.unsent,
      sendErrors: this.sendErrors,
    };
  }
}

export interface MediaCounterValues {
  readonly rtpPackets: number;
  readonly rtpBytes: number;
  readonly rtcpPackets: number;
  readonly rtcpBytes: number;
  readonly dropped: number;
  readonly unsent: number;
  readonly sendErrors: number;
}
