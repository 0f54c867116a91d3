/**
 * A real rtpengine (Debian rtpengine-daemon) for tests: userspace forwarding only (`--table=-1`,
 * no kernel module), RTP on 127.0.0.1 in the given port range, ng control on 127.0.0.1:ngPort, no
 * config file. Started by the test, answered a `ping` before it is used, stopped by the test, and
 * bounded anyway (`timeout` kills it when a test run dies without stopping it).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';

export interface Rtpengine {
  /** host:port for RTPENGINE_NG. */
  readonly ng: string;
  readonly ngPort: number;
  readonly portMin: number;
  readonly portMax: number;
  /** What rtpengine logged (stderr), for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

/** Seconds an rtpengine of a test may live at most. */
const LIFETIME_SECONDS = 900;

export async function startRtpengine(o: { ngPort: number; portMin: number; portMax: number; timeoutSeconds?: number }): Promise<Rtpengine> {
  const args = [
    '-s', 'KILL', String(LIFETIME_SECONDS),
    'rtpengine',
    '--config-file=none',
    '--interface=127.0.0.1',
    `--listen-ng=127.0.0.1:${o.ngPort}`,
    `--port-min=${o.portMin}`,
    `--port-max=${o.portMax}`,
    '--table=-1',
    '--foreground',
    '--log-stderr',
    '--log-level=5',
    `--timeout=${o.timeoutSeconds ?? 60}`,
    '--delete-delay=0',
  ];
  const child = spawn('timeout', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
  let exited: number | null | undefined;
  child.on('exit', (code) => (exited = code));
  const deadline = Date.now() + 5000;
  while (!(await pong(o.ngPort))) {
    if (exited !== undefined) throw new Error(`rtpengine exited (${exited}) at start:\n${log}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`rtpengine did not answer ping on 127.0.0.1:${o.ngPort} within 5 s:\n${log}`);
    }
  }
  return { ng: `127.0.0.1:${o.ngPort}`, ngPort: o.ngPort, portMin: o.portMin, portMax: o.portMax, log: () => log, stop: () => stop(child) };
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    // `timeout` passes SIGTERM on to rtpengine, which deletes its calls and exits.
    child.kill('SIGTERM');
  });
}

/** The ng control ports of the tests' rtpengines (127.0.0.1:22222–22230): the first one no socket holds. */
export async function freeNgPort(): Promise<number> {
  for (let port = 22222; port <= 22230; port++) {
    const free = await new Promise<boolean>((ok) => {
      const u = createSocket('udp4');
      u.once('error', () => ok(false));
      u.bind(port, '127.0.0.1', () => u.close(() => ok(true)));
    });
    if (free) return port;
  }
  throw new Error('every rtpengine ng port of the tests (127.0.0.1:22222-22230) is taken');
}

/** One ng ping (plain bencode, independent of the code under test); true on `pong`. */
function pong(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    const done = (ok: boolean) => {
      clearTimeout(timer);
      s.close();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 200);
    s.on('message', (m) => done(m.toString().includes('pong')));
    s.on('error', () => done(false));
    s.send('test-ping d7:command4:pinge', port, '127.0.0.1');
  });
}
