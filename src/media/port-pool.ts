/**
 * The pool of RTP/RTCP port pairs of the relay: an even RTP port and the odd
 * RTCP port after it, taken from RTP_PORT_MIN–RTP_PORT_MAX, bound as UDP
 * sockets and given back when a session ends. Imports nothing of the domain.
 *
 * A pair is chosen at random among the free ones (crypto.randomInt), so the
 * ports of the next call cannot be guessed from those of the last: whoever sprays
 * the range must hit a live pair by chance, and latch.ts stops them there. A
 * released pair cools down (`coolDownMs`, default 10 s) before it is chosen
 * again, so late packets of an ended call do not land in the next call; when no
 * cooled pair is left, the one released longest ago is taken. A pair that
 * another program holds (EADDRINUSE) is skipped and cools down too.
 */
import { randomInt } from 'node:crypto';
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
  /** A released pair is not chosen again for this long while others are free; default 10 s. */
  readonly coolDownMs?: number;
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
  /** Free pairs (RTP ports), in no order: one is picked at random. */
  private readonly free: number[] = [];
  /** Released pairs, oldest first, with when they were released. */
  private readonly cooling: { port: number; at: number }[] = [];
  private readonly total: number;
  private readonly coolDownMs: number;

  constructor(private readonly options: PortPoolOptions) {
    const first = options.portMin % 2 === 0 ? options.portMin : options.portMin + 1;
    if (!Number.isInteger(first) || first < 1024 || options.portMax > 65535 || first + 1 > options.portMax) {
      throw new RangeError(`RTP port range ${options.portMin}-${options.portMax} holds no even/odd pair`);
    }
    if (!isIPv4(options.bindAddress)) throw new RangeError(`bind address must be IPv4: ${options.bindAddress}`);
    for (let port = first; port + 1 <= options.portMax; port += 2) this.free.push(port);
    this.total = this.free.length;
    this.coolDownMs = options.coolDownMs ?? 10_000;
  }

  /** Number of pairs in the range. */
  get size(): number {
    return this.total;
  }

  /** Number of pairs free now (cooling ones included: they are taken when nothing else is left). */
  get available(): number {
    return this.free.length + this.cooling.length;
  }

  /** Binds a random free pair; MediaError(PortsExhausted) when none can be bound. */
  async acquire(): Promise<PortPair> {
    // Each pair is tried at most once per call; concurrent calls share the pool.
    for (let tries = this.available; tries > 0 && this.available > 0; tries--) {
      const port = this.take();
      const pair = await this.bindPair(port);
      if (pair) return pair;
      this.cooling.push({ port, at: Date.now() });
    }
    throw new MediaError(MediaErrorCode.PortsExhausted, `no free RTP port pair in ${this.options.portMin}-${this.options.portMax}`);
  }

  /** Closes the pair's sockets and lets it cool down before it is handed out again. */
  async release(pair: PortPair): Promise<void> {
    await Promise.all([closeSocket(pair.rtp), closeSocket(pair.rtcp)]);
    this.cooling.push({ port: pair.rtpPort, at: Date.now() });
  }

  private take(): number {
    const now = Date.now();
    let cooled = 0;
    while (cooled < this.cooling.length && now - this.cooling[cooled].at >= this.coolDownMs) this.free.push(this.cooling[cooled++].port);
    if (cooled > 0) this.cooling.splice(0, cooled);
    if (this.free.length === 0) return this.cooling.shift()!.port;
    const i = this.free.length === 1 ? 0 : randomInt(this.free.length);
    const port = this.free[i];
    this.free[i] = this.free[this.free.length - 1];
    this.free.pop();
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
