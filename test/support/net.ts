/** Loopback ports for the SIP and HTTP endpoints of a test. */
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';

/** A port free for both TCP and UDP on 127.0.0.1 (the gateway binds both for SIP). */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((ok, fail) => {
      const s = createServer();
      s.once('error', fail);
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => ok(p));
      });
    });
    const udpFree = await new Promise<boolean>((ok) => {
      const u = createSocket('udp4');
      u.once('error', () => ok(false));
      u.bind(port, '127.0.0.1', () => u.close(() => ok(true)));
    });
    if (udpFree) return port;
  }
  throw new Error('no free port found on 127.0.0.1');
}

/** Polls `check` every `everyMs` until it returns a value, or throws after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 10_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
