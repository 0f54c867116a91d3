/**
 * The TURN credentials the gateway issues work with a real TURN server: Debian's coturn with
 * `use-auth-secret` and the same secret as TURN_SECRET (what docker-compose.yml's coturn service
 * runs) allocates relays for them, and refuses a tampered or an expired one. coturn's own client
 * (turnutils_uclient) allocates two relays and sends packets between them (-y), on loopback.
 * Relay ports: 53800-53998 (this test's part of the browser tests' range).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { turnCredential } from '../../src/phone/turn-credentials';
import { newAccount, newUser, startCallsGateway, type CallsGateway } from '../calls/support';
import { freePort } from '../support/net';
import { runPeer } from '../support/sip-peers';

const SECRET = 'coturn-test-secret-0123456789abcdef';

/** True when a STUN Binding request to 127.0.0.1:port gets a Binding success response within 200 ms. */
function stunAnswers(port: number): Promise<boolean> {
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

/** Allocates through coturn with these credentials; true when packets went through the relays. */
async function relays(port: number, username: string, password: string): Promise<{ ok: boolean; output: string }> {
  const run = await runPeer('turnutils_uclient', ['-p', String(port), '-u', username, '-w', password, '-n', '2', '-m', '1', '-c', '-y', '-z', '10', '127.0.0.1'], 20_000);
  const output = run.stdout + run.stderr;
  const received = /start_mclient: tot_send_bytes ~ \d+, tot_recv_bytes ~ (\d+)/.exec(output);
  return { ok: run.code === 0 && received !== null && Number(received[1]) > 0, output: output.slice(-2000) };
}

describe('gateway-issued TURN credentials against Debian coturn (use-auth-secret)', () => {
  let dir: string;
  let coturn: ChildProcess;
  let coturnLog = '';
  let turnPort: number;
  let gw: CallsGateway;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gw-coturn-'));
    turnPort = await freePort();
    const conf = join(dir, 'turnserver.conf');
    writeFileSync(
      conf,
      [
        'listening-ip=127.0.0.1',
        `listening-port=${turnPort}`,
        'relay-ip=127.0.0.1',
        'min-port=53800',
        'max-port=53998',
        'fingerprint',
        'use-auth-secret',
        `static-auth-secret=${SECRET}`,
        'realm=turn.gateway.test',
        // Only for this loopback test; the compose service denies loopback and private peers.
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
    coturn = spawn('turnserver', ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    coturn.stdout!.on('data', (d: Buffer) => (coturnLog = (coturnLog + d.toString()).slice(-20_000)));
    coturn.stderr!.on('data', (d: Buffer) => (coturnLog = (coturnLog + d.toString()).slice(-20_000)));
    const deadline = Date.now() + 10_000;
    while (!(await stunAnswers(turnPort))) {
      if (Date.now() > deadline || coturn.exitCode !== null) throw new Error(`coturn did not start:\n${coturnLog}`);
    }
    gw = await startCallsGateway({ rtpMin: 53700, rtpMax: 53798, env: { TURN_URLS: `turn:127.0.0.1:${turnPort}?transport=udp`, TURN_SECRET: SECRET, TURN_TTL_SECONDS: '600' } });
  }, 30_000);

  afterAll(async () => {
    coturn?.kill('SIGTERM');
    await gw?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('relays for the credentials a logged-in user gets, and refuses tampered and expired ones', async () => {
    const u = await newUser(gw, await newAccount(gw));
    const r = await gw.t.http(null).post('/phone/turn-credentials').send({ username: u.username, password: u.password }).expect(200);
    const [turn] = r.body.iceServers as { urls: string[]; username: string; credential: string }[];
    expect(turn.urls).toEqual([`turn:127.0.0.1:${turnPort}?transport=udp`]);

    const good = await relays(turnPort, turn.username, turn.credential);
    expect(good.ok ? "" : `${good.output}\n--- coturn ---\n${coturnLog.slice(-3000)}`).toBe("");

    const tampered = await relays(turnPort, turn.username.replace(/^\d+/, (s) => String(Number(s) + 86400)), turn.credential);
    expect(tampered.ok).toBe(false);
    expect(tampered.output).toMatch(/Cannot complete Allocation/);

    const expired = turnCredential(SECRET, u.username, 60, Date.now() - 3_600_000);
    const late = await relays(turnPort, expired.username, expired.credential);
    expect(late.ok).toBe(false);
    expect(coturnLog).not.toContain(u.password);
  }, 60_000);
});
