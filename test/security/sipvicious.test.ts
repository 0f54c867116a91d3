/**
 * SIPVicious against a real gateway process, as a scanner on the internet runs it: svwar enumerates
 * extensions (REGISTER, INVITE and OPTIONS), svcrack guesses a real user's password. No extension
 * may come out of svwar; svcrack's address must be shut out while the real user, from another
 * address, still registers. Also: password guessing spread over many addresses slows down per
 * username, and a digest computed for another Request-URI is refused.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../support/net';
import { runPeer } from '../support/sip-peers';
import { newAccount, newUser, type User } from '../calls/support';
import { GatewayProcess, startGatewayProcess } from './gateway-process';
import { registerClient } from './register-client';

const AUTH_FAIL_LIMIT = 6;
const AUTH_FAIL_USER_LIMIT = 12;

/**
 * Runs svwar or svcrack from `address`. Debian's SIPVicious 0.3.3 accepts -b but never passes it on
 * (its sockets bind 0.0.0.0, so loopback traffic leaves from 127.0.0.1): the launcher pins every
 * IPv4 bind to `address`, and -x puts the same address in its Via and Contact.
 */
const LAUNCHER = `
import os, runpy, shutil, socket, sys
tool, address = sys.argv[1], sys.argv[2]
script = os.path.realpath(shutil.which(tool))
sys.path.insert(0, os.path.dirname(script))
_bind = socket.socket.bind
def bind(self, addr):
    return _bind(self, (address, addr[1]) if self.family == socket.AF_INET else addr)
socket.socket.bind = bind
sys.argv = [tool] + sys.argv[3:]
runpy.run_path(script, run_name='__main__')
`;

async function sipvicious(tool: 'svwar' | 'svcrack', address: string, args: string[], sipPort: number, timeoutMs = 60_000): Promise<string> {
  const localPort = await freePort();
  // The tool's own interpreter (its #! line): the Python that has the sipvicious package.
  const python = readFileSync(execFileSync('which', [tool]).toString().trim(), 'utf8').split('\n')[0].replace(/^#!\s*/, '');
  const run = await runPeer(python, ['-c', LAUNCHER, tool, address, '-x', address, '-P', String(localPort), '-t', '0.05', '--maximumtime', '5', ...args, `udp://127.0.0.1:${sipPort}`], timeoutMs);
  return `${run.stdout}\n${run.stderr}`;
}

function file(lines: string[]): string {
  const path = join(mkdtempSync(join(tmpdir(), 'gw-svv-')), 'words.txt');
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

async function registers(gw: GatewayProcess, user: { username: string; password: string }, address: string): Promise<{ status: number | undefined; reason: string }> {
  const c = await registerClient(gw.sipPort, user, address);
  try {
    return await c.register();
  } finally {
    await c.close();
  }
}

describe('SIPVicious against the gateway process', () => {
  let gw: GatewayProcess;
  let user: User;
  beforeAll(async () => {
    gw = await startGatewayProcess({
      rtpMin: 47350,
      rtpMax: 47399,
      env: { SIP_AUTH_FAIL_LIMIT: String(AUTH_FAIL_LIMIT), SIP_AUTH_FAIL_USER_LIMIT: String(AUTH_FAIL_USER_LIMIT), SIP_AUTH_BLOCK_SECONDS: '120' },
    });
    const calls = gw.asCallsGateway();
    user = await newUser(calls, await newAccount(calls, '10.00'));
  }, 60_000);
  afterAll(() => gw?.stop(), 20_000);

  it.each(['REGISTER', 'INVITE', 'OPTIONS'])('svwar -m %s enumerates no extension, the real one included', async (method) => {
    const words = [user.username, 'alice', 'bob', '100', '1000', '2000', 'admin', 'test', `${user.username}x`, 'operator'];
    const out = await sipvicious('svwar', '127.0.0.31', ['-d', file(words), '-m', method, '--force'], gw.sipPort);
    // svwar prints a table of the extensions it found; "found nothing" is its all-clear.
    expect(out).not.toMatch(/\| Extension/);
    expect(out).toMatch(/found nothing/);
    expect(out).not.toMatch(/extension '[^']*' (exists|probably exists)/);
    await gw.expectAlive();
  }, 90_000);

  it("svcrack's address is shut out; the real user, from another address, still registers", async () => {
    const guesses = [...Array.from({ length: 30 }, (_, i) => `guess-${i}`), user.password];
    // Once refused (403 without a challenge), svcrack waits for a challenge that never comes; it is
    // stopped after 20 s, which is the point: the guessing is over.
    const out = await sipvicious('svcrack', '127.0.0.32', ['-u', user.username, '-d', file(guesses)], gw.sipPort, 20_000);
    expect(out).not.toContain(user.password);
    expect(out).not.toMatch(/\| Password/);
    expect(gw.log()).toMatch(/"source":"127\.0\.0\.32"[^\n]*SIP source refused after repeated authentication failures/);
    // The guessing address is refused from then on, even with the right password.
    expect(await registers(gw, user, '127.0.0.32')).toMatchObject({ status: 403, reason: 'Too Many Failed Authentications' });
    expect(await registers(gw, user, '127.0.0.33')).toMatchObject({ status: 200 });
    await gw.expectAlive();
  }, 120_000);

  it('guessing spread over many addresses is stopped per username; the address the user registers from is not locked out', async () => {
    const calls = gw.asCallsGateway();
    const victim = await newUser(calls, await newAccount(calls, '10.00'));
    expect(await registers(gw, victim, '127.0.0.40')).toMatchObject({ status: 200 });
    // One wrong guess from each of many addresses: no address reaches its own limit.
    const statuses: (number | undefined)[] = [];
    for (let i = 0; i < AUTH_FAIL_USER_LIMIT + 4; i++) statuses.push((await registers(gw, { ...victim, password: `wrong-${i}` }, `127.0.1.${i + 1}`)).status);
    expect(statuses.slice(0, AUTH_FAIL_USER_LIMIT)).toEqual(Array(AUTH_FAIL_USER_LIMIT).fill(401));
    expect(statuses.slice(AUTH_FAIL_USER_LIMIT)).toEqual([403, 403, 403, 403]);
    // Past the limit, even the right password from a new address is not checked...
    expect(await registers(gw, victim, '127.0.1.200')).toMatchObject({ status: 403 });
    // ...but the user's own address still works.
    expect(await registers(gw, victim, '127.0.0.40')).toMatchObject({ status: 200 });
    await gw.expectAlive();
  }, 60_000);

  it('refuses a REGISTER whose Authorization was computed for another Request-URI', async () => {
    const calls = gw.asCallsGateway();
    const other = await newUser(calls, await newAccount(calls, '10.00'));
    const c = await registerClient(gw.sipPort, other, '127.0.0.50');
    try {
      expect(await c.register({ digestUri: 'sip:elsewhere.invalid' })).toMatchObject({ status: 401 });
      // Equivalent forms of the Request-URI are the same resource (RFC 3261 §19.1.4).
      expect(await c.register({ requestUri: `sip:127.0.0.1:${gw.sipPort};transport=udp`, digestUri: `sip:127.0.0.1:${gw.sipPort}` })).toMatchObject({ status: 200 });
    } finally {
      await c.close();
    }
    expect(gw.log()).toMatch(/"reason":"uri-mismatch"/);
    await gw.expectAlive();
  });
});
