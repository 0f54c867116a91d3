// Owns the UDP transport (RFC 3261 §18): one datagram is one message. Parsing, NAT handling and
// retransmission belong to the layers above. Must not import anything outside src/sip.
import { type Socket, createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { Endpoint, FrameSink, Transport } from './types';

export class UdpTransport implements Transport {
  readonly name = 'UDP' as const;
  private socket?: Socket;
  private bound: Endpoint;

  constructor(
    private readonly bind: Endpoint,
    private readonly sink: FrameSink,
  ) {
    this.bound = bind;
  }

  local(): Endpoint {
    return this.bound;
  }

  listen(): Promise<void> {
    const socket = createSocket({ type: isIPv6(this.bind.address) ? 'udp6' : 'udp4' });
    this.socket = socket;
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(this.bind.port, this.bind.address, () => {
        socket.off('error', reject);
        // After start-up a socket error must not crash the process: report it and keep serving.
        socket.on('error', (err) => this.sink.report({ kind: 'socket-error', reason: err.message }));
        const addr = socket.address();
        this.bound = { address: addr.address, port: addr.port };
        socket.on('message', (data, rinfo) =>
          this.sink.frame(data, { address: rinfo.address, port: rinfo.port, transport: 'UDP', local: this.bound }),
        );
        resolve();
      });
    });
  }

  send(data: Buffer, to: Endpoint): Promise<void> {
    // UDP has no connection to reuse or open: SendOptions.connect does not apply.
    const socket = this.socket;
    if (!socket) return Promise.reject(new Error('UDP transport is not listening'));
    return new Promise((resolve, reject) => socket.send(data, to.port, to.address, (err) => (err ? reject(err) : resolve())));
  }

  close(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (!socket) return Promise.resolve();
    return new Promise((resolve) => socket.close(() => resolve()));
  }
}
