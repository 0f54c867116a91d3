/**
 * A UDP endpoint on 127.0.0.1 for media tests: it plays a phone or a trunk,
 * keeps what it receives, and lets a test await the next datagram.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';

export interface Received {
  readonly data: Buffer;
  readonly from: RemoteInfo;
}

export class UdpPeer {
  readonly received: Received[] = [];
  private waiters: Array<(r: Received) => void> = [];

  private constructor(readonly socket: Socket) {
    socket.on('message', (data, from) => {
      const r = { data, from };
      const waiter = this.waiters.shift();
      if (waiter) waiter(r);
      else this.received.push(r);
    });
  }

  static async open(port = 0): Promise<UdpPeer> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, '127.0.0.1', () => resolve());
    });
    return new UdpPeer(socket);
  }

  get port(): number {
    return this.socket.address().port;
  }

  send(data: Buffer, port: number): Promise<void> {
    return new Promise((resolve, reject) => this.socket.send(data, port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
  }

  /** The next datagram (already queued or still to come); fails after `timeoutMs`. */
  next(timeoutMs = 5000): Promise<Received> {
    const queued = this.received.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== take);
        reject(new Error(`no datagram on port ${this.port} within ${timeoutMs} ms`));
      }, timeoutMs);
      const take = (r: Received) => {
        clearTimeout(timer);
        resolve(r);
      };
      this.waiters.push(take);
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

/** An RTP packet: 12-byte header and `payloadBytes` of payload (160 for 20 ms of PCMU, 172 bytes in all). */
export function rtpPacket(seq: number, options: { pt?: number; ssrc?: number; timestamp?: number; payload?: Buffer; payloadBytes?: number } = {}): Buffer {
  const payload = options.payload ?? Buffer.alloc(options.payloadBytes ?? 160, seq & 0xff);
  const packet = Buffer.alloc(12 + payload.length);
  packet[0] = 0x80;
  packet[1] = options.pt ?? 0;
  packet.writeUInt16BE(seq & 0xffff, 2);
  packet.writeUInt32BE((options.timestamp ?? seq * 160) >>> 0, 4);
  packet.writeUInt32BE(options.ssrc ?? 0x1234abcd, 8);
  payload.copy(packet, 12);
  return packet;
}

/** Polls `check` until it holds; for counters the relay updates asynchronously. */
export async function eventually(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

export function sdpFor(rtpPort: number, extra: string[] = [], address = '127.0.0.1'): string {
  return (
    [
      'v=0',
      `o=- 1 1 IN IP4 ${address}`,
      's=-',
      `c=IN IP4 ${address}`,
      't=0 0',
      `m=audio ${rtpPort} RTP/AVP 0 101`,
      'a=rtpmap:0 PCMU/8000',
      'a=rtpmap:101 telephone-event/8000',
      'a=fmtp:101 0-15',
      ...extra,
    ].join('\r\n') + '\r\n'
  );
}
