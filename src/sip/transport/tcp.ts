// Owns the TCP transport (RFC 3261 §18): accepts and opens connections, frames each stream into
// messages, and reuses a connection to the same peer in both directions, because responses must go
// back over the connection the request came on (§18.2.2). A response never opens a connection: if
// the request's connection is gone, the response is dropped and reported. Inbound connections are
// capped per IP and closed when idle (ConnectionGuard). Must not import anything outside src/sip.
import { type Server, type Socket, connect, createServer } from 'node:net';
import { ConnectionGuard } from './connection-guard';
import { listenServer } from './listen';
import { StreamFramer } from './stream-framer';
import type { Endpoint, FrameSink, SendOptions, Source, Transport } from './types';

function key(address: string, port: number): string {
  return `${address.replace(/^::ffff:/, '')}:${port}`;
}

export class TcpTransport implements Transport {
  readonly name = 'TCP' as const;
  private server?: Server;
  private bound: Endpoint;
  private readonly connections = new Map<string, Socket>();

  constructor(
    private readonly bind: Endpoint,
    private readonly sink: FrameSink,
    private readonly maxMessageSize: number,
    private readonly guard: ConnectionGuard = new ConnectionGuard({ maxPerIp: 0, idleMs: 0 }),
  ) {
    this.bound = bind;
  }

  local(): Endpoint {
    return this.bound;
  }

  listen(): Promise<void> {
    const server = createServer((socket) => this.adopt(socket, true));
    this.server = server;
    return listenServer(server, this.bind, this.sink).then((bound) => {
      this.bound = bound;
    });
  }

  /** Takes a connection into service; `inbound` ones count against the peer's per-IP cap. */
  private adopt(socket: Socket, inbound: boolean): boolean {
    const remote = { address: (socket.remoteAddress ?? '').replace(/^::ffff:/, ''), port: socket.remotePort ?? 0 };
    const source: Source = { ...remote, transport: 'TCP', local: this.bound };
    const lease = this.guard.admit(
      remote.address,
      () => {
        this.sink.report({ kind: 'refused', reason: 'TCP connection idle too long; closed', source });
        socket.destroy();
      },
      inbound,
    );
    if (!lease) {
      this.sink.report({ kind: 'refused', reason: 'too many TCP connections from this address; connection closed', source });
      socket.destroy();
      return false;
    }
    const id = key(remote.address, remote.port);
    this.connections.set(id, socket);
    const framer = new StreamFramer(this.maxMessageSize);
    socket.on('data', (chunk) => {
      lease.touch();
      const result = framer.push(chunk);
      for (const frame of result.frames) this.sink.frame(frame, source);
      if (result.error) {
        // A stream that lost its framing cannot be resynchronised: close it (RFC 3261 §18.3).
        this.sink.report({ kind: 'oversize', reason: `${result.error}; connection closed`, source });
        socket.destroy();
      }
    });
    socket.on('error', (err) => this.sink.report({ kind: 'socket-error', reason: err.message, source }));
    socket.on('close', () => {
      lease.release();
      if (this.connections.get(id) === socket) this.connections.delete(id);
    });
    return true;
  }

  async send(data: Buffer, to: Endpoint, options: SendOptions = {}): Promise<void> {
    let socket = this.connections.get(key(to.address, to.port));
    if (!socket || socket.destroyed) {
      if (options.connect === false) throw new Error('the connection is gone; not reopened for a response');
      socket = await this.open(to);
    }
    const open = socket;
    await new Promise<void>((resolve, reject) => open.write(data, (err) => (err ? reject(err) : resolve())));
  }

  private open(to: Endpoint): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: to.address, port: to.port, localAddress: this.bound.address });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        this.adopt(socket, false);
        resolve(socket);
      });
    });
  }

  async close(): Promise<void> {
    for (const socket of this.connections.values()) socket.destroy();
    this.connections.clear();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
