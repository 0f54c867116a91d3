import { rtpPacket } from '../../test/media/udp-peer';
import { MediaClock } from './media-clock';
import { RtpStreamStats } from './rtp-stream-stats';

/** A clock the test sets by hand (it never ticks: acquire() is not called). */
const clock = new MediaClock();
const at = (stats: RtpStreamStats, packet: Buffer, ms: number) => {
  clock.ms[0] = ms;
  stats.update(packet);
};

const pcmu = [{ payload: 0, codec: 'PCMU', clockRate: 8000 }, { payload: 101, codec: 'telephone-event', clockRate: 8000 }];

function fed(packets: Array<[seq: number, arrivalMs: number, timestamp?: number, pt?: number]>, ssrc = 1) {
  const stats = new RtpStreamStats(clock);
  stats.setClockRates(pcmu);
  for (const [seq, ms, ts, pt] of packets) at(stats, rtpPacket(seq, { ssrc, timestamp: ts ?? seq * 160, pt }), ms);
  return stats;
}

describe('RtpStreamStats (RFC 3550 §A.1, §A.3, §A.8)', () => {
  it('has no loss and no jitter for a steady 20 ms stream', () => {
    const stats = fed(Array.from({ length: 50 }, (_, i) => [i, i * 20] as [number, number]));
    expect(stats.lost).toBe(0);
    expect(stats.expected).toBe(49); // the first packet is spent on probation
    expect(stats.jitterMs).toBe(0);
  });

  it('counts a gap as loss across the 16-bit sequence wrap', () => {
    const seqs = [65533, 65534, 65535, 0, 2, 3]; // 1 missing after the wrap
    const stats = fed(seqs.map((s, i) => [s, i * 20, (65533 + i) * 160] as [number, number, number]));
    expect(stats.expected).toBe(6);
    expect(stats.lost).toBe(1);
  });

  it('computes jitter with the §A.8 estimator: J += (|D| - J) / 16', () => {
    // Packets every 20 ms of media, one arrives 10 ms late: |D| = 10 ms then 10 ms back.
    const arrivals = [0, 20, 40, 70, 80, 100];
    const stats = fed(arrivals.map((at, i) => [i, at] as [number, number]));
    let j = 0;
    for (const d of [0, 0, 10, 10, 0].slice(1)) j += (d - j) / 16; // first transit pair is after probation
    expect(stats.jitterMs).toBeCloseTo(j, 6);
  });

  it('leaves telephone-event timestamps out of jitter but counts their sequence numbers', () => {
    const stats = fed([
      [1, 0],
      [2, 20],
      [3, 40, 320, 101],
      [4, 60, 320, 101], // same event timestamp, 20 ms later: would read as jitter
      [5, 80],
    ]);
    expect(stats.jitterMs).toBe(0);
    expect(stats.lost).toBe(0);
    expect(stats.packetsReceived).toBe(4);
  });

  it('starts over when the SSRC changes, and ignores non-RTP and muxed RTCP', () => {
    const stats = fed([[1, 0], [2, 20], [3, 40]]);
    at(stats, rtpPacket(500, { ssrc: 2 }), 60);
    at(stats, rtpPacket(501, { ssrc: 2 }), 80);
    at(stats, rtpPacket(503, { ssrc: 2 }), 100);
    expect(stats.expected).toBe(3);
    expect(stats.lost).toBe(1);
    at(stats, Buffer.from('not rtp'), 120);
    at(stats, rtpPacket(9999, { ssrc: 2, pt: 0xc9 }), 140); // RTCP RR under rtcp-mux
    expect(stats.expected).toBe(3);
  });
});
