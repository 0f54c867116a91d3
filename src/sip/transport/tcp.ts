// Owns the TCP transport (RFC 3261 §18): accepts and opens connections, frames each stream into
// messages, and reuses a connection to the same peer in both directions, because responses must go
// back over the connection the request came on (§18.2.2). Must not import anything outside src/sip.
import { type Server, type Socket, connect, createServer } from 'node:net';
import { StreamFramer } from './stream-framer';
import type { Endpoint, FrameSink, Source, Transport } from './types';

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
  ) {
    this.bound = bind;
  }

  local(): Endpoint {
    return this.bound;
  }

  listen(): Promise<void> {
    const server = createServer((socket) => this.adopt(socket));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.bind.port, this.bind.address, () => {
        server.off('error', reject);
        server.on('error', (err) => this.sink.report({ kind: 'socket-error', reason: err.message }));
        const addr = server.address();
        if (addr && typeof addr === 'object') this.bound = { address: addr.address, port: addr.port };
        resolve();
      });
    });
  }

  private adopt(socket: Socket): void {
    const remote = { address: (socket.remoteAddress ?? '').replace(/^::ffff:/, ''), port: socket.remotePort ?? 0 };
    const id = key(remote.address, remote.port);
    this.connections.set(id, socket);
    const source: Source = { ...remote, transport: 'TCP', local: this.bound };
    const framer = new StreamFramer(this.maxMessageSize);
    socket.on('data', (chunk) => {
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
      if (this.connections.get(id) === socket) this.connections.delete(id);
    });
  }

  async send(data: Buffer, to: Endpoint): Promise<void> {
    let socket = this.connections.get(key(to.address, to.port));
    if (!socket || socket.destroyed) socket = await this.open(to);
    const open = socket;
    await new Promise<void>((resolve, reject) => open.write(data, (err) => (err ? reject(err) : resolve())));
  }

  private open(to: Endpoint): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: to.address, port: to.port, localAddress: this.bound.address });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        this.adopt(socket);
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
