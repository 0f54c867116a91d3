// Raw loopback peers for transport and transaction specs: they stand for a phone on the other side.
import { type Socket as UdpSocket, createSocket } from 'node:dgram';
import { type Socket, connect } from 'node:net';

export interface UdpPeer {
  readonly port: number;
  send(data: Buffer | string, port: number): Promise<void>;
  /** Resolves with the next datagram (waits at most `ms`, then rejects). */
  next(ms?: number): Promise<Buffer>;
  /** Every datagram received so far. */
  readonly received: Buffer[];
  close(): Promise<void>;
}

export async function udpPeer(): Promise<UdpPeer> {
  const socket: UdpSocket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  const received: Buffer[] = [];
  const waiters: Array<(b: Buffer) => void> = [];
  let consumed = 0;
  socket.on('message', (data) => {
    received.push(data);
    const waiter = waiters.shift();
    if (waiter) {
      consumed++;
      waiter(data);
    }
  });
  return {
    port: socket.address().port,
    received,
    send: (data, port) => new Promise((resolve, reject) => socket.send(typeof data === 'string' ? Buffer.from(data) : data, port, '127.0.0.1', (e) => (e ? reject(e) : resolve()))),
    next: (ms = 2000) =>
      new Promise((resolve, reject) => {
        if (consumed < received.length) {
          resolve(received[consumed++]);
          return;
        }
        const timer = setTimeout(() => reject(new Error('no datagram received')), ms);
        waiters.push((b) => {
          clearTimeout(timer);
          resolve(b);
        });
      }),
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}

export interface TcpPeer {
  readonly socket: Socket;
  /** Resolves once the received text contains `pattern` (or rejects after `ms`). */
  waitFor(pattern: RegExp, ms?: number): Promise<string>;
  closed(): Promise<void>;
  text(): string;
}

export async function tcpPeer(port: number): Promise<TcpPeer> {
  const socket = connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let text = '';
  socket.on('data', (d) => (text += d.toString('latin1')));
  socket.on('error', () => undefined);
  const ended = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  return {
    socket,
    text: () => text,
    closed: () => ended,
    waitFor: (pattern, ms = 2000) =>
      new Promise((resolve, reject) => {
        const started = Date.now();
        const poll = (): void => {
          if (pattern.test(text)) resolve(text);
          else if (Date.now() - started > ms) reject(new Error(`timed out waiting for ${pattern}; got ${JSON.stringify(text)}`));
          else setTimeout(poll, 5);
        };
        poll();
      }),
  };
}

export const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
