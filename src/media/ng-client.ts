/**
 * A client for rtpengine's ng control protocol: each command is a bencoded dictionary behind a
 * cookie (`<cookie> d7:command5:offer...e`) in one UDP datagram, and the reply comes back behind
 * the same cookie. Imports nothing of the domain.
 *
 * Written here instead of using `rtpengine-client` (jambonz, 0.4.x, JavaScript without types):
 * that client sends each command once (no retransmission, so one lost datagram fails a call),
 * keeps one remote address on the instance, prints stray or garbled replies with console.log and
 * re-emits them as 'error' events (an unhandled 'error' ends the process), and has no notion of
 * several rtpengines. This one:
 *  - retransmits a command with the SAME cookie until a reply or the timeout (rtpengine caches its
 *    replies by cookie, so a retransmitted offer is answered, not applied twice);
 *  - knows several rtpengines (`RTPENGINE_NG=host:port,host:port`): `pick()` chooses one per call
 *    (round robin over those not marked down), and one that timed out is skipped for a while;
 *  - ignores (counts, reports to `onStray`) datagrams that are not a reply to a command in flight.
 */
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { bdecode, bencode, type Bencoded } from './bencode';

export interface NgAddress {
  readonly host: string;
  readonly port: number;
}

export type NgReply = { [key: string]: Bencoded | undefined };

export interface NgClientOptions {
  readonly engines: readonly NgAddress[];
  /** How long one command may wait for its reply from one rtpengine (retransmitted within it); default 1500 ms. */
  readonly timeoutMs?: number;
  /** How many times a command is sent in all (the first and the retransmissions); default 3. */
  readonly attempts?: number;
  /** An rtpengine that timed out is not picked for new calls for this long; default 10 s. */
  readonly downForMs?: number;
  /** A datagram that answers nothing in flight (garbage, late, spoofed): reported, then dropped. */
  readonly onStray?: (from: string, why: string) => void;
}

/** No reply from an rtpengine within the timeout (down, unreachable, overloaded). */
export class NgTimeoutError extends Error {
  constructor(readonly engine: NgAddress, command: string) {
    super(`rtpengine ${engine.host}:${engine.port} did not answer ${command}`);
    this.name = 'NgTimeoutError';
  }
}

interface Pending {
  resolve(reply: NgReply): void;
  reject(err: Error): void;
  engine: NgAddress;
}

export const engineKey = (e: NgAddress) => `${e.host}:${e.port}`;

export class NgClient {
  private readonly socket: Socket;
  private readonly ready: Promise<void>;
  private readonly pending = new Map<string, Pending>();
  private readonly downUntil = new Map<string, number>();
  private next = 0;
  private closed = false;
  /** Datagrams dropped because they answered nothing in flight. */
  stray = 0;

  constructor(private readonly options: NgClientOptions) {
    if (options.engines.length === 0) throw new Error('no rtpengine configured');
    this.socket = createSocket('udp4');
    this.socket.on('message', (msg, rinfo) => this.onMessage(msg, `${rinfo.address}:${rinfo.port}`));
    // A send to an unreachable rtpengine may surface as a socket error (ICMP): the command's timeout reports it.
    this.socket.on('error', () => undefined);
    this.ready = new Promise((resolve) => this.socket.bind(0, () => resolve()));
    this.socket.unref();
  }

  /** The local UDP port replies come to (after the first command). */
  get localPort(): number | undefined {
    try {
      return this.socket.address().port;
    } catch {
      return undefined;
    }
  }

  get engines(): readonly NgAddress[] {
    return this.options.engines;
  }

  /**
   * The rtpengine for a new call: round robin over those not marked down; when all are down, the
   * one whose mark ends first (better a try than a certain refusal). `skip` excludes engines
   * already tried for this call.
   */
  pick(skip: ReadonlySet<string> = new Set()): NgAddress | undefined {
    const all = this.options.engines.filter((e) => !skip.has(engineKey(e)));
    if (all.length === 0) return undefined;
    const now = Date.now();
    const up = all.filter((e) => (this.downUntil.get(engineKey(e)) ?? 0) <= now);
    if (up.length > 0) return up[this.next++ % up.length];
    return [...all].sort((x, y) => this.downUntil.get(engineKey(x))! - this.downUntil.get(engineKey(y))!)[0];
  }

  /** Sends `command` with its arguments to `engine`; resolves with the reply dictionary (which may say result: error). */
  async send(engine: NgAddress, command: string, args: Record<string, Bencoded | undefined> = {}): Promise<NgReply> {
    if (this.closed) throw new Error('rtpengine client closed');
    await this.ready;
    const cookie = randomBytes(8).toString('hex');
    const datagram = Buffer.concat([Buffer.from(`${cookie} `), bencode({ ...args, command })]);
    const timeoutMs = this.options.timeoutMs ?? 1500;
    const attempts = Math.max(1, this.options.attempts ?? 3);
    return new Promise<NgReply>((resolve, reject) => {
      const timers: NodeJS.Timeout[] = [];
      const done = () => {
        timers.forEach(clearTimeout);
        this.pending.delete(cookie);
      };
      this.pending.set(cookie, {
        engine,
        resolve: (reply) => {
          done();
          this.downUntil.delete(engineKey(engine));
          resolve(reply);
        },
        reject: (err) => {
          done();
          reject(err);
        },
      });
      const transmit = () => this.socket.send(datagram, engine.port, engine.host, () => undefined);
      transmit();
      for (let i = 1; i < attempts; i++) timers.push(setTimeout(transmit, (timeoutMs * i) / attempts));
      timers.push(
        setTimeout(() => {
          this.downUntil.set(engineKey(engine), Date.now() + (this.options.downForMs ?? 10_000));
          this.pending.get(cookie)?.reject(new NgTimeoutError(engine, command));
        }, timeoutMs),
      );
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of [...this.pending.values()]) p.reject(new Error('rtpengine client closed'));
    this.socket.close();
  }

  private onMessage(msg: Buffer, from: string): void {
    const space = msg.indexOf(0x20);
    const cookie = space > 0 && space <= 64 ? msg.toString('latin1', 0, space) : '';
    const pending = this.pending.get(cookie);
    if (!pending) return this.dropStray(from, 'no command in flight with this cookie');
    // Only the rtpengine the command went to may answer it (a reply from elsewhere is spoofed or confused).
    const { host, port } = pending.engine;
    if (from !== `${host}:${port}` && (isIP(host) !== 0 || !from.endsWith(`:${port}`))) return this.dropStray(from, 'reply from another address');
    let reply: Bencoded;
    try {
      reply = bdecode(msg, space + 1);
    } catch (err) {
      return this.dropStray(from, (err as Error).message);
    }
    if (typeof reply !== 'object' || Array.isArray(reply) || Buffer.isBuffer(reply)) return this.dropStray(from, 'reply is not a dictionary');
    pending.resolve(reply);
  }

  private dropStray(from: string, why: string): void {
    this.stray++;
    this.options.onStray?.(from, why);
  }
}
