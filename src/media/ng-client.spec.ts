/**
 * The ng client against fake rtpengines: UDP sockets on 127.0.0.1 that answer (or not) as the test
 * says. Real sockets, no timers faked.
 */
import { createSocket, type Socket } from 'node:dgram';
import { bdecode, bencode } from './bencode';
import { NgClient, NgTimeoutError } from './ng-client';

interface FakeEngine {
  port: number;
  /** Cookies of the commands received, in order (retransmissions included). */
  cookies: string[];
  socket: Socket;
}

async function fakeEngine(answer: (command: string, count: number) => boolean): Promise<FakeEngine> {
  const socket = createSocket('udp4');
  const engine: FakeEngine = { port: 0, cookies: [], socket };
  socket.on('message', (m, from) => {
    const space = m.indexOf(0x20);
    const cookie = m.toString('latin1', 0, space);
    engine.cookies.push(cookie);
    const { command } = bdecode(m, space + 1) as { command: string };
    if (answer(command, engine.cookies.length)) socket.send(Buffer.concat([Buffer.from(`${cookie} `), bencode({ result: 'ok', echo: command })]), from.port, from.address);
  });
  await new Promise<void>((ok) => socket.bind(0, '127.0.0.1', () => ok()));
  engine.port = socket.address().port;
  return engine;
}

describe('NgClient', () => {
  const engines: FakeEngine[] = [];
  const clients: NgClient[] = [];
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
    for (const e of engines.splice(0)) e.socket.close();
  });
  const start = async (answer: (command: string, count: number) => boolean) => {
    const e = await fakeEngine(answer);
    engines.push(e);
    return e;
  };
  const client = (ports: number[], timeoutMs = 300) => {
    const strays: string[] = [];
    const c = new NgClient({ engines: ports.map((port) => ({ host: '127.0.0.1', port })), timeoutMs, onStray: (_f, why) => strays.push(why) });
    clients.push(c);
    return { c, strays };
  };

  it('retransmits a command with the same cookie until rtpengine answers', async () => {
    const e = await start((_c, n) => n >= 2); // the first datagram is "lost"
    const { c } = client([e.port], 600);
    await expect(c.send({ host: '127.0.0.1', port: e.port }, 'offer')).resolves.toEqual({ result: 'ok', echo: 'offer' });
    expect(e.cookies.length).toBeGreaterThanOrEqual(2);
    expect(new Set(e.cookies).size).toBe(1);
  });

  it('times out with NgTimeoutError after three sends, and marks the engine down for the next pick', async () => {
    const silent = await start(() => false);
    const live = await start(() => true);
    const { c } = client([silent.port, live.port]);
    const first = c.pick()!;
    expect(first.port).toBe(silent.port);
    await expect(c.send(first, 'offer')).rejects.toBeInstanceOf(NgTimeoutError);
    expect(silent.cookies).toHaveLength(3);
    // Down for a while: every new call now goes to the live one.
    expect([c.pick()!.port, c.pick()!.port, c.pick()!.port]).toEqual([live.port, live.port, live.port]);
  });

  it('spreads new calls round robin over the engines that answer', async () => {
    const a = await start(() => true);
    const b = await start(() => true);
    const { c } = client([a.port, b.port]);
    expect([c.pick()!.port, c.pick()!.port, c.pick()!.port, c.pick()!.port]).toEqual([a.port, b.port, a.port, b.port]);
  });

  it('ignores garbage and replies with unknown cookies, and still gets its own reply', async () => {
    const e = await start((_c, n) => n >= 2);
    const { c, strays } = client([e.port], 900);
    const pending = c.send({ host: '127.0.0.1', port: e.port }, 'query');
    await new Promise((r) => setTimeout(r, 50));
    const port = c.localPort!;
    const junk = createSocket('udp4');
    for (const d of ['garbage', 'abcdef d6:result2:oke', '\u0000\u0001', 'x'.repeat(2000)]) junk.send(d, port, '127.0.0.1');
    await expect(pending).resolves.toMatchObject({ result: 'ok' });
    // The junk may still be in flight when the reply lands: wait for it (bounded), then count.
    for (let i = 0; i < 50 && strays.length < 4; i++) await new Promise((r) => setTimeout(r, 20));
    junk.close();
    expect(strays.length).toBeGreaterThanOrEqual(4);
  });
});
