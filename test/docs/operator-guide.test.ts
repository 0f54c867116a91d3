/**
 * docs/operator-guide.md, followed as written: every ```sh step``` block runs, in order, in one bash
 * session (so the guide's variables and helpers carry from step to step, as in a newcomer's
 * terminal) against a real gateway process (`node dist/src/main.js`); the JSON the step prints last
 * must match the ```json response``` block under it. Before section 8 ("The first call"), the call
 * is placed as the guide says: SIPp registers nothing but dials +13125550123 as alice with her
 * password (the softphone), and another SIPp answers as the carrier at the trunk's host and port.
 *
 * What the test supplies is what the guide's section 0 tells the reader to set: GW, AUTH (the admin
 * key), TRUNK_HOST and TRUNK_PORT. Ports: gateway RTP 63000-63099, the test's RTP peers 63400-63403.
 */
import { ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { answered, expectSuccess, sippClient, sippServer, waitForCdrs } from '../calls/support';
import { UdpPeer } from '../media/udp-peer';
import { GatewayProcess, startGatewayProcess } from '../security/gateway-process';
import { ADMIN_KEY } from '../support/env';
import { freePort } from '../support/net';

const GUIDE = resolve(__dirname, '../../docs/operator-guide.md');

export interface GuideStep {
  /** The heading the step is under, e.g. "8. The first call". */
  section: string;
  code: string;
  expected?: unknown;
}

/** The guide's runnable steps: fenced blocks with the info string `sh step`, each with the `json response` block after it. */
export function guideSteps(markdown: string): GuideStep[] {
  const steps: GuideStep[] = [];
  let section = '';
  const fence = /^## (.+)$|^```([^\n]*)\n([\s\S]*?)^```$/gm;
  for (const m of markdown.matchAll(fence)) {
    if (m[1] !== undefined) {
      section = m[1].trim();
      continue;
    }
    const info = m[2].trim();
    if (info === 'sh step') steps.push({ section, code: m[3] });
    if (info === 'json response') {
      const last = steps[steps.length - 1];
      if (!last || last.expected !== undefined) throw new Error(`a json response block without its sh step in "${section}"`);
      last.expected = JSON.parse(m[3]);
    }
  }
  return steps;
}

/** `expected`'s fields hold in `actual`; an expected array matches the first elements of the actual one. */
function mismatches(actual: unknown, expected: unknown, at = '$'): string[] {
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return [`${at}: expected an array, got ${JSON.stringify(actual)}`];
    return expected.flatMap((e, i) => mismatches(actual[i], e, `${at}[${i}]`));
  }
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object') return [`${at}: expected an object, got ${JSON.stringify(actual)}`];
    return Object.entries(expected).flatMap(([k, v]) => mismatches((actual as Record<string, unknown>)[k], v, `${at}.${k}`));
  }
  return actual === expected ? [] : [`${at}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`];
}

/** One bash process fed step by step on stdin: state carries over; a failing command is reported by the ERR trap. */
class Shell {
  private out = '';
  private readonly proc: ChildProcessWithoutNullStreams;
  private static readonly END = '::end-of-step';

  constructor(env: Record<string, string>, cwd: string) {
    this.proc = spawn('bash', ['--noprofile', '--norc'], { env: { PATH: process.env.PATH ?? '', HOME: cwd, ...env }, cwd });
    this.proc.stdout.on('data', (d: Buffer) => (this.out += d.toString()));
    this.proc.stderr.on('data', (d: Buffer) => (this.out += d.toString()));
    this.proc.stdin.write(`set -E -o pipefail\ntrap 'echo "::failed (exit $?): $BASH_COMMAND"' ERR\n`);
  }

  async run(code: string, timeoutMs = 30_000): Promise<string> {
    this.out = '';
    this.proc.stdin.write(`${code}\necho ${Shell.END}\n`);
    const deadline = Date.now() + timeoutMs;
    while (!this.out.includes(Shell.END)) {
      if (this.proc.exitCode !== null) throw new Error(`bash exited (${this.proc.exitCode}):\n${this.out}`);
      if (Date.now() > deadline) throw new Error(`step did not finish within ${timeoutMs} ms:\n${this.out}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.out.slice(0, this.out.indexOf(Shell.END));
  }

  close(): void {
    this.proc.stdin.end();
    this.proc.kill();
  }
}

const lastJson = (output: string): unknown => {
  const lines = output.split('\n').filter((l) => l.startsWith('{') || l.startsWith('['));
  if (!lines.length) return undefined;
  return JSON.parse(lines[lines.length - 1]);
};

describe('docs/operator-guide.md, followed step by step', () => {
  let gw: GatewayProcess;
  let shell: Shell;
  const peers: UdpPeer[] = [];
  let trunkPort: number;

  beforeAll(async () => {
    gw = await startGatewayProcess({ rtpMin: 63000, rtpMax: 63099 });
    trunkPort = await freePort();
    shell = new Shell(
      { GW: `http://127.0.0.1:${gw.httpPort}`, AUTH: `Authorization: Bearer ${ADMIN_KEY}`, TRUNK_HOST: '127.0.0.1', TRUNK_PORT: String(trunkPort) },
      mkdtempSync(join(tmpdir(), 'gw-guide-')),
    );
  }, 60_000);

  afterAll(async () => {
    shell?.close();
    // The guide's catch-all route would send the next test files' calls to its (gone) trunk.
    if (gw) {
      const routes = (await gw.t.http().get('/v1/routes?limit=1000').expect(200)).body.data as { id: string; trunkId: string }[];
      const trunks = (await gw.t.http().get('/v1/trunks?limit=1000').expect(200)).body.data as { id: string; name: string }[];
      const guideTrunk = trunks.find((t) => t.name === 'carrier-a');
      for (const r of routes.filter((x) => x.trunkId === guideTrunk?.id)) await gw.t.http().delete(`/v1/routes/${r.id}`).expect(204);
      await gw.stop();
    }
    await Promise.all(peers.map((p) => p.close()));
  });

  it('has runnable steps with their expected answers, and the softphone credentials the call uses', () => {
    const text = readFileSync(GUIDE, 'utf8');
    const steps = guideSteps(text);
    expect(steps.length).toBeGreaterThanOrEqual(10);
    expect(steps.filter((s) => s.expected === undefined)).toEqual([]);
    expect(steps.some((s) => s.section.startsWith('8.'))).toBe(true);
    expect(text).toContain('\\"username\\":\\"alice\\",\\"password\\":\\"correct-horse-battery\\"');
    expect(text).toContain('/dial +13125550123');
  });

  it('works from the first step to the first billed call', async () => {
    const steps = guideSteps(readFileSync(GUIDE, 'utf8'));
    let called = false;
    for (const step of steps) {
      if (step.section.startsWith('8.') && !called) {
        await firstCall();
        called = true;
      }
      const output = await shell.run(step.code);
      const where = `step under "${step.section}":\n${step.code}\noutput:\n${output}`;
      if (output.includes('::failed')) throw new Error(`a command failed in the ${where}`);
      const problems = mismatches(lastJson(output), step.expected);
      if (problems.length) throw new Error(`${problems.join('\n')}\nin the ${where}`);
    }
    expect(called).toBe(true);

    // The call was billed as the guide's deck says: prefix 1 at 0.010000/min in 6 s increments.
    const user = (await gw.t.http().get('/v1/users?username=alice').expect(200)).body.data[0];
    const [cdr] = await waitForCdrs(gw.asCallsGateway(), { userId: user.id }, 1);
    expect(cdr).toMatchObject({ status: 'rated', disposition: 'answered', ratePrefix: '1', ratePerMinute: '0.010000', currency: 'USD' });
    expect(cdr.billableSeconds % 6).toBe(0);
    const account = (await gw.t.http().get(`/v1/accounts/${user.accountId}`).expect(200)).body;
    expect(account.balance).not.toBe('20.000000');
    // The HTTP log (pino-http through nestjs-pino) has a line per request, with its id, as before.
    const requestLine = gw.logLines().find((l) => (l.req as { url?: string } | undefined)?.url === '/v1/rating/quote');
    expect(requestLine).toMatchObject({ msg: 'request completed', res: { statusCode: 200 } });
    expect(typeof (requestLine!.req as { id?: unknown }).id).toBe('string');
    await gw.expectAlive();
  }, 120_000);

  /** Section 8: alice's phone dials +13125550123; the carrier at TRUNK_HOST:TRUNK_PORT answers. */
  async function firstCall(): Promise<void> {
    const [phoneRtp, carrierRtp] = await Promise.all([UdpPeer.open(63400), UdpPeer.open(63402)]);
    peers.push(phoneRtp, carrierRtp);
    const user = (await gw.t.http().get('/v1/users?username=alice').expect(200)).body.data[0];
    const calls = gw.asCallsGateway();
    const carrier = await sippServer({ scenario: 'uas-answer.xml', port: trunkPort, vars: { rtp: carrierRtp.port }, pauseMs: 200 });
    const phone = sippClient(calls, {
      scenario: 'uac-answered.xml',
      dialled: '+13125550123',
      from: 'alice',
      user: { id: user.id, username: 'alice', password: 'correct-horse-battery', accountId: user.accountId },
      rtp: phoneRtp.port,
      pauseMs: 2000,
    });
    await Promise.all([answered(phone), answered(carrier)]);
    await expectSuccess(phone, 'alice’s phone');
    await expectSuccess(carrier, 'the carrier');
  }
});
