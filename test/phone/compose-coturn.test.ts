/**
 * docker-compose.yml's coturn service, run as written (its shell script, with Debian's coturn in
 * place of the image's): coturn takes every line of the configuration it writes (a line coturn
 * does not know is only a warning in its log, so a typo would silently weaken the relay), answers
 * STUN, and with the gateway's credentials still refuses to relay to a loopback peer, as the
 * service's peer rules intend. Only the listening address, pid and database files are moved for
 * the test (command-line options, which coturn applies over its configuration file).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { turnCredential } from '../../src/phone/turn-credentials';
import { freePort } from '../support/net';
import { runPeer } from '../support/sip-peers';
import { untilStunAnswers } from './coturn';

const SECRET = 'compose-coturn-secret-0123456789';

/** The `command: - |` script of the coturn service, as compose hands it to /bin/sh ($$ is $). */
function composeScript(): string {
  const compose = readFileSync(resolve(__dirname, '../../docker-compose.yml'), 'utf8');
  const service = compose.slice(compose.indexOf('\n  coturn:\n'));
  const m = /\n    command:\n      - \|\n([\s\S]*?)\n    restart:/.exec(service);
  if (!m) throw new Error('docker-compose.yml: no coturn command script found');
  return m[1]
    .split('\n')
    .map((l) => l.replace(/^ {8}/, ''))
    .join('\n')
    .replace(/\$\$/g, '$');
}

describe("docker-compose.yml's coturn service", () => {
  let dir: string;
  let coturn: ChildProcess;
  let log = '';
  let port: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gw-compose-coturn-'));
    port = await freePort();
    const script = composeScript()
      .replace(/\/tmp\/turnserver\.conf/g, join(dir, 'turnserver.conf'))
      .replace(/exec turnserver /, `exec turnserver --listening-ip=127.0.0.1 --listening-port=${port} --relay-ip=127.0.0.1 --pidfile=${join(dir, 'pid')} --userdb=${join(dir, 'db')} --no-tcp --no-tls --no-dtls `);
    coturn = spawn('/bin/sh', ['-c', script], {
      env: { PATH: process.env.PATH ?? '', TURN_SECRET: SECRET, TURN_REALM: 'turn.gateway.test', TURN_EXTERNAL_IP: '127.0.0.1', TURN_MIN_PORT: '53800', TURN_MAX_PORT: '53998' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (d: Buffer) => (log = (log + d.toString()).slice(-50_000));
    coturn.stdout!.on('data', keep);
    coturn.stderr!.on('data', keep);
    await untilStunAnswers(port, coturn, () => log);
  }, 20_000);

  afterAll(() => {
    coturn?.kill('SIGTERM');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('starts from the written configuration with no line coturn rejects, and keeps the secret off the command line', () => {
    expect(log.split('\n').filter((l) => /Bad configuration|unknown option|CONFIG ERROR: (?!Empty cli-password)/i.test(l))).toEqual([]);
    expect(composeScript()).not.toMatch(/turnserver[^\n]*static-auth-secret/);
  });

  it('refuses to relay to a loopback peer even for valid gateway credentials', async () => {
    const c = turnCredential(SECRET, 'alice', 600, Date.now());
    const run = await runPeer('turnutils_uclient', ['-p', String(port), '-u', c.username, '-w', c.credential, '-n', '2', '-m', '1', '-c', '-y', '-z', '10', '127.0.0.1'], 20_000);
    const received = /start_mclient: tot_send_bytes ~ \d+, tot_recv_bytes ~ (\d+)/.exec(run.stdout + run.stderr);
    expect(received === null || Number(received[1]) === 0).toBe(true);
    // The allocation succeeded (the credentials are good), then binding a channel to the loopback peer was refused.
    const output = run.stdout + run.stderr;
    expect(output).not.toMatch(/Cannot complete Allocation/);
    expect(log).not.toMatch(/Cannot find credentials of user <[^>]*alice>/);
    expect(output).toMatch(/error 403 \(Forbidden IP\)/);
  }, 30_000);
});
