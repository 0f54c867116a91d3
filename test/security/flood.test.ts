/**
 * Per-source limits against a real gateway process: SIPp floods INVITEs at 1,500 per second from
 * 127.0.0.66 while a user on 127.0.0.5 registers again and again with digest authentication. The
 * flood is refused (503) or dropped at the edge, logged in a few lines rather than one per packet,
 * and the user's REGISTERs all succeed, quickly.
 */
import { join } from 'node:path';
import { runPeer } from '../support/sip-peers';
import { newAccount, newTrunk, newUser } from '../calls/support';
import { optionsProbe } from './gateway-process';
import { GatewayProcess, startGatewayProcess } from './gateway-process';
import { registerClient } from './register-client';

const FLOOD_RATE = 1500;
const FLOOD_CALLS = 6000;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

describe('an INVITE flood from one address', () => {
  let gw: GatewayProcess;
  beforeAll(async () => {
    // The defaults of a public node: 50 requests per second per address.
    gw = await startGatewayProcess({ rtpMin: 47300, rtpMax: 47324 });
  }, 60_000);
  afterAll(() => gw?.stop(), 20_000);

  it('does not slow a user registering from another address', async () => {
    const calls = gw.asCallsGateway();
    const user = await newUser(calls, await newAccount(calls, '10.00'));
    const client = await registerClient(gw.sipPort, user, '127.0.0.5');
    const results: { status: number | undefined; reason: string; ms: number }[] = [];
    try {
      const flood = runPeer(
        'sipp',
        [`127.0.0.1:${gw.sipPort}`, '-sf', join(__dirname, 'scenarios', 'flood-invite.xml'), '-i', '127.0.0.66', '-p', '0', '-t', 'u1', '-m', String(FLOOD_CALLS), '-r', String(FLOOD_RATE), '-timeout', '20s', '-nostdin'],
        40_000,
      );
      let flooding = true;
      void flood.then(() => (flooding = false));
      // Let the flood get going, then register one after another for as long as it lasts.
      await new Promise((r) => setTimeout(r, 300));
      while (flooding && results.length < 200) {
        results.push(await client.register({ expires: 300 }));
        await new Promise((r) => setTimeout(r, 50));
      }
      const run = await flood;
      expect(run.code).toBe(0);
    } finally {
      await client.close();
    }
    const ms = results.map((r) => r.ms);
    const p50 = percentile(ms, 50);
    const p95 = percentile(ms, 95);
    console.log(`flood ${FLOOD_RATE}/s from 127.0.0.66: ${results.length} REGISTERs from 127.0.0.5, p50 ${p50.toFixed(1)} ms, p95 ${p95.toFixed(1)} ms, max ${Math.max(...ms).toFixed(1)} ms`);
    expect(results.length).toBeGreaterThanOrEqual(20);
    expect(results.filter((r) => r.status !== 200)).toEqual([]);
    // The issue's acceptance figure (issue 11, "A flood of 1,500 INVITEs per second from one address
    // must not slow a user on another: p95 under 200 ms"). Timed on a shared 2-core box, so this
    // bound is the acceptance criterion itself, not a benchmark.
    expect(p95).toBeLessThan(200);

    // The flood was turned away at the edge, and logged as a summary, not per packet.
    const limited = gw.logLines().filter((l) => l.msg === 'SIP source limited');
    expect(limited.length).toBeGreaterThanOrEqual(1);
    expect(limited.length).toBeLessThanOrEqual(5);
    expect(String(limited[0].reason)).toMatch(/over the per-source rate limit: \d+ requests answered 503 and \d+ packets dropped in \d+ s; most from 127\.0\.0\.66/);
    await gw.expectAlive();
  }, 90_000);
});

describe('trunk addresses get the trunk limit', () => {
  let gw: GatewayProcess;
  beforeAll(async () => {
    gw = await startGatewayProcess({ rtpMin: 47326, rtpMax: 47349, env: { SIP_RATE_LIMIT_PER_SECOND: '5', SIP_TRUNK_RATE_LIMIT_PER_SECOND: '1000' } });
  }, 60_000);
  afterAll(() => gw?.stop(), 20_000);

  /** 30 OPTIONS at once from `address`: how many got 200 and how many 503. */
  async function burst(address: string): Promise<{ ok: number; refused: number }> {
    const answers = await Promise.all(Array.from({ length: 30 }, () => optionsProbe(gw.sipPort, 3000, address)));
    return { ok: answers.filter((a) => a === 200).length, refused: answers.filter((a) => a === 503).length };
  }

  it("limits an unknown address to its rate, and a trunk's inbound address (set through the API) to the trunk's", async () => {
    const before = await burst('127.0.0.88');
    expect(before.ok).toBeLessThanOrEqual(6);
    expect(before.refused).toBeGreaterThan(0);
    await newTrunk(gw.asCallsGateway(), { port: 5999, inboundAddresses: ['127.0.0.88/32'] });
    // The trunk list is re-read at once on a change made through this node (checked every 2 s).
    await new Promise((r) => setTimeout(r, 3000));
    expect(await burst('127.0.0.88')).toEqual({ ok: 30, refused: 0 });
    const stranger = await burst('127.0.0.89');
    expect(stranger.ok).toBeLessThanOrEqual(6);
    await gw.expectAlive();
  });
});
