/**
 * Debian's coturn (`turnserver`) for the TURN tests, on 127.0.0.1 at a free port with
 * `use-auth-secret`: the same scheme as docker-compose.yml's service, but allowing loopback peers
 * (everything in these tests is on loopback; the compose service denies them). Relay ports: 53800-53998.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../support/net';
import { runPeer } from '../support/sip-peers';

/** True when a STUN Binding request to 127.0.0.1:port gets a Binding success response within 200 ms. */
export function stunAnswers(port: number): Promise<boolean> {
  const request = Buffer.concat([Buffer.from([0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42]), randomBytes(12)]);
  const socket = createSocket('udp4');
  return new Promise((ok) => {
    const done = (v: boolean) => {
      clearTimeout(timer);
      socket.close();
      ok(v);
    };
    const timer = setTimeout(() => done(false), 200);
    socket.on('error', () => done(false));
    socket.on('message', (m) => done(m.readUInt16BE(0) === 0x0101 && m.subarray(8, 20).equals(request.subarray(8, 20))));
    socket.send(request, port, '127.0.0.1');
  });
}

/** Waits until `port` answers STUN; fails with `log()` if `proc` exits or 10 s pass. */
export async function untilStunAnswers(port: number, proc: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await stunAnswers(port))) {
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`coturn did not start:\n${log().slice(-4000)}`);
  }
}

export interface Coturn {
  port: number;
  log(): string;
  stop(): void;
}

export async function startCoturn(secret: string): Promise<Coturn> {
  const dir = mkdtempSync(join(tmpdir(), 'gw-coturn-'));
  const port = await freePort();
  const conf = join(dir, 'turnserver.conf');
  writeFileSync(
    conf,
    [
      'listening-ip=127.0.0.1',
      `listening-port=${port}`,
      'relay-ip=127.0.0.1',
      'min-port=53800',
      'max-port=53998',
      'fingerprint',
      'use-auth-secret',
      `static-auth-secret=${secret}`,
      'realm=turn.gateway.test',
      'allow-loopback-peers',
      'no-tls',
      'no-dtls',
      'no-tcp',
      'no-cli',
      `pidfile=${join(dir, 'turnserver.pid')}`,
      `userdb=${join(dir, 'turndb')}`,
      'log-file=stdout',
    ].join('\n'),
    { mode: 0o600 },
  );
  const proc = spawn('turnserver', ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const keep = (d: Buffer) => (log = (log + d.toString()).slice(-50_000));
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  await untilStunAnswers(port, proc, () => log);
  return {
    port,
    log: () => log,
    stop: () => {
      proc.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Allocates two relays through coturn with these credentials and sends between them (turnutils_uclient -y). */
export async function relays(port: number, username: string, password: string): Promise<{ ok: boolean; output: string }> {
  const run = await runPeer('turnutils_uclient', ['-p', String(port), '-u', username, '-w', password, '-n', '2', '-m', '1', '-c', '-y', '-z', '10', '127.0.0.1'], 20_000);
  const output = run.stdout + run.stderr;
  const received = /start_mclient: tot_send_bytes ~ \d+, tot_recv_bytes ~ (\d+)/.exec(output);
  return { ok: run.code === 0 && received !== null && Number(received[1]) > 0, output: output.slice(-2000) };
}
