/**
 * The pool of RTP/RTCP port pairs of the relay: an even RTP port and the odd
 * RTCP port after it, taken from RTP_PORT_MIN–RTP_PORT_MAX, bound as UDP
 * sockets and given back when a session ends. Imports nothing of the domain.
 *
 * Free pairs are a FIFO queue, so a released pair goes to the back: late
 * packets of an ended call then do not land in the next call at once. A pair
 * that another program holds (EADDRINUSE) is skipped and retried later.
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIPv4 } from 'node:net';
import { MediaError, MediaErrorCode } from './media.errors';

export interface PortPoolOptions {
  readonly portMin: number;
  readonly portMax: number;
  /** Local address to bind; 0.0.0.0 for every interface. */
  readonly bindAddress: string;
  /** SO_RCVBUF/SO_SNDBUF in bytes; the kernel default when absent. */
  readonly socketBufferBytes?: number;
}

/** One bound pair: `rtp` on the even port, `rtcp` on the next. */
export interface PortPair {
  readonly rtpPort: number;
  readonly rtcpPort: number;
  readonly rtp: Socket;
  readonly rtcp: Socket;
}

/**
 * dgram's default lookup goes through dns.lookup and process.nextTick for every
 * send, even to an IP literal. The relay only ever sends to IPv4 literals it
 * checked when it learnt them (from SDP, or from the packet's own source), so
 * answering at once skips that per-packet work and never resolves a host name.
 */
function literalLookup(
  address: string,
  _family: unknown,
  callback: (err: Error | null, address: string, family: number) => void,
): void {
  callback(null, address, 4);
}

export class PortPool {
  private readonly free: number[] = [];
  private head = 0;
  private readonly total: number;

  constructor(private readonly options: PortPoolOptions) {
    const first = options.portMin % 2 === 0 ? options.portMin : options.portMin + 1;
    if (!Number.isInteger(first) || first < 1024 || options.portMax > 65535 || first + 1 > options.portMax) {
      throw new RangeError(`RTP port range ${options.portMin}-${options.portMax} holds no even/odd pair`);
    }
    if (!isIPv4(options.bindAddress)) throw new RangeError(`bind address must be IPv4: ${options.bindAddress}`);
    for (let port = first; port + 1 <= options.portMax; port += 2) this.free.push(port);
    this.total = this.free.length;
  }

  /** Number of pairs in the range. */
  get size(): number {
    return this.total;
  }

  /** Number of pairs free now. */
  get available(): number {
    return this.free.length - this.head;
  }

  /** Binds the next free pair; MediaError(PortsExhausted) when none can be bound. */
  async acquire(): Promise<PortPair> {
    // Each pair is tried at most once per call; concurrent calls share the queue.
    for (let tries = this.available; tries > 0 && this.available > 0; tries--) {
      const port = this.take();
      const pair = await this.bindPair(port);
      if (pair) return pair;
      this.free.push(port);
    }
    throw new MediaError(MediaErrorCode.PortsExhausted, `no free RTP port pair in ${this.options.portMin}-${this.options.portMax}`);
  }

  /** Closes the pair's sockets and returns it to the pool once the kernel has let go of the ports. */
  async release(pair: PortPair): Promise<void> {
    await Promise.all([closeSocket(pair.rtp), closeSocket(pair.rtcp)]);
    this.free.push(pair.rtpPort);
  }

  private take(): number {
    const port = this.free[this.head++];
    // Compact now and then so the queue does not grow without bound.
    if (this.head > 1024 && this.head * 2 > this.free.length) {
      this.free.splice(0, this.head);
      this.head = 0;
    }
    return port;
  }

  private async bindPair(rtpPort: number): Promise<PortPair | null> {
    const rtp = await this.bindOne(rtpPort);
    if (!rtp) return null;
    const rtcp = await this.bindOne(rtpPort + 1);
    if (!rtcp) {
      await closeSocket(rtp);
      return null;
    }
    return { rtpPort, rtcpPort: rtpPort + 1, rtp, rtcp };
  }

  private bindOne(port: number): Promise<Socket | null> {
    return new Promise((resolve) => {
      const socket = createSocket({
        type: 'udp4',
        lookup: literalLookup as never,
        ...(this.options.socketBufferBytes
          ? { recvBufferSize: this.options.socketBufferBytes, sendBufferSize: this.options.socketBufferBytes }
          : {}),
      });
      const onError = () => {
        socket.close();
        resolve(null);
      };
      socket.once('error', onError);
      socket.bind({ port, address: this.options.bindAddress, exclusive: true }, () => {
        socket.off('error', onError);
        // A send error (ICMP port unreachable surfaces as ECONNREFUSED on some
        // systems) must not crash the gateway; the peer may come back.
        socket.on('error', ignore);
        resolve(socket);
      });
    });
  }
}

function ignore(): void {}

function closeSocket(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve(); // already closed
    }
  });
}
